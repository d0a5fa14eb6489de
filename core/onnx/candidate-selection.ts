/**
 * Which feasible positions are offered as ramp candidates. Every feasible position is a valid cut,
 * but most sit inside a block (after a convolution, before its activation) where a ramp sees a
 * half-finished representation; users and the placement search want one candidate per block.
 *
 * Two rules, neither specific to any model:
 * - numbered modules: when node names carry a repeated container (`blocks.0`..`blocks.8`), the
 *   candidate of each module is the latest feasible position at or before its last node (and not
 *   before its first node, so a module with no feasible point of its own gets no candidate);
 * - merge points, otherwise: right after a node joining two or more data-path tensors (a residual
 *   Add), extended through the shape-preserving unary operators that directly follow it (ReLU,
 *   LayerNorm, ...) for as long as the positions stay feasible.
 */
import type { onnx } from 'onnx-proto';
import type { CutPosition } from './cut-positions';
import { findRepeatedModules } from './module-paths';
import { isStaticNode, type TensorRole } from './tensor-roles';
import { nodeInputs } from './topology';

/** Which rule chose the candidates; reported so users can tell why positions were offered. */
export type CandidateStrategy = 'module-paths' | 'merge-points';

/** Operators that keep their data input's shape and meaning; a block's output may pass through them. */
const SHAPE_PRESERVING_UNARY: ReadonlySet<string> = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'FastGelu',
  'BiasGelu',
  'Tanh',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Softplus',
  'Softsign',
  'Mish',
  'ThresholdedRelu',
  'Dropout',
  'Identity',
  'Cast',
  'Clip',
  'BatchNormalization',
  'LayerNormalization',
  'SimplifiedLayerNormalization',
  'InstanceNormalization',
  'GroupNormalization',
]);

interface SelectionInput {
  readonly ordered: readonly onnx.INodeProto[];
  readonly roles: ReadonlyMap<string, TensorRole>;
  readonly feasible: readonly CutPosition[];
  /** Whether a ramp can read this cut's activation (a float image or sequence tensor). */
  readonly eligible: (cut: CutPosition) => boolean;
}

function byModules(input: SelectionInput): CutPosition[] {
  const modules = findRepeatedModules(input.ordered, (index) =>
    isStaticNode(input.ordered[index] as onnx.INodeProto, input.roles),
  );
  const usable = input.feasible.filter(input.eligible);
  const chosen: CutPosition[] = [];
  for (const module of modules) {
    const after = chosen[chosen.length - 1]?.position ?? -1;
    let latest: CutPosition | undefined;
    for (const cut of usable) {
      if (cut.position > module.lastPosition) break;
      if (cut.position >= module.firstPosition && cut.position > after) latest = cut;
    }
    if (latest) chosen.push(latest);
  }
  return chosen;
}

function dataInputs(node: onnx.INodeProto, roles: ReadonlyMap<string, TensorRole>): string[] {
  return nodeInputs(node).filter((name) => roles.get(name) === 'data');
}

function byMergePoints(input: SelectionInput): CutPosition[] {
  const { ordered, roles } = input;
  const feasibleAt = new Map(input.feasible.map((cut) => [cut.position, cut]));
  const dynamic = ordered
    .map((node, index) => (isStaticNode(node, roles) ? -1 : index))
    .filter((index) => index >= 0);
  const chosen = new Map<number, CutPosition>();
  dynamic.forEach((index, rank) => {
    const node = ordered[index] as onnx.INodeProto;
    if (dataInputs(node, roles).length < 2) return;
    let position = index;
    let tensor = node.output?.[0];
    for (let next = rank + 1; next < dynamic.length; next++) {
      const follower = ordered[dynamic[next] as number] as onnx.INodeProto;
      const reads = dataInputs(follower, roles);
      // The follower must carry the path on: its output, not its input, is what crosses after it.
      const continues =
        SHAPE_PRESERVING_UNARY.has(follower.opType ?? '') &&
        reads.length === 1 &&
        reads[0] === tensor &&
        feasibleAt.get(dynamic[next] as number)?.activation === follower.output?.[0];
      if (!continues) break;
      position = dynamic[next] as number;
      tensor = follower.output?.[0];
    }
    const cut = feasibleAt.get(position);
    if (cut && input.eligible(cut)) chosen.set(position, cut);
  });
  return [...chosen.values()].sort((a, b) => a.position - b.position);
}

/** Picks the candidate positions, preferring module structure when the node names provide it. */
export function selectCandidatePositions(input: SelectionInput): {
  positions: CutPosition[];
  strategy: CandidateStrategy;
} {
  const fromModules = byModules(input);
  if (fromModules.length > 0) return { positions: fromModules, strategy: 'module-paths' };
  return { positions: byMergePoints(input), strategy: 'merge-points' };
}
