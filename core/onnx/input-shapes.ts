/**
 * Pinned input shapes. Models exported by third parties often leave every axis of an input
 * symbolic (PaddleOCR's classifier takes `x: [N, 3, H, W]`), but a cut model needs fixed sizes
 * beyond the batch: segment boundaries, ramp pooling grids and cost estimates all depend on them.
 * Users cannot re-export such models, so they pin the sizes instead, with `--input-shape
 * x=3,48,192` on the command line or with the fixed sizes of `inputs[].shape` in `model.json`.
 * Pinning never changes the ONNX file: it tells the analysis which sizes the model will be fed.
 */
import { InputError } from '../errors';

/** Per-sample dimensions (everything after the batch axis) for some of a model's graph inputs. */
export type InputShapes = ReadonlyMap<string, readonly number[]>;

const SYNTAX = 'NAME=D1,D2,... (the sizes after the batch axis, e.g. x=3,48,192)';

/**
 * Parses the value of `--input-shape`: one `NAME=D1,D2,...` per input, several separated by
 * spaces or semicolons. The batch axis is left out because it always varies.
 */
export function parseInputShapes(text: string): InputShapes {
  const shapes = new Map<string, readonly number[]>();
  const entries = text
    .split(/[\s;]+/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new InputError(`--input-shape must be ${SYNTAX}, got an empty value`);
  for (const entry of entries) {
    const match = /^([^=]+)=(.+)$/.exec(entry);
    const name = match?.[1]?.trim() ?? '';
    const sizes = (match?.[2] ?? '').split(',').map((part) => Number(part.trim()));
    if (!match || name === '' || sizes.some((size) => !Number.isInteger(size) || size < 1)) {
      throw new InputError(`--input-shape must be ${SYNTAX} with positive integer sizes, got ${entry}`);
    }
    if (shapes.has(name)) throw new InputError(`--input-shape names input ${name} twice`);
    shapes.set(name, sizes);
  }
  return shapes;
}

/**
 * The pins a model description implies: every input whose `shape` has fixed sizes after the batch
 * axis. Inputs with a symbolic size there pin nothing, and the analysis refuses them if the ONNX
 * file leaves that size open too.
 */
export function inputShapesFromSpec(
  inputs: ReadonlyArray<{ readonly name: string; readonly shape: ReadonlyArray<number | string> }>,
): InputShapes {
  const shapes = new Map<string, readonly number[]>();
  for (const input of inputs) {
    const sample = input.shape.slice(1);
    if (sample.every((dim): dim is number => typeof dim === 'number')) shapes.set(input.name, sample);
  }
  return shapes;
}

/**
 * Combines pins from a model description with the command line's. They must agree where both give
 * a size: the description also drives input encoding, so a contradiction would serve one shape and
 * analyse another.
 */
export function mergeInputShapes(fromSpec: InputShapes, fromFlag: InputShapes | undefined): InputShapes {
  if (!fromFlag) return fromSpec;
  for (const [name, sizes] of fromFlag) {
    const declared = fromSpec.get(name);
    if (declared && declared.join(',') !== sizes.join(',')) {
      throw new InputError(
        `--input-shape ${name}=${sizes.join(',')} contradicts model.json, whose input ${name} has sizes ${declared.join(',')} after the batch axis; make them agree`,
      );
    }
  }
  return new Map([...fromSpec, ...fromFlag]);
}

/**
 * The per-sample sizes of one graph input: the declared fixed sizes, with symbolic ones taken from
 * the pin. Refuses a pin that contradicts a fixed size or has the wrong rank, and a symbolic size
 * left unpinned, saying what was declared and how to pin it.
 */
export function pinSampleDims(
  name: string,
  declared: ReadonlyArray<number | string | undefined>,
  pin: readonly number[] | undefined,
): number[] {
  const shown = `[${declared.map((dim) => dim ?? '?').join(',')}]`;
  if (pin && pin.length !== declared.length) {
    throw new InputError(
      `input shape ${name}=${pin.join(',')} gives ${pin.length} sizes, but model input ${name} is declared ${shown} after the batch axis, so it needs ${declared.length}`,
    );
  }
  return declared.map((dim, axis) => {
    const pinned = pin?.[axis];
    if (typeof dim === 'number') {
      if (pinned !== undefined && pinned !== dim) {
        throw new InputError(
          `input shape ${name}=${(pin ?? []).join(',')} gives size ${pinned} at axis ${axis + 1}, but the model fixes it to ${dim} (input declared [batch,${shown.slice(1)}); pin only sizes the model leaves open`,
        );
      }
      return dim;
    }
    if (pinned === undefined) {
      throw new InputError(
        `model input ${name} has symbolic dimension ${dim ?? '?'} at axis ${axis + 1} (declared [batch,${shown.slice(1)}); only the batch axis may vary, so pin the other sizes with --input-shape ${name}=${declared.map((d) => (typeof d === 'number' ? d : 'N')).join(',')} or with fixed sizes in model.json inputs[].shape`,
      );
    }
    return pinned;
  });
}
