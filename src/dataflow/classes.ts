/**
 * Layout classes: values that must share one channel order because an op between them
 * commutes with a channel permutation only when all its operands are permuted alike
 * (elementwise ops, softmax, attention's v -> output). A class's order is free when every
 * value in it traces back to a linear (output columns) or a norm (output addressing), and
 * pinned to the original order when it reaches the graph input or an output.
 */
import { analyze, type Analysis, type AttentionNode, type Graph, type LinearNode, type Node, type SoftmaxNode } from "./graph.js";

export interface LayoutClass {
  id: number;
  /** Member values, in graph order. */
  values: string[];
  /** Producers whose output order is free: linears (columns) and norms (addressing). */
  sources: Node[];
  /** Layout-transparent ops inside the class (what a permutation passes through). */
  through: Node[];
  /** Members pinned to original order, with why. */
  fixed: Array<{ value: string; what: "graph input" | "graph output" }>;
  /** Softmaxes inside the class: a permutation may only move whole groups. */
  groupings: SoftmaxNode[];
  /** Attentions whose v (and output) are in the class: a permutation may only move within or whole heads. */
  vOf: AttentionNode[];
  /** Attentions reading q or k from the class: the order follows that attention's head order. */
  qkOf: AttentionNode[];
  /** Linears reading a member, in graph order. */
  consumers: LinearNode[];
}

export interface Classes {
  analysis: Analysis;
  list: LayoutClass[];
  of: Map<string, LayoutClass>;
  /** Same-order ties, for explaining refusals: value -> [(other value, the op tying them)]. */
  ties: Map<string, Array<{ to: string; node: Node }>>;
}

export function layoutClasses(g: Graph): Classes {
  const analysis = analyze(g);
  const values = [g.input.name, ...g.nodes.map((n) => n.name)];
  const parent = new Map(values.map((v) => [v, v]));
  const find = (v: string): string => {
    let r = v;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(v, r);
    return r;
  };
  const ties = new Map<string, Array<{ to: string; node: Node }>>(values.map((v) => [v, []]));
  const tie = (a: string, b: string, node: Node) => {
    parent.set(find(a), find(b));
    ties.get(a)!.push({ to: b, node });
    ties.get(b)!.push({ to: a, node });
  };
  for (const n of g.nodes) {
    switch (n.op) {
      case "add":
      case "mul":
      case "silu":
      case "relu":
      case "softmax":
        for (const i of n.inputs) tie(i, n.name, n);
        break;
      case "attention":
        // Attention mixes tokens, not channels: output channel c is a weighted sum of v channel c.
        tie(n.inputs[2], n.name, n);
        break;
      default:
        break;
    }
  }
  const byRoot = new Map<string, LayoutClass>();
  const of = new Map<string, LayoutClass>();
  const list: LayoutClass[] = [];
  for (const v of values) {
    const root = find(v);
    let c = byRoot.get(root);
    if (!c) {
      c = { id: list.length, values: [], sources: [], through: [], fixed: [], groupings: [], vOf: [], qkOf: [], consumers: [] };
      byRoot.set(root, c);
      list.push(c);
    }
    c.values.push(v);
    of.set(v, c);
  }
  of.get(g.input.name)!.fixed.push({ value: g.input.name, what: "graph input" });
  for (const o of g.outputs) of.get(o)!.fixed.push({ value: o, what: "graph output" });
  for (const n of g.nodes) {
    const own = of.get(n.name)!;
    if (n.op === "linear" || n.op === "rmsnorm" || n.op === "layernorm") own.sources.push(n);
    else if (n.op !== "reorder") own.through.push(n);
    if (n.op === "softmax") own.groupings.push(n);
    if (n.op === "attention") {
      own.vOf.push(n);
      for (const qk of new Set([n.inputs[0], n.inputs[1]])) of.get(qk)!.qkOf.push(n);
    }
    if (n.op === "linear") of.get(n.inputs[0])!.consumers.push(n);
  }
  return { analysis, list, of, ties };
}

/** The ties leading from `from` to `to` within a class (breadth-first, so the shortest explanation). */
export function tiePath(cl: Classes, from: string, to: string): Array<{ from: string; to: string; node: Node }> {
  const prev = new Map<string, { v: string; node: Node } | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const v = queue.shift()!;
    if (v === to) break;
    for (const t of cl.ties.get(v)!) {
      if (!prev.has(t.to)) {
        prev.set(t.to, { v, node: t.node });
        queue.push(t.to);
      }
    }
  }
  const path: Array<{ from: string; to: string; node: Node }> = [];
  for (let v = to, p = prev.get(v); p; v = p.v, p = prev.get(v)) path.unshift({ from: p.v, to: v, node: p.node });
  return path;
}
