/**
 * The Open Inference Protocol (v2 REST, as KServe, Triton and Seldon speak it): the request and
 * response shapes of its health, metadata and infer routes. Clients of those servers send these
 * bodies unchanged, so the schemas follow the protocol's field names (snake_case included), not
 * the project's own `/v1` conventions.
 */
import { z } from 'zod';

/** The protocol's tensor element types this API takes or returns. */
export const V2_DATATYPES = ['BOOL', 'UINT8', 'INT32', 'INT64', 'FP32', 'FP64', 'BYTES'] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];

/** A parameter value: the protocol allows booleans, numbers and strings. */
const parametersSchema = z.record(z.string(), z.union([z.boolean(), z.number(), z.string()]));
export type V2Parameters = z.infer<typeof parametersSchema>;

/** Tensor data, flattened in row-major order or nested as the shape says. */
type TensorData = number | string | boolean | TensorData[];
const tensorDataSchema: z.ZodType<TensorData> = z.lazy(() =>
  z.union([z.number(), z.string(), z.boolean(), z.array(tensorDataSchema)]),
);

export const v2InputTensorSchema = z.object({
  name: z.string().min(1, 'each input needs a name'),
  shape: z.array(z.number().int().nonnegative(), 'shape must be an array of non-negative integers'),
  datatype: z.enum(V2_DATATYPES, `datatype must be one of ${V2_DATATYPES.join(', ')}`),
  parameters: parametersSchema.optional(),
  data: tensorDataSchema,
});
export type V2InputTensor = z.infer<typeof v2InputTensorSchema>;

export const v2InferRequestSchema = z.object({
  id: z.string().optional(),
  parameters: parametersSchema.optional(),
  inputs: z.array(v2InputTensorSchema).min(1, 'inputs must hold at least one tensor'),
  outputs: z.array(z.object({ name: z.string().min(1), parameters: parametersSchema.optional() })).optional(),
});
export type V2InferRequest = z.infer<typeof v2InferRequestSchema>;

/** One tensor of a response. */
export interface V2OutputTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly datatype: V2Datatype;
  readonly parameters?: V2Parameters;
  readonly data: readonly (number | string)[];
}

export interface V2InferResponse {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id: string;
  readonly parameters?: V2Parameters;
  readonly outputs: readonly V2OutputTensor[];
}

/** A tensor as model metadata describes it; -1 marks a dimension of any size (the batch). */
export interface V2TensorMetadata {
  readonly name: string;
  readonly datatype: V2Datatype;
  readonly shape: readonly number[];
}

export interface V2ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly V2TensorMetadata[];
  readonly outputs: readonly V2TensorMetadata[];
}
