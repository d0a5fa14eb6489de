/**
 * `apparate init`: writes a checked `model.json` for a model trained elsewhere, so that `prepare`,
 * `serve` and the API can take it. The user names what the model's input is (an image size with
 * its normalisation, or a Hugging Face tokenizer.json); everything else is read from the graph.
 */
import { readFile } from 'node:fs/promises';
import { assertFreshDestination } from '../../core/bundle/atomic-dir';
import { InputError } from '../../core/errors';
import { initModel, type InitInput } from '../../core/prepare/init-model';
import type { Command } from '../command';
import { INPUT_SHAPE_OPTION, inputShapeOption, requiredString } from '../options';

/** Parsed option values, as the dispatcher hands them over. */
type Values = Record<string, string | boolean | undefined>;

/** A comma-separated list of numbers, e.g. `--mean 0.485,0.456,0.406`. */
function numberList(values: Values, name: string, what: string): number[] | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const parts = typeof raw === 'string' ? raw.split(',').map((part) => Number(part.trim())) : [];
  if (parts.length === 0 || parts.some((value) => !Number.isFinite(value))) {
    throw new InputError(`--${name} must be ${what}, got ${String(raw)}`);
  }
  return parts;
}

function choice<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const found = allowed.find((value) => value === String(raw).toUpperCase() || value === String(raw));
  if (found === undefined)
    throw new InputError(`--${name} must be one of ${allowed.join(', ')}, got ${String(raw)}`);
  return found;
}

function inputOf(values: Values): InitInput {
  const tokenizer = values['tokenizer'];
  const image = values['image'];
  if ((tokenizer === undefined) === (image === undefined)) {
    throw new InputError(
      'give either --tokenizer <tokenizer.json> (a text model) or --image H,W,C (an image model), not both and not neither',
    );
  }
  if (typeof tokenizer === 'string') {
    for (const flag of ['mean', 'std', 'scale', 'channel-order', 'resize']) {
      if (values[flag] !== undefined)
        throw new InputError(`--${flag} describes images; a --tokenizer model takes text`);
    }
    return { kind: 'text', tokenizerPath: tokenizer };
  }
  const size = numberList(values, 'image', 'H,W,C: height, width and channels (1 or 3), e.g. 224,224,3');
  const [height, width, channels] = size ?? [];
  const whole = (value: number | undefined) => value !== undefined && Number.isInteger(value) && value > 0;
  if (size?.length !== 3 || !whole(height) || !whole(width) || (channels !== 1 && channels !== 3)) {
    throw new InputError(
      `--image must be H,W,C: positive whole height and width, and 1 (grey) or 3 (colour) channels, e.g. 224,224,3; got ${String(image)}`,
    );
  }
  const scale = numberList(values, 'scale', 'one positive number, e.g. 0.00392156862745098 (1/255)');
  if (scale !== undefined && (scale.length !== 1 || !((scale[0] as number) > 0))) {
    throw new InputError(`--scale must be one positive number; got ${String(values['scale'])}`);
  }
  const mean = numberList(
    values,
    'mean',
    'one number or one per channel, comma-separated, e.g. 0.485,0.456,0.406',
  );
  const std = numberList(
    values,
    'std',
    'one number or one per channel, comma-separated, e.g. 0.229,0.224,0.225',
  );
  if (std?.some((value) => value === 0))
    throw new InputError(`--std values must not be 0; got ${String(values['std'])}`);
  const channelOrder = choice(values, 'channel-order', ['RGB', 'BGR'] as const);
  const resize = choice(values, 'resize', ['stretch', 'exact'] as const);
  return {
    kind: 'image',
    height: height as number,
    width: width as number,
    channels,
    ...(scale ? { scale: scale[0] as number } : {}),
    ...(mean ? { mean } : {}),
    ...(std ? { std } : {}),
    ...(channelOrder ? { channelOrder } : {}),
    ...(resize ? { resize } : {}),
  };
}

async function labelsOf(values: Values): Promise<string[] | undefined> {
  const path = values['labels'];
  if (typeof path !== 'string') return undefined;
  const text = await readFile(path, 'utf8').catch((cause: unknown) => {
    throw new InputError(`--labels ${path} cannot be read; give a text file with one class name a line`, {
      cause,
    });
  });
  const labels = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (new Set(labels).size !== labels.length) throw new InputError(`--labels ${path} names a class twice`);
  return labels;
}

export const initCommand: Command = {
  name: 'init',
  summary: 'write a checked model.json for a model trained elsewhere (image or tokenizer.json text)',
  usage:
    'apparate init --model <model.onnx> --out <dir> (--image H,W,C [--mean M] [--std S] [--scale F] [--channel-order RGB|BGR] [--resize stretch|exact] | --tokenizer <tokenizer.json>) [--labels <labels.txt>] [--input-shape NAME=D1,D2,...] [--name <name>] [--json]',
  options: {
    model: { type: 'string', description: 'the ONNX classifier (dynamic batch axis)' },
    out: { type: 'string', description: 'model directory to create (must not exist)' },
    image: { type: 'string', description: 'image input: height,width,channels (channels 1 or 3)' },
    mean: {
      type: 'string',
      description: 'per-channel mean subtracted after scaling (one value or one per channel)',
    },
    std: {
      type: 'string',
      description: 'per-channel standard deviation divided by (one value or one per channel)',
    },
    scale: {
      type: 'string',
      description: 'multiplier of each 0-255 value before mean and std (default 1/255)',
    },
    'channel-order': {
      type: 'string',
      description: 'colour order the model was trained on: RGB (default) or BGR',
    },
    resize: {
      type: 'string',
      description: 'image files of another size: stretch (default) or exact (refused)',
    },
    tokenizer: { type: 'string', description: 'text input: a Hugging Face tokenizer.json' },
    labels: {
      type: 'string',
      description: 'class names, one a line, in the output order (default 0, 1, ...)',
    },
    'input-shape': INPUT_SHAPE_OPTION,
    name: {
      type: 'string',
      description: 'model name: lowercase letters, digits, dashes (default: the directory name)',
    },
    json: { type: 'boolean', description: 'print the model.json written' },
  },
  async run(values, _positionals, io) {
    const onnxPath = requiredString(values, 'model', 'model.onnx');
    const out = requiredString(values, 'out', 'dir');
    const input = inputOf(values);
    const labels = await labelsOf(values);
    const inputShapes = inputShapeOption(values);
    const name = typeof values['name'] === 'string' ? values['name'] : undefined;
    assertFreshDestination(out);
    const model = await initModel({
      onnxPath,
      out,
      input,
      ...(labels ? { labels } : {}),
      ...(name ? { name } : {}),
      ...(inputShapes ? { inputShapes } : {}),
    });
    const { spec } = model;
    if (values['json'] === true) {
      const written = JSON.parse(await readFile(`${model.dir}/model.json`, 'utf8')) as unknown;
      io.stdout.write(`${JSON.stringify(written, null, 2)}\n`);
    } else {
      io.stdout.write(
        `model ${spec.name} written to ${out}: ${spec.task}, ${spec.classes.length} classes (${spec.classes.slice(0, 5).join(', ')}${spec.classes.length > 5 ? ', ...' : ''}), inputs ${spec.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}\n` +
          `next: apparate prepare --model ${out} --samples <your sample inputs> --out <bundle dir>\n`,
      );
    }
    return 0;
  },
};
