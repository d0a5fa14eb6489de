/**
 * From the protocol's typed tensors to the inputs `/v1` takes, and from `/v1` answers back to
 * output tensors. A model served here takes one logical input: an image (grey or colour values
 * 0-255, which the server scales as the model's description says) or a text. In the protocol that
 * is one tensor whose first axis is the batch: several rows in one request are several inputs,
 * answered together.
 */
import type { BundleManifest } from '../../../core/bundle/manifest';
import type { V2InputTensor, V2OutputTensor, V2TensorMetadata } from './schemas';

/** Most rows one request may carry; each becomes its own queued request. */
export const MAX_V2_ROWS = 64;

/** The output tensors every answer carries, in order. */
export const V2_OUTPUTS: readonly V2TensorMetadata[] = [
  { name: 'label', datatype: 'BYTES', shape: [-1] },
  { name: 'confidence', datatype: 'FP32', shape: [-1] },
  { name: 'exit', datatype: 'BYTES', shape: [-1] },
];

/** The input tensor a model takes, as metadata reports it. */
export function inputMetadata(manifest: BundleManifest): V2TensorMetadata {
  const spec = manifest.model.spec;
  const pre = spec.preprocessing;
  if (pre.type === 'image') {
    return {
      name: spec.inputs[0]?.name ?? 'input',
      datatype: 'FP32',
      shape: [-1, pre.channels, pre.height, pre.width],
    };
  }
  return { name: 'text', datatype: 'BYTES', shape: [-1] };
}

/** One `/v1` input per row, or why the tensors do not fit the model. */
export type RowsOrProblem =
  { readonly ok: true; readonly rows: unknown[] } | { readonly ok: false; readonly message: string };

function flatten(data: unknown): unknown[] {
  return Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data];
}

/** Splits the request's input tensor into per-row `/v1` inputs, checking name, type and shape. */
export function rowsOf(manifest: BundleManifest, inputs: readonly V2InputTensor[]): RowsOrProblem {
  const expected = inputMetadata(manifest);
  const wanted = `one input tensor ${expected.name} of datatype ${expected.datatype === 'FP32' ? 'FP32 or INT64 (or BYTES: PNG or JPEG files, shape [N])' : 'BYTES'} and shape [${expected.shape.join(', ').replace('-1', 'N')}]`;
  if (inputs.length !== 1) {
    return {
      ok: false,
      message: `model ${manifest.model.name} takes ${wanted}; got ${inputs.length} input tensors`,
    };
  }
  const tensor = inputs[0] as V2InputTensor;
  if (tensor.name !== expected.name) {
    return {
      ok: false,
      message: `model ${manifest.model.name} takes ${wanted}; got an input named ${tensor.name}`,
    };
  }
  const [rows, ...sample] = tensor.shape;
  const oneString = sample.length === 0 || (sample.length === 1 && sample[0] === 1);
  if (expected.datatype === 'FP32' && tensor.datatype === 'BYTES' && oneString) {
    // Image files, one base64 PNG or JPEG per row, as Triton clients send encoded images.
    const files = flatten(tensor.data);
    if (rows === undefined || rows < 1 || rows > MAX_V2_ROWS || files.length !== rows) {
      return {
        ok: false,
        message: `input ${tensor.name} as BYTES holds one PNG or JPEG file (base64) per row, 1 to ${MAX_V2_ROWS} rows; got shape [${tensor.shape.join(', ')}] with ${files.length} values`,
      };
    }
    if (!files.every((file) => typeof file === 'string')) {
      return {
        ok: false,
        message: `input ${tensor.name} as BYTES must hold base64 strings of PNG or JPEG files`,
      };
    }
    return { ok: true, rows: files.map((image) => ({ image })) };
  }
  const shown = `[${tensor.shape.join(', ')}]`;
  const expectedSample = expected.shape.slice(1);
  const textShape =
    expected.datatype === 'BYTES' && (sample.length === 0 || (sample.length === 1 && sample[0] === 1));
  const sampleFits =
    expected.datatype === 'BYTES' ? textShape : sample.join(',') === expectedSample.join(',');
  if (rows === undefined || rows < 1 || rows > MAX_V2_ROWS || !sampleFits) {
    return {
      ok: false,
      message: `model ${manifest.model.name} takes ${wanted}, with 1 to ${MAX_V2_ROWS} rows; got shape ${shown}`,
    };
  }
  const allowedTypes = expected.datatype === 'BYTES' ? ['BYTES'] : ['FP32', 'INT64'];
  if (!allowedTypes.includes(tensor.datatype)) {
    return {
      ok: false,
      message: `model ${manifest.model.name} takes ${wanted}; got datatype ${tensor.datatype}`,
    };
  }
  const values = flatten(tensor.data);
  const perRow = expected.datatype === 'BYTES' ? 1 : expectedSample.reduce((a, b) => a * b, 1);
  if (values.length !== rows * perRow) {
    return {
      ok: false,
      message: `input ${tensor.name} of shape ${shown} needs ${rows * perRow} data values; got ${values.length}`,
    };
  }
  if (expected.datatype === 'BYTES') {
    if (!values.every((value) => typeof value === 'string')) {
      return { ok: false, message: `input ${tensor.name} is BYTES: its data must be strings (UTF-8 text)` };
    }
    return { ok: true, rows: values };
  }
  if (
    tensor.datatype === 'INT64' &&
    !values.every((value) => typeof value === 'number' && Number.isInteger(value))
  ) {
    return { ok: false, message: `input ${tensor.name} is INT64: its data must be integers` };
  }
  // Pixel ranges and NaN are the /v1 validator's to judge, with its own message.
  return {
    ok: true,
    rows: Array.from({ length: rows }, (_, row) => values.slice(row * perRow, (row + 1) * perRow)),
  };
}

/** A `/v1` answer's fields the response needs. */
export interface RowAnswer {
  readonly label: string | number;
  readonly confidence: number;
  readonly exit: string;
}

/**
 * The response's output tensors. Where each row exited (a ramp id, or `final`) is both an output
 * tensor and, joined by commas, the `exit` parameter of every output, so clients that only read
 * parameters see it too.
 */
export function outputTensors(
  answers: readonly RowAnswer[],
  requested?: readonly string[],
): V2OutputTensor[] {
  const shape = [answers.length];
  const parameters = { exit: answers.map((answer) => answer.exit).join(',') };
  const all: V2OutputTensor[] = [
    {
      name: 'label',
      datatype: 'BYTES',
      shape,
      parameters,
      data: answers.map((answer) => String(answer.label)),
    },
    {
      name: 'confidence',
      datatype: 'FP32',
      shape,
      parameters,
      data: answers.map((answer) => answer.confidence),
    },
    { name: 'exit', datatype: 'BYTES', shape, parameters, data: answers.map((answer) => answer.exit) },
  ];
  return requested === undefined ? all : all.filter((tensor) => requested.includes(tensor.name));
}
