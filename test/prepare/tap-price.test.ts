import { ensureSharedArena } from '../../core/inference/shared-arena';
import { rampOutputName, featureSize, type RampAttachment } from '../../core/onnx/ramp-heads';
import { tappedModel } from '../../core/onnx/exit-taps';
import { analyzeGraph, type GraphAnalysis } from '../../core/onnx/graph-analysis';
import { readOnnxModel } from '../../core/onnx/onnx-model';
import { parseMemberKey } from '../../core/onnx/ramp-members';
import { addedNodesMs, nodeSignatures, optimisedGraph, tapGraph } from '../../core/prepare/tap-price';
import { fixtureBatch } from '../support/fixture-batch';

const OPTIONS = { intraOpThreads: 1, blocking: true } as const;

/** A ramp reading `activation` (shaped as the analysis has it), zero weights: only its shape matters here. */
function rampOn(analysis: GraphAnalysis, activation: string, id: string, classes: number): RampAttachment {
  const info = analysis.tensors.get(activation);
  if (!info) throw new Error(`no shape for ${activation}`);
  const member = parseMemberKey('avg1');
  return {
    activation,
    member,
    weights: new Float32Array(featureSize(member, info.shape) * classes),
    bias: new Float32Array(classes),
    outputName: rampOutputName(id),
    attentionMask: null,
  };
}

describe('node signatures', () => {
  /** x → Relu → (tensor named `middle`) → Transpose(perm) → y, nodes listed in `order`. */
  const graph = (middle: string, perm: number[], order: 'forward' | 'backward') => {
    const nodes = [
      { opType: 'Relu', name: 'a', input: ['x'], output: [middle] },
      {
        opType: 'Transpose',
        name: 'b',
        input: [middle],
        output: ['y'],
        attribute: [{ name: 'perm', type: 7, ints: perm }],
      },
    ];
    return { input: [{ name: 'x' }], node: order === 'forward' ? nodes : nodes.reverse() };
  };
  const signed = (g: ReturnType<typeof graph>) => [...nodeSignatures(g).values()].sort();

  it('ignore the names of intermediate tensors and the order nodes are listed in, not what they compute', () => {
    // Then renaming the tensor between the nodes, as onnxruntime's generated names shift, or
    // listing the nodes backwards changes no signature, and another attribute value does
    const base = signed(graph('reorder_token_4', [1, 0], 'forward'));
    expect(signed(graph('reorder_token_5', [1, 0], 'backward'))).toEqual(base);
    expect(signed(graph('reorder_token_4', [0, 1], 'forward'))).not.toEqual(base);
    expect(new Set(base).size).toBe(2);
  });
});

describe('a tap priced from the graph onnxruntime runs', () => {
  beforeAll(() => {
    ensureSharedArena();
  });

  it('finds only the ramp nodes added where a candidate is tapped, and times them inside the run', async () => {
    // Given mnist-resnet tapped at its first candidate
    const { fixture, feeds } = await fixtureBatch('mnist-resnet', 8);
    const model = await readOnnxModel(fixture.onnxPath);
    const analysis = await analyzeGraph(model);
    const candidate = analysis.candidates[0];
    if (!candidate) throw new Error('mnist-resnet has candidates');
    const tapped = tappedModel(model, analysis, [
      rampOn(analysis, candidate.tensor, candidate.id, fixture.spec.classes.length),
    ]);
    const whole = await optimisedGraph(fixture.onnxPath, OPTIONS);

    // When the optimised graphs are compared
    const graph = await tapGraph(whole, tapped, OPTIONS);

    // Then every node of the whole model is kept, and what is added is the ramp's head (and at
    // most a layout reorder feeding it), never a node of the model
    if (graph.kind !== 'added') throw new Error(`expected the graph kept, lost ${graph.lost}`);
    const head = graph.added.filter((name) => name.includes(rampOutputName(candidate.id)));
    expect(head.length).toBeGreaterThanOrEqual(2);
    expect(graph.added.length - head.length).toBeLessThanOrEqual(1);
    expect([...whole.keys()].map((node) => node.name)).not.toEqual(expect.arrayContaining(graph.added));
    // And those nodes take time inside the run, a small part of it
    const ms = await addedNodesMs(graph, feeds, 2, 5, OPTIONS);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(50);
  });

  it('says which node was lost where a ramp reads a tensor onnxruntime would fuse away', async () => {
    // Given mnist-resnet with a ramp on a convolution's output that only a Relu reads (a pair
    // onnxruntime fuses into one node when nothing else reads the convolution's output)
    const { fixture } = await fixtureBatch('mnist-resnet', 1);
    const model = await readOnnxModel(fixture.onnxPath);
    const analysis = await analyzeGraph(model);
    const nodes = model.graph?.node ?? [];
    const readers = (tensor: string) => nodes.filter((node) => (node.input ?? []).includes(tensor));
    const conv = nodes.find((node) => {
      const out = node.output?.[0] ?? '';
      const read = readers(out);
      return (
        node.opType === 'Conv' && read.length === 1 && read[0]?.opType === 'Relu' && analysis.tensors.has(out)
      );
    });
    if (!conv) throw new Error('mnist-resnet has a Conv read only by a Relu');
    const tapped = tappedModel(model, analysis, [
      rampOn(analysis, conv.output?.[0] as string, 'inside', fixture.spec.classes.length),
    ]);

    // When the optimised graphs are compared
    const graph = await tapGraph(await optimisedGraph(fixture.onnxPath, OPTIONS), tapped, OPTIONS);

    // Then the fused node is reported lost: such a tap is timed, not priced from the graph
    expect(graph.kind).toBe('changed');
    expect(graph.kind === 'changed' ? graph.lost : '').toMatch(/^Conv \S/);
  });
});
