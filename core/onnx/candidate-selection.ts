/**
 * Which feasible positions are offered as ramp candidates. Every feasible position is a valid cut,
 * but most sit inside a block (after a convolution, before its activation) where a ramp sees a
 * half-finished representation; users and the placement search want one candidate per block.
 *
 * Three rules, tried in order, none specific to any model:
 * - numbered modules: when node names carry a repeated container (`blocks.0`..`blocks.8`,
 *   `features.0`..`features.17`, `encoder_layer_0`..`encoder_layer_11`), the candidate of each
 *   module is the latest feasible position at or before its last node (and not before its first
 *   node, so a module with no feasible point of its own gets none). Of the levels names offer, the
 *   one giving the most candidates wins, the deeper on a tie: in a MobileNetV2 the numbered blocks
 *   (`features.N`, with or without a skip) beat the numbered layers inside them, which only blocks
 *   without a skip can be cut after;
 * - merge points: right after a node joining two or more data-path tensors (a residual Add, a
 *   DenseNet Concat), extended through the shape-preserving unary operators that directly follow
 *   it (ReLU, LayerNorm, ...) for as long as the positions stay feasible;
 * - plain chains, when the graph has no merges (VGG-style): after every convolution, extended
 *   through its activation and any pooling that directly follows, so a conv stage ends after its
 *   pooling and a stage of several convolutions offers one candidate per convolution.
 */
import type { onnx } from 'onnx-proto';
import type { CutPosition } from './cut-positions';
import { findModuleLevels, type IndexedModule } from './module-paths';
import { isStaticNode, type TensorRole } from './tensor-roles';
import { nodeInputs } from './topology';

/** Which rule chose the candidates; reported so users can tell why positions were offered. */
export type CandidateStrategy = 'module-paths' | 'merge-points' | 'conv-chain';

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

/** Operators that only downsample their input; a conv stage's output may pass through them. */
const POOLING: ReadonlySet<string> = new Set(['MaxPool', 'AveragePool', 'LpPool']);

/** Operators that start a plain-chain unit. */
const CHAIN_STARTS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose']);

interface SelectionInput {
  readonly ordered: readonly onnx.INodeProto[];
  readonly roles: ReadonlyMap<string, TensorRole>;
  readonly feasible: readonly CutPosition[];
  /** Whether a ramp can read this cut's activation (a float image or sequence tensor). */
  readonly eligible: (cut: CutPosition) => boolean;
}

function candidatesOfLevel(input: SelectionInput, modules: readonly IndexedModule[]): CutPosition[] {
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

function byModules(input: SelectionInput): CutPosition[] {
  const levels = findModuleLevels(input.ordered, (index) =>
    isStaticNode(input.ordered[index] as onnx.INodeProto, input.roles),
  );
  let best: CutPosition[] = [];
  // Levels come shallow to deep, so `>=` keeps the deeper level on a tie.
  for (const level of levels) {
    const chosen = candidatesOfLevel(input, level);
    if (chosen.length > 0 && chosen.length >= best.length) best = chosen;
  }
  return best;
}

function dataInputs(node: onnx.INodeProto, roles: ReadonlyMap<string, TensorRole>): string[] {
  return nodeInputs(node).filter((name) => roles.get(name) === 'data');
}

/**
 * The position a unit starting at `index` ends at: through the followers in `through` that read
 * only the unit's current tensor, for as long as the positions stay feasible. The follower's
 * output, not its input, is what crosses after it, so the path must be carried on.
 */
function extendThrough(
  input: SelectionInput,
  dynamic: readonly number[],
  rank: number,
  through: (opType: string) => boolean,
): number {
  const { ordered, roles } = input;
  const feasibleAt = new Map(input.feasible.map((cut) => [cut.position, cut]));
  let position = dynamic[rank] as number;
  let tensor = (ordered[position] as onnx.INodeProto).output?.[0];
  for (let next = rank + 1; next < dynamic.length; next++) {
    const follower = ordered[dynamic[next] as number] as onnx.INodeProto;
    const reads = dataInputs(follower, roles);
    const continues =
      through(follower.opType ?? '') &&
      reads.length === 1 &&
      reads[0] === tensor &&
      feasibleAt.get(dynamic[next] as number)?.activation === follower.output?.[0];
    if (!continues) break;
    position = dynamic[next] as number;
    tensor = follower.output?.[0];
  }
  return position;
}

/** Candidates at the ends of units that start at nodes `starts` accepts. */
function byUnits(
  input: SelectionInput,
  starts: (node: onnx.INodeProto) => boolean,
  through: (opType: string) => boolean,
): CutPosition[] {
  const { ordered, roles } = input;
  const feasibleAt = new Map(input.feasible.map((cut) => [cut.position, cut]));
  const dynamic = ordered
    .map((node, index) => (isStaticNode(node, roles) ? -1 : index))
    .filter((index) => index >= 0);
  const chosen = new Map<number, CutPosition>();
  dynamic.forEach((index, rank) => {
    if (!starts(ordered[index] as onnx.INodeProto)) return;
    const cut = feasibleAt.get(extendThrough(input, dynamic, rank, through));
    if (cut && input.eligible(cut)) chosen.set(cut.position, cut);
  });
  return [...chosen.values()].sort((a, b) => a.position - b.position);
}

function byMergePoints(input: SelectionInput): CutPosition[] {
  return byUnits(
    input,
    (node) => dataInputs(node, input.roles).length >= 2,
    (opType) => SHAPE_PRESERVING_UNARY.has(opType),
  );
}

function byConvChain(input: SelectionInput): CutPosition[] {
  return byUnits(
    input,
    (node) => CHAIN_STARTS.has(node.opType ?? ''),
    (opType) => SHAPE_PRESERVING_UNARY.has(opType) || POOLING.has(opType),
  );
}

/** Picks the candidate positions: module structure when names provide it, else merges, else conv units. */
export function selectCandidatePositions(input: SelectionInput): {
  positions: CutPosition[];
  strategy: CandidateStrategy;
} {
  const fromModules = byModules(input);
  if (fromModules.length > 0) return { positions: fromModules, strategy: 'module-paths' };
  const fromMerges = byMergePoints(input);
  if (fromMerges.length > 0) return { positions: fromMerges, strategy: 'merge-points' };
  return { positions: byConvChain(input), strategy: 'conv-chain' };
}
