/**
 * What each tensor depends on, which decides what may cross a cut:
 *
 * - `static`: weights and anything computed only from weights and Constants. Every segment gets
 *   its own copy of these (the nodes computing them are replicated), so they never cross a cut.
 *   Exporters leave such nodes behind (torch writes `Identity` nodes aliasing shared initializers);
 *   passing them between segments would make every weight a "side tensor".
 * - `data`: depends by value on the primary input. A cut is feasible only where exactly one of
 *   these crosses: that tensor is the activation a ramp reads.
 * - `side`: everything else, i.e. values derived from other graph inputs (an attention mask and
 *   the additive bias made from it) or from shapes alone. `Shape` and `Size` break value
 *   dependence: their outputs depend on the batch size, not on the input's values.
 */
import type { onnx } from 'onnx-proto';
import { nodeInputs, nodeOutputs } from './topology';

/** The three kinds of dependence described above. */
export type TensorRole = 'static' | 'data' | 'side';

const SHAPE_ONLY_OPS: ReadonlySet<string> = new Set(['Shape', 'Size']);

/** A node that only materialises a constant, with nothing to read. */
function isConstantNode(node: onnx.INodeProto): boolean {
  return (node.domain ?? '') === '' && node.opType === 'Constant';
}

/**
 * Classifies every tensor of an ordered graph. `staticNames` are initializers (dense and sparse);
 * `graphInputs` are the real inputs, of which `primaryInput` carries the data.
 */
export function classifyTensors(
  ordered: readonly onnx.INodeProto[],
  staticNames: ReadonlySet<string>,
  graphInputs: readonly string[],
  primaryInput: string,
): Map<string, TensorRole> {
  const roles = new Map<string, TensorRole>();
  for (const name of staticNames) roles.set(name, 'static');
  for (const name of graphInputs) roles.set(name, name === primaryInput ? 'data' : 'side');
  for (const node of ordered) {
    const inputs = nodeInputs(node).map((name) => roles.get(name) ?? 'side');
    let role: TensorRole;
    if (isConstantNode(node) || (inputs.length > 0 && inputs.every((input) => input === 'static'))) {
      role = 'static';
    } else if (SHAPE_ONLY_OPS.has(node.opType ?? '')) {
      role = 'side';
    } else {
      role = inputs.includes('data') ? 'data' : 'side';
    }
    for (const name of nodeOutputs(node)) roles.set(name, role);
  }
  return roles;
}

/** Whether a node's outputs are static, i.e. it is replicated into segments rather than cut. */
export function isStaticNode(node: onnx.INodeProto, roles: ReadonlyMap<string, TensorRole>): boolean {
  const outputs = nodeOutputs(node);
  return outputs.length > 0 && outputs.every((name) => roles.get(name) === 'static');
}
