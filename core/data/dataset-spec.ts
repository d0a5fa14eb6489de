/**
 * The schema of a fixture data set's `dataset.json`. Data sets are written by the `zoo/` recipes in
 * a compact binary form; this schema is the contract between those recipes and everything here.
 */
import { z } from 'zod';

const imageSplitSchema = z.object({
  count: z.number().int().positive(),
  images: z.string().min(1),
  labels: z.string().min(1),
});

const textSplitSchema = z.object({
  count: z.number().int().positive(),
  file: z.string().min(1),
});

export const imageDatasetSpecSchema = z.object({
  name: z.string(),
  task: z.literal('image-classification'),
  seed: z.number().int(),
  classes: z.array(z.string()).min(2),
  sample: z.object({ shape: z.tuple([z.number().int().positive(), z.number().int().positive()]) }),
  splits: z.object({ serving: imageSplitSchema, train: imageSplitSchema }),
});

export const textDatasetSpecSchema = z.object({
  name: z.string(),
  task: z.literal('text-classification'),
  seed: z.number().int(),
  classes: z.array(z.string()).min(2),
  splits: z.object({ serving: textSplitSchema, train: textSplitSchema }),
});

export const datasetSpecSchema = z.discriminatedUnion('task', [
  imageDatasetSpecSchema,
  textDatasetSpecSchema,
]);
export type DatasetSpec = z.infer<typeof datasetSpecSchema>;

/** One line of a text split's JSON-lines file. */
export const textRecordSchema = z.object({
  id: z.string(),
  group: z.string(),
  label: z.number().int().nonnegative(),
  text: z.string(),
});
export type TextRecord = z.infer<typeof textRecordSchema>;
