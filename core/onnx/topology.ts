/**
 * Topological order of a graph's nodes. Cut positions are indices into this order, so it must be
 * deterministic: exporters already write nodes in a valid order, and this keeps that order whenever
 * it is valid (Kahn's algorithm always taking the lowest original index), repairing it only when a
 * file lists a node before one it depends on.
 */
import { onnx } from 'onnx-proto';
import { InputError } from '../errors';

/**
 * Every tensor a node reads, including names that nodes inside its subgraphs (If, Loop, Scan)
 * take from the outer graph: moving the node into a segment must move those tensors too.
 */
export function nodeInputs(node: onnx.INodeProto): string[] {
  const inputs = (node.input ?? []).filter((name) => name !== '');
  for (const attribute of node.attribute ?? []) {
    const graphs = [...(attribute.g ? [attribute.g] : []), ...(attribute.graphs ?? [])];
    for (const graph of graphs) inputs.push(...outerScopeReads(graph));
  }
  return [...new Set(inputs)];
}

function outerScopeReads(graph: onnx.IGraphProto): string[] {
  const defined = new Set<string>([
    ...(graph.input ?? []).map((info) => info.name ?? ''),
    ...(graph.initializer ?? []).map((tensor) => tensor.name ?? ''),
    ...(graph.sparseInitializer ?? []).map((tensor) => tensor.values?.name ?? ''),
  ]);
  for (const node of graph.node ?? []) for (const name of node.output ?? []) defined.add(name);
  const reads: string[] = [];
  for (const node of graph.node ?? []) {
    for (const name of nodeInputs(node)) if (!defined.has(name)) reads.push(name);
  }
  return reads;
}

/** The node outputs that are real tensors (optional outputs may be left as empty names). */
export function nodeOutputs(node: onnx.INodeProto): string[] {
  return (node.output ?? []).filter((name) => name !== '');
}

/**
 * Orders the nodes so that every node comes after the producers of what it reads. `available`
 * holds the names defined before any node runs (graph inputs and initializers). A read of a name
 * nothing defines, or a cycle, is a broken model and is refused with the node's name.
 */
export function topologicalOrder(
  nodes: readonly onnx.INodeProto[],
  available: ReadonlySet<string>,
): onnx.INodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((node, index) => {
    for (const name of nodeOutputs(node)) producer.set(name, index);
  });
  const waitingOn = new Array<number>(nodes.length).fill(0);
  const consumers: number[][] = nodes.map(() => []);
  nodes.forEach((node, index) => {
    for (const name of nodeInputs(node)) {
      const from = producer.get(name);
      if (from === undefined) {
        if (available.has(name)) continue;
        throw new InputError(
          `the model's node ${node.name || node.opType || index} reads tensor ${name}, which no node, graph input or initializer defines; the model is malformed`,
        );
      }
      waitingOn[index] = (waitingOn[index] as number) + 1;
      (consumers[from] as number[]).push(index);
    }
  });
  // A binary heap keyed on original index keeps the exporter's order wherever it is valid.
  const ready = new MinHeap();
  waitingOn.forEach((count, index) => {
    if (count === 0) ready.push(index);
  });
  const order: onnx.INodeProto[] = [];
  for (let index = ready.pop(); index !== undefined; index = ready.pop()) {
    order.push(nodes[index] as onnx.INodeProto);
    for (const next of consumers[index] as number[]) {
      const left = (waitingOn[next] as number) - 1;
      waitingOn[next] = left;
      if (left === 0) ready.push(next);
    }
  }
  if (order.length !== nodes.length) {
    throw new InputError(
      `the model's graph has a cycle among ${nodes.length - order.length} nodes; only acyclic ONNX graphs are supported`,
    );
  }
  return order;
}

class MinHeap {
  private readonly items: number[] = [];

  push(value: number): void {
    const items = this.items;
    items.push(value);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if ((items[parent] as number) <= value) break;
      items[at] = items[parent] as number;
      at = parent;
    }
    items[at] = value;
  }

  pop(): number | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && (items[right] as number) < (items[left] as number) ? right : left;
      if ((items[child] as number) >= last) break;
      items[at] = items[child] as number;
      at = child;
    }
    items[at] = last;
    return top;
  }
}
