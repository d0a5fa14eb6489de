// Replays the exported zoo models with onnxruntime-node (the runtime the server uses) and checks
// them against what the Python recipes recorded:
//   - model.json sha256 matches model.onnx, inputs/outputs match the graph's names;
//   - logits for the reference inputs written by the recipe (see common.write_reference) match the
//     torch eval-mode logits;
//   - the graph runs at several batch sizes (dynamic batch axis);
//   - top-1 accuracy over the whole serving split matches model.json servingAccuracy;
//   - for spam-bert, an independent JavaScript implementation of the ascii-words tokenizer
//     reproduces token-ids-sample.json exactly.
//
// Usage (repository root): node zoo/recipes/verify-onnx.mjs [mnist-resnet] [spam-bert]

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import ort from 'onnxruntime-node';

const zoo = dirname(dirname(fileURLToPath(import.meta.url)));
const modelsDir = process.env.ZOO_MODELS_DIR || join(zoo, 'models');
const verifyDir = process.env.ZOO_VERIFY_DIR || join(tmpdir(), 'apparate-zoo-verify');
let failures = 0;

function check(ok, message) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures += 1;
}

function argmax(data, offset, n) {
  let best = 0;
  for (let c = 1; c < n; c++) if (data[offset + c] > data[offset + best]) best = c;
  return best;
}

function tensor(dtype, data, shape) {
  return dtype === 'int64'
    ? new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(v)), shape)
    : new ort.Tensor('float32', Float32Array.from(data), shape);
}

async function openModel(name) {
  const dir = join(modelsDir, name);
  const spec = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const bytes = readFileSync(join(dir, spec.file));
  check(createHash('sha256').update(bytes).digest('hex') === spec.sha256, `${name}: sha256 matches model.json`);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2 });
  check(
    JSON.stringify(session.inputNames) === JSON.stringify(spec.inputs.map((i) => i.name)),
    `${name}: graph inputs ${session.inputNames.join(', ')}`,
  );
  check(
    JSON.stringify(session.outputNames) === JSON.stringify(spec.outputs.map((o) => o.name)),
    `${name}: graph outputs ${session.outputNames.join(', ')}`,
  );
  return { dir, spec, session };
}

async function compareReference(name, session, numClasses) {
  const path = join(verifyDir, `${name}.json`);
  if (!existsSync(path)) {
    console.log(`skip ${name}: no reference logits at ${path} (written by the recipe)`);
    return;
  }
  const ref = JSON.parse(readFileSync(path, 'utf8'));
  const feeds = {};
  for (const [k, v] of Object.entries(ref.inputs)) feeds[k] = tensor(v.dtype, v.data, v.shape);
  const out = (await session.run(feeds)).logits.data;
  let maxDiff = 0;
  let agree = 0;
  const n = ref.logits.shape[0];
  for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - ref.logits.data[i]));
  for (let r = 0; r < n; r++) if (argmax(out, r * numClasses, numClasses) === argmax(ref.logits.data, r * numClasses, numClasses)) agree++;
  check(maxDiff < 1e-3, `${name}: onnxruntime vs torch logits on ${n} reference inputs, max |diff| = ${maxDiff.toExponential(2)}`);
  check(agree === n, `${name}: top-1 agrees on ${agree}/${n} reference inputs`);
}

/** Runs rows [0, count) in batches; makeFeeds(start, end) builds the feeds. Returns predictions. */
async function predictAll(session, count, batch, numClasses, makeFeeds) {
  const preds = new Int32Array(count);
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch);
    const logits = (await session.run(makeFeeds(start, end))).logits;
    if (logits.dims[0] !== end - start || logits.dims[1] !== numClasses) throw new Error(`bad logits shape ${logits.dims}`);
    for (let r = 0; r < end - start; r++) preds[start + r] = argmax(logits.data, r * numClasses, numClasses);
  }
  return preds;
}

function reportAccuracy(name, spec, preds, labels) {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (preds[i] === labels[i]) correct++;
  const acc = correct / labels.length;
  const diff = Math.abs(acc - spec.servingAccuracy) * labels.length;
  check(
    labels.length === spec.servingSamples && diff <= 2,
    `${name}: onnxruntime serving accuracy ${acc.toFixed(4)} (${correct}/${labels.length}), model.json says ${spec.servingAccuracy.toFixed(4)}`,
  );
}

