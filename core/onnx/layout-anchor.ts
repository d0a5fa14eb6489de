/**
 * A layout anchor at the start of a segment. onnxruntime's CPU provider runs convolutions in a
 * blocked channel layout (NCHWc) and fuses a residual block's `Add` and `Relu` into the
 * convolution that precedes them, but only when every input of the `Add` is already a blocked
 * tensor made by an operator it converted. A segment that begins just before a residual block
 * gets the cut's activation as a plain graph input, which the block reads twice (its first
 * convolution and its skip connection); the skip stays in the plain layout, so onnxruntime
 * reorders the convolution's output back, adds and applies `Relu` unfused, and reorders again
 * for the next convolution: four operators the whole model never runs.
 *
 * Routing the activation through a 1x1 `MaxPool` (stride 1, no padding: exactly the identity, NaN
 * and infinities included) gives the optimizer an operator it converts to the blocked layout; its
 * output is then a blocked tensor both readers share, the block fuses as in the whole model, and
 * the segment pays one cheap pass over the activation instead. It is added only where it can
 * help: a 4-D float activation that a convolution and some other operator (the skip connection's
 * `Add`) both read. Where only convolutions read it (a downsampling block whose shortcut is a
 * convolution too), onnxruntime already shares one reorder among them and fuses the block.
 */
import type { onnx } from 'onnx-proto';
import { makeNode } from './graph-builder';
import type { TensorInfo } from './tensor-types';

const FLOAT = 1;

/** The name the anchored copy of an activation gets inside its segment. */
export function anchoredName(activation: string): string {
  return `${activation}:anchored`;
}

/** Whether a segment starting at this activation should get an anchor. */
export function wantsAnchor(
  activation: string,
  info: TensorInfo | undefined,
  nodes: readonly onnx.INodeProto[],
): boolean {
  if (!info || info.elemType !== FLOAT || info.shape.length !== 4) return false;
  const readers = nodes.filter((node) => (node.input ?? []).includes(activation)).map((node) => node.opType);
  return readers.includes('Conv') && readers.some((op) => op !== 'Conv');
}

/**
 * The segment's nodes with the activation's readers reading the anchor's output instead, the
 * anchor first. Nodes that change are copied: the given ones belong to the model's analysis.
 */
export function anchorActivation(activation: string, nodes: readonly onnx.INodeProto[]): onnx.INodeProto[] {
  const anchored = anchoredName(activation);
  const rewired = nodes.map((node) =>
    (node.input ?? []).includes(activation)
      ? { ...node, input: (node.input ?? []).map((name) => (name === activation ? anchored : name)) }
      : node,
  );
  return [
    makeNode('MaxPool', [activation], [anchored], `apparate_layout_anchor`, { kernel_shape: [1, 1] }),
    ...rewired,
  ];
}
