// Sample images for "Serve your own model" (docs/serve-your-own-model.md): text lines of six MNIST
// digits from the committed fixture data (zoo/data/mnist, serving split), dark ink on white,
// 48x192 PNG files, every odd line turned upside down, as PaddleOCR's text-direction classifier
// sees lines. Usage: node zoo/samples/digit-lines.mjs <out-dir> [count=48] [first=0]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PNG } from 'pngjs';

const [out, countArg = '48', firstArg = '0'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node zoo/samples/digit-lines.mjs <out-dir> [count=48] [first=0]');
  process.exit(2);
}
const count = Number(countArg);
const first = Number(firstArg);
const here = dirname(fileURLToPath(import.meta.url));
const digits = gunzipSync(readFileSync(join(here, '..', 'data', 'mnist', 'serving-images.u8.gz')));
const SIZE = 28;
const DIGITS = 6;
const [lineHeight, lineWidth] = [44, DIGITS * SIZE + 8];
const [height, width] = [48, 192];
mkdirSync(out, { recursive: true });
for (let index = first; index < first + count; index++) {
  const line = new Uint8Array(lineHeight * lineWidth).fill(255);
  const top = Math.floor((lineHeight - SIZE) / 2);
  for (let d = 0; d < DIGITS; d++) {
    const offset = (((index * DIGITS + d) % 4000) * SIZE * SIZE);
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++)
        line[(top + y) * lineWidth + 4 + d * SIZE + x] = 255 - digits[offset + y * SIZE + x];
  }
  if (index % 2 === 1) line.reverse();
  // Nearest-neighbour resize of the 44x176 line to 48x192 (same aspect ratio).
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    const sy = Math.min(lineHeight - 1, Math.floor((y * lineHeight) / height));
    for (let x = 0; x < width; x++) {
      const v = line[sy * lineWidth + Math.min(lineWidth - 1, Math.floor((x * lineWidth) / width))];
      png.data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  const name = `line-${String(index).padStart(4, '0')}${index % 2 === 1 ? '-upside-down' : ''}.png`;
  writeFileSync(join(out, name), PNG.sync.write(png));
}
console.log(`${count} lines written to ${out}`);