async function verifyMnist() {
  const name = 'mnist-resnet';
  const { spec, session } = await openModel(name);
  await compareReference(name, session, 10);
  const data = join(zoo, 'data', 'mnist');
  const images = gunzipSync(readFileSync(join(data, 'serving-images.u8.gz')));
  const labels = readFileSync(join(data, 'serving-labels.u8'));
  const px = 28 * 28;
  const scale = spec.preprocessing.scale;
  const feeds = (start, end) => {
    const x = new Float32Array((end - start) * px);
    for (let i = 0; i < x.length; i++) x[i] = images[start * px + i] * scale;
    return { pixels: new ort.Tensor('float32', x, [end - start, 1, 28, 28]) };
  };
  for (const b of [1, 3, 17]) await predictAll(session, b, b, 10, feeds);
  check(true, `${name}: ran at batch sizes 1, 3, 17`);
  reportAccuracy(name, spec, await predictAll(session, labels.length, 250, 10, feeds), labels);
}

// The ascii-words tokenizer, written independently of the Python recipe.
function asciiWordIds(text, index, tok) {
  const ids = [tok.clsId];
  let word = '';
  const flush = () => {
    if (word && ids.length < tok.maxLength) ids.push(index.has(word) ? index.get(word) : tok.unkId);
    word = '';
  };
  for (let i = 0; i < text.length && ids.length < tok.maxLength; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) word += String.fromCharCode(c);
    else flush();
  }
  flush();
  const mask = ids.map(() => 1);
  while (ids.length < tok.maxLength) {
    ids.push(tok.padId);
    mask.push(0);
  }
  return { ids, mask };
}

async function verifySpam() {
  const name = 'spam-bert';
  const { dir, spec, session } = await openModel(name);
  await compareReference(name, session, 2);
  const tok = spec.preprocessing.tokenizer;
  check(tok.vocab.length === 8000 && new Set(tok.vocab).size === tok.vocab.length, `${name}: vocab has 8000 distinct entries`);
  const index = new Map(tok.vocab.map((w, i) => [w, i]));
  const rows = gunzipSync(readFileSync(join(zoo, 'data', 'spam', 'serving.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
  const encoded = rows.map((r) => asciiWordIds(r.text, index, tok));
  const sample = JSON.parse(readFileSync(join(dir, 'token-ids-sample.json'), 'utf8'));
  let same = 0;
  for (const s of sample) {
    const e = encoded[s.index];
    if (JSON.stringify(e.ids) === JSON.stringify(s.ids) && JSON.stringify(e.mask) === JSON.stringify(s.mask)) same++;
  }
  check(same === sample.length && sample.length === 300, `${name}: JS tokenizer reproduces ${same}/${sample.length} sampled encodings`);
  const L = tok.maxLength;
  const feeds = (start, end) => {
    const ids = new BigInt64Array((end - start) * L);
    const mask = new BigInt64Array((end - start) * L);
    for (let r = start; r < end; r++) {
      for (let j = 0; j < L; j++) {
        ids[(r - start) * L + j] = BigInt(encoded[r].ids[j]);
        mask[(r - start) * L + j] = BigInt(encoded[r].mask[j]);
      }
    }
    return {
      input_ids: new ort.Tensor('int64', ids, [end - start, L]),
      attention_mask: new ort.Tensor('int64', mask, [end - start, L]),
    };
  };
  for (const b of [1, 3, 17]) await predictAll(session, b, b, 2, feeds);
  check(true, `${name}: ran at batch sizes 1, 3, 17`);
  reportAccuracy(
    name,
    spec,
    await predictAll(session, rows.length, 100, 2, feeds),
    rows.map((r) => r.label),
  );
}

const wanted = process.argv.slice(2);
const all = { 'mnist-resnet': verifyMnist, 'spam-bert': verifySpam };
for (const name of wanted.length ? wanted : Object.keys(all)) {
  if (!all[name]) throw new Error(`unknown model ${name}`);
  await all[name]();
}
if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
