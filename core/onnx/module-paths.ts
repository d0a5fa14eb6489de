/**
 * Repeated modules, recovered from node names. Exporters name nodes after the module that made
 * them (`/blocks/blocks.3/conv1/Conv`, `/encoder/layers.2/attention/MatMul`), and a container of
 * numbered modules (`blocks.0`..`blocks.8`, `layers.0`..`layers.5`) is how models spell "the same
 * block, repeated": residual blocks, inverted-residual blocks, encoder layers. Their ends are where a user expects ramps, so
 * candidates follow them when the names allow, without any model-specific code.
 */
import type { onnx } from 'onnx-proto';

/** One numbered module and the span of topological positions its (non-static) nodes occupy. */
export interface IndexedModule {
  /** Path up to and including the numbered segment, e.g. `blocks/blocks.3`. */
  readonly path: string;
  /** Path depth of the numbered segment (0 for `layers.3/...`). */
  readonly depth: number;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly nodeCount: number;
}

/**
 * A numbered module: `blocks.3` (torch's Sequential and ModuleList) or `encoder_layer_3` (modules
 * named in an OrderedDict, as torchvision's ViT does). Bare trailing digits (`conv1`, `layer1`) are
 * names of single modules, not positions in a container, and do not count.
 */
const NUMBERED_SEGMENT = /^(.*\S)[._](\d+)$/;

interface ModuleSpan {
  path: string;
  container: string;
  depth: number;
  firstPosition: number;
  lastPosition: number;
  nodeCount: number;
}

function collectSpans(
  ordered: readonly onnx.INodeProto[],
  isStatic: (index: number) => boolean,
): ModuleSpan[] {
  const spans = new Map<string, ModuleSpan>();
  ordered.forEach((node, index) => {
    if (isStatic(index)) return;
    const segments = (node.name ?? '').split('/').filter((segment) => segment !== '');
    // The last segment names the operator itself, not a module.
    for (let depth = 0; depth < segments.length - 1; depth++) {
      const match = NUMBERED_SEGMENT.exec(segments[depth] as string);
      if (!match) continue;
      const path = segments.slice(0, depth + 1).join('/');
      const span = spans.get(path);
      if (span) {
        span.lastPosition = Math.max(span.lastPosition, index);
        span.firstPosition = Math.min(span.firstPosition, index);
        span.nodeCount += 1;
      } else {
        const container = [...segments.slice(0, depth), match[1] as string].join('/');
        spans.set(path, { path, container, depth, firstPosition: index, lastPosition: index, nodeCount: 1 });
      }
    }
  });
  return [...spans.values()];
}

/**
 * The levels of numbered modules that could describe the model's repeated blocks, each in order.
 *
 * Only modules with at least two nodes count: a numbered module wrapping a single operator (the
 * `0`, `1`, `2` of a `Sequential(Conv, BatchNorm, ReLU)` stem or shortcut) is a layer, not a block.
 * A container counts when it holds at least two such modules. Containers are grouped by path depth
 * (so `layer1.*`..`layer4.*` of a torchvision ResNet form one level). Which level wins is decided
 * by where the candidates fall (see candidate-selection); the list is shallow to deep, and empty
 * when names carry no such structure.
 */
export function findModuleLevels(
  ordered: readonly onnx.INodeProto[],
  isStatic: (index: number) => boolean,
): IndexedModule[][] {
  const composite = collectSpans(ordered, isStatic).filter((span) => span.nodeCount >= 2);
  const byContainer = new Map<string, ModuleSpan[]>();
  for (const span of composite) {
    const key = `${span.depth}|${span.container}`;
    byContainer.set(key, [...(byContainer.get(key) ?? []), span]);
  }
  const byDepth = new Map<number, ModuleSpan[]>();
  for (const members of byContainer.values()) {
    if (members.length < 2) continue;
    const depth = (members[0] as ModuleSpan).depth;
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), ...members]);
  }
  return [...byDepth.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, members]) =>
      members
        .sort((a, b) => a.lastPosition - b.lastPosition)
        .map(({ path, depth, firstPosition, lastPosition, nodeCount }) => ({
          path,
          depth,
          firstPosition,
          lastPosition,
          nodeCount,
        })),
    );
}
