/**
 * Text through a Hugging Face `tokenizer.json`, so a model trained with a standard tokenizer
 * (BERT's WordPiece, GPT-2's byte-level BPE, SentencePiece's Unigram) is fed the ids it was
 * trained with. `@huggingface/tokenizers` runs the file's normaliser, pre-tokenizer, model and
 * post-processor; it pads and truncates nothing, so this does both as the file says: truncation
 * keeps the special tokens and cuts the text (from the right unless the file says left), and
 * padding fills the model's fixed length with the file's pad id.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { InputError } from '../errors';
import type { EncodedText } from './tokenizer';

/** The parts of tokenizer.json read here beyond what the library reads. */
interface TokenizerJson {
  readonly model?: { readonly type?: string; readonly unk_token?: string };
  readonly truncation?: { readonly max_length?: number; readonly direction?: string } | null;
  readonly padding?: { readonly pad_id?: number; readonly pad_token?: string } | null;
}

/** Pad tokens of the common vocabularies, tried in order when the file names none. */
const PAD_TOKENS = ['[PAD]', '<pad>', '<|pad|>', '<|endoftext|>'];

export class HuggingFaceTokenizer {
  /** Id written into padding positions. */
  readonly padId: number;
  /** Longest sequence, special tokens included. */
  readonly maxLength: number;
  private readonly tokenizer: HfTokenizer;
  private readonly vocab: ReadonlyMap<string, number>;
  private readonly unkId: number | undefined;
  private readonly specials: number;
  private readonly keepEnd: boolean;

  /**
   * @param json the parsed tokenizer.json
   * @param modelLength the fixed length of the model's token-id input
   * @param source where the file came from, for messages
   */
  constructor(json: Record<string, unknown>, modelLength: number, source = 'tokenizer.json') {
    const file = json as TokenizerJson;
    if (typeof file.model !== 'object' || typeof file.model.type !== 'string') {
      throw new InputError(
        `${source} is not a Hugging Face tokenizer.json: it has no "model" with a "type" (WordPiece, BPE, Unigram, WordLevel)`,
      );
    }
    try {
      this.tokenizer = new HfTokenizer(json, {});
    } catch (cause) {
      throw new InputError(`${source} cannot be loaded: ${(cause as Error).message}`, { cause });
    }
    this.vocab = this.tokenizer.get_vocab(true);
    const unk = file.model.unk_token;
    this.unkId = unk === undefined ? undefined : this.vocab.get(unk);
    const padToken = file.padding?.pad_token;
    const padId =
      file.padding?.pad_id ??
      (padToken === undefined ? undefined : this.vocab.get(padToken)) ??
      PAD_TOKENS.map((token) => this.vocab.get(token)).find((id) => id !== undefined);
    if (padId === undefined) {
      throw new InputError(
        `${source} names no padding token (padding.pad_id) and has none of ${PAD_TOKENS.join(', ')}; the model's fixed length needs one`,
      );
    }
    this.padId = padId;
    this.maxLength = Math.min(modelLength, file.truncation?.max_length ?? modelLength);
    this.keepEnd = file.truncation?.direction === 'Left';
    this.specials = this.withSpecialTokens([]).length;
    if (this.specials >= this.maxLength) {
      throw new InputError(
        `${source} adds ${this.specials} special tokens, leaving no room for text in ${this.maxLength} positions`,
      );
    }
  }

  private withSpecialTokens(tokens: string[]): string[] {
    const post = this.tokenizer.post_processor;
    return post === null ? tokens : post.post_process(tokens, null, true).tokens;
  }

  private idOf(token: string): number {
    const id = this.vocab.get(token) ?? this.unkId;
    if (id === undefined)
      throw new InputError(`token ${JSON.stringify(token)} has no id and the tokenizer has no unknown token`);
    return id;
  }

  /** Encodes one text to `maxLength` ids (special tokens included, then padding) and its mask. */
  encode(text: string, length = this.maxLength): EncodedText {
    const budget = this.maxLength - this.specials;
    const content = this.tokenizer.tokenize(text, { add_special_tokens: false });
    const kept =
      content.length <= budget
        ? content
        : this.keepEnd
          ? content.slice(content.length - budget)
          : content.slice(0, budget);
    const tokens = this.withSpecialTokens(kept);
    const ids = new Int32Array(length).fill(this.padId);
    const mask = new Int32Array(length);
    tokens.forEach((token, i) => {
      ids[i] = this.idOf(token);
      mask[i] = 1;
    });
    return { ids, mask, length: tokens.length };
  }
}
