/**
 * Feasible cut positions. A cut after node k (in topological order) splits the graph into what runs
 * before and after; the tensors crossing it are those made at or before k (or graph inputs) and read
 * after k (or returned as graph outputs). Static tensors never cross (segments copy them) and graph
 * inputs need not cross (every segment can be fed them directly). The cut is feasible when exactly
 * one crossing tensor is on the data path: that is the activation, and everything else that crosses
 * is a side tensor handed along to later segments.
 */
import type { onnx } from 'onnx-proto';
import type { TensorRole } from './tensor-roles';
import { isStaticNode } from './tensor-roles';
import { nodeInputs, nodeOutputs } from './topology';

/** A valid place to cut the model: after node `position` of the topological order. */
export interface CutPosition {
  /** Index in the topological order of the last node before the cut. */
  readonly position: number;
  /** The one data-path tensor crossing the cut. */
  readonly activation: string;
  /**
   * Every other tensor crossing the cut, in order of production: side tensors (e.g. an attention
   * bias), and graph outputs finished early that the last segment must still return.
   */
  readonly sideTensors: readonly string[];
}

interface Lifetime {
  readonly producedAt: number;
  lastReadAt: number;
  readonly isGraphOutput: boolean;
  readonly role: TensorRole;
}

function lifetimes(
  ordered: readonly onnx.INodeProto[],
  roles: ReadonlyMap<string, TensorRole>,
  graphInputs: readonly string[],
  graphOutputs: ReadonlySet<string>,
): Map<string, Lifetime> {
  const life = new Map<string, Lifetime>();
  const add = (name: string, producedAt: number) => {
    const role = roles.get(name) ?? 'side';
    if (role === 'static') return;
    life.set(name, { producedAt, lastReadAt: producedAt, isGraphOutput: graphOutputs.has(name), role });
  };
  for (const name of graphInputs) add(name, -1);
  ordered.forEach((node, index) => {
    for (const name of nodeInputs(node)) {
      const entry = life.get(name);
      if (entry) entry.lastReadAt = Math.max(entry.lastReadAt, index);
    }
    for (const name of nodeOutputs(node)) add(name, index);
  });
  return life;
}

/**
 * All feasible positions, in order. Positions after static nodes are skipped (a static node's
 * position cuts nothing that the position before it does not), as are positions whose only
 * data-path tensor is a graph input (nothing computed yet) or is not read again (nothing left to
 * run on it).
 */
export function findFeasiblePositions(
  ordered: readonly onnx.INodeProto[],
  roles: ReadonlyMap<string, TensorRole>,
  graphInputs: readonly string[],
  graphOutputs: readonly string[],
): CutPosition[] {
  const outputs = new Set(graphOutputs);
  const inputs = new Set(graphInputs);
  const life = lifetimes(ordered, roles, graphInputs, outputs);
  const count = ordered.length;
  // dataCrossing[k]: data-path tensors crossing a cut after k that still have readers after k.
  const delta = new Int32Array(count + 1);
  for (const entry of life.values()) {
    if (entry.role !== 'data' || entry.lastReadAt <= entry.producedAt) continue;
    const from = Math.max(entry.producedAt, 0);
    delta[from] = (delta[from] as number) + 1;
    delta[entry.lastReadAt] = (delta[entry.lastReadAt] as number) - 1;
  }
  const lastDynamic = ordered.reduce((last, node, index) => (isStaticNode(node, roles) ? last : index), -1);
  const feasible: CutPosition[] = [];
  let running = 0;
  for (let k = 0; k < count; k++) {
    running += delta[k] as number;
    const node = ordered[k] as onnx.INodeProto;
    if (k >= lastDynamic || running !== 1 || isStaticNode(node, roles)) continue;
    const crossing = [...life.entries()].filter(
      ([, entry]) => entry.producedAt <= k && (entry.lastReadAt > k || entry.isGraphOutput),
    );
    const data = crossing.filter(([, entry]) => entry.role === 'data' && entry.lastReadAt > k);
    const only = data[0];
    if (data.length !== 1 || !only || inputs.has(only[0])) continue;
    feasible.push({
      position: k,
      activation: only[0],
      sideTensors: crossing
        .filter(([name]) => name !== only[0] && !inputs.has(name))
        .sort(([, a], [, b]) => a.producedAt - b.producedAt)
        .map(([name]) => name),
    });
  }
  return feasible;
}
