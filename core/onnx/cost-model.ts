/**
 * How much of the model's work lies before each position. Placement needs a cost per candidate
 * before anything is profiled; multiply-accumulates of the convolutions and matrix products are a
 * good proxy for classifiers (they dominate both CNNs and transformers), and everything else counts
 * as free. A model with none of those operators falls back to counting nodes.
 */
import type { onnx } from 'onnx-proto';
import { elementCount, toNumber, type TensorInfo } from './tensor-types';

/** The tensors whose shapes the estimate needs for a node (weights included). */
export function costTensors(node: onnx.INodeProto): string[] {
  const inputs = node.input ?? [];
  const outputs = node.output ?? [];
  switch (node.opType) {
    case 'Conv':
      return [inputs[1], outputs[0]].filter((name): name is string => !!name);
    case 'ConvTranspose':
      return [inputs[0], inputs[1]].filter((name): name is string => !!name);
    case 'MatMul':
    case 'Gemm':
      return [inputs[0], outputs[0]].filter((name): name is string => !!name);
    default:
      return [];
  }
}

function intAttribute(node: onnx.INodeProto, name: string, fallback: number): number {
  const attribute = (node.attribute ?? []).find((candidate) => candidate.name === name);
  return attribute?.i === undefined || attribute.i === null ? fallback : toNumber(attribute.i);
}

/** Multiply-accumulates of one node for a batch of one, or 0 for operators not counted. */
export function nodeMacs(node: onnx.INodeProto, info: (name: string) => TensorInfo | undefined): number {
  const shape = (index: number, from: 'input' | 'output') => {
    const name = (from === 'input' ? node.input : node.output)?.[index];
    return name ? info(name)?.unitShape : undefined;
  };
  switch (node.opType) {
    case 'Conv': {
      // Each output element sums over (input channels / group) x kernel window: the weight's dims after the first.
      const weight = shape(1, 'input');
      const output = shape(0, 'output');
      return weight && output ? elementCount(output) * elementCount(weight.slice(1)) : 0;
    }
    case 'ConvTranspose': {
      // Each input element scatters into (output channels / group) x kernel window.
      const input = shape(0, 'input');
      const weight = shape(1, 'input');
      return input && weight ? elementCount(input) * elementCount(weight.slice(1)) : 0;
    }
    case 'MatMul': {
      const a = shape(0, 'input');
      const output = shape(0, 'output');
      return a && output && a.length > 0 ? elementCount(output) * (a[a.length - 1] as number) : 0;
    }
    case 'Gemm': {
      const a = shape(0, 'input');
      const output = shape(0, 'output');
      if (!a || !output || a.length !== 2) return 0;
      const inner = intAttribute(node, 'transA', 0) ? a[0] : a[1];
      return elementCount(output) * (inner as number);
    }
    default:
      return 0;
  }
}

/**
 * Cumulative cost fraction after each node of the order: entry k is the share of the model's work
 * done once node k has run. `counted(k)` says whether a node takes part in the node-count fallback.
 */
export function cumulativeCostFractions(
  ordered: readonly onnx.INodeProto[],
  info: (name: string) => TensorInfo | undefined,
  counted: (index: number) => boolean,
): { fractions: Float64Array; totalMacs: number } {
  let costs = ordered.map((node) => nodeMacs(node, info));
  const totalMacs = costs.reduce((sum, macs) => sum + macs, 0);
  if (totalMacs === 0) costs = ordered.map((_, index) => (counted(index) ? 1 : 0));
  const total = costs.reduce((sum, cost) => sum + cost, 0) || 1;
  const fractions = new Float64Array(ordered.length);
  let done = 0;
  costs.forEach((cost, index) => {
    done += cost;
    fractions[index] = done / total;
  });
  return { fractions, totalMacs };
}
