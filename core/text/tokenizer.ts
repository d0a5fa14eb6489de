/**
 * The text models' tokenizer. It must reproduce the training recipe's token ids exactly (a test
 * checks hundreds of emails against ids the recipe wrote), so its rules are deliberately simple and
 * defined on ASCII only: lowercasing touches A–Z alone and every non-ASCII character separates
 * tokens. That keeps Python's code-point strings and JavaScript's UTF-16 strings in agreement.
 */
import type { AsciiTokenizerSpec } from '../model/model-spec';

export interface EncodedText {
  /** Token ids padded to `maxLength`; position 0 is the classification token. */
  readonly ids: Int32Array;
  /** 1 for real positions, 0 for padding. */
  readonly mask: Int32Array;
  /** Number of real positions (classification token included). */
  readonly length: number;
}

const CODE_A = 65;
const CODE_Z = 90;
const CODE_LOWER_A = 97;
const CODE_LOWER_Z = 122;
const CODE_0 = 48;
const CODE_9 = 57;
const ASCII_CASE_OFFSET = 32;

function isWordCode(code: number): boolean {
  return (code >= CODE_LOWER_A && code <= CODE_LOWER_Z) || (code >= CODE_0 && code <= CODE_9);
}

/** Splits text into lowercased ASCII word tokens: maximal runs of [a-z0-9] after A–Z lowercasing. */
export function splitWords(text: string, limit = Number.POSITIVE_INFINITY): string[] {
  const words: string[] = [];
  let current = '';
  for (let i = 0; i < text.length && words.length < limit; i++) {
    let code = text.charCodeAt(i);
    if (code >= CODE_A && code <= CODE_Z) code += ASCII_CASE_OFFSET;
    if (isWordCode(code)) {
      current += String.fromCharCode(code);
    } else if (current.length > 0) {
      words.push(current);
      current = '';
    }
  }
  if (current.length > 0 && words.length < limit) words.push(current);
  return words;
}

/** A tokenizer bound to one vocabulary; build it once per model and reuse it for every request. */
export class Tokenizer {
  private readonly ids: ReadonlyMap<string, number>;

  constructor(readonly spec: AsciiTokenizerSpec) {
    this.ids = new Map(spec.vocab.map((token, id) => [token, id]));
  }

  /** Encodes one text to the fixed-length ids and mask the model's inputs expect. */
  encode(text: string): EncodedText {
    const { maxLength, padId, unkId, clsId } = this.spec;
    const ids = new Int32Array(maxLength).fill(padId);
    const mask = new Int32Array(maxLength);
    ids[0] = clsId;
    mask[0] = 1;
    const words = splitWords(text, maxLength - 1);
    words.forEach((word, index) => {
      ids[index + 1] = this.ids.get(word) ?? unkId;
      mask[index + 1] = 1;
    });
    return { ids, mask, length: words.length + 1 };
  }
}
