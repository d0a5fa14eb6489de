/**
 * Where the committed generative fixture lives. Decoder models sit under `zoo/generative/`, apart
 * from `zoo/models/`, because everything that lists the classifier fixtures reads their
 * `model.json` with the classifier schema.
 */
import { resolve } from 'node:path';

export const ZOO_GENERATIVE_DIR = resolve(__dirname, '..', '..', 'zoo', 'generative');

/** The byte-level GPT trained on Moby-Dick by `zoo/recipes/moby_gpt.py`, with its ramps. */
export const MOBY_GPT_DIR = resolve(ZOO_GENERATIVE_DIR, 'moby-gpt');
