/**
 * The dataflow IR: a straight-line graph over [tokens x channels] activations. Every node
 * produces one value named after the node; the graph input is one more value. Nodes are
 * listed in topological order so evaluation and analysis are single forward sweeps.
 */
import { UserError } from "../core/errors.js";
import type { Param } from "./params.js";

export type Op = "linear" | "rmsnorm" | "layernorm" | "attention" | "add" | "mul" | "silu" | "relu" | "softmax" | "reorder";

export const OPS: readonly Op[] = ["linear", "rmsnorm", "layernorm", "attention", "add", "mul", "silu", "relu", "softmax", "reorder"];

interface Base {
  name: string;
  /** Value names read by the node; attention reads [q, k, v]. */
  inputs: string[];
}

export interface LinearNode extends Base {
  op: "linear";
  /** Output channels N; the weight is [K_in x N]. */
  out: number;
  weight: Param;
  bias?: Param;
  /** TOBE permutation of the input channels this linear's weight rows carry (metadata for the quantizer). */
  perm?: number[];
}

export interface NormNode extends Base {
  op: "rmsnorm" | "layernorm";
  eps: number;
  gamma: Param;
  /** LayerNorm only. */
  beta?: Param;
  /**
   * Permuted output addressing: out[:, i] = gamma[i] * nhat[:, outPerm[i]] + beta[i], where nhat
   * is the input row normalised as stored (its statistics do not depend on channel order).
   */
  outPerm?: number[];
}

export interface AttentionNode extends Base {
  op: "attention";
  heads: number;
  causal: boolean;
}

export interface SoftmaxNode extends Base {
  op: "softmax";
  /** Softmax runs over each of `groups` equal contiguous channel groups. */
  groups: number;
}

export interface ReorderNode extends Base {
  op: "reorder";
  /** Explicit gather: out[:, i] = in[:, perm[i]]. The thing the pass removes. */
  perm: number[];
}

export interface ElementwiseNode extends Base {
  op: "add" | "mul" | "silu" | "relu";
}

export type Node = LinearNode | NormNode | AttentionNode | SoftmaxNode | ReorderNode | ElementwiseNode;

export interface Graph {
  name: string;
  input: { name: string; channels: number };
  outputs: string[];
  nodes: Node[];
}

export const ARITY: Record<Op, number> = {
  linear: 1,
  rmsnorm: 1,
  layernorm: 1,
  attention: 3,
  add: 2,
  mul: 2,
  silu: 1,
  relu: 1,
  softmax: 1,
  reorder: 1,
};

export interface Analysis {
  channels: Map<string, number>;
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
}

/**
 * Checks names, arity, order and channel counts, and indexes producers and consumers.
 * Every structural mistake is a UserError naming the node.
 */
export function analyze(g: Graph): Analysis {
  const channels = new Map<string, number>();
  const producer = new Map<string, Node>();
  const consumers = new Map<string, Node[]>();
  const { name: inName, channels: inC } = g.input;
  if (!Number.isInteger(inC) || inC < 1) throw new UserError(`graph input '${inName}': channels must be a positive integer, got ${inC}`);
  channels.set(inName, inC);
  consumers.set(inName, []);
  for (const n of g.nodes) {
    if (channels.has(n.name)) throw new UserError(`node '${n.name}': name is already used by the graph input or an earlier node`);
    if (n.inputs.length !== ARITY[n.op]) {
      throw new UserError(`node '${n.name}' (${n.op}): needs ${ARITY[n.op]} input(s), got ${n.inputs.length}`);
    }
    const cin = n.inputs.map((v) => {
      const c = channels.get(v);
      if (c === undefined) throw new UserError(`node '${n.name}': input '${v}' is not the graph input or an earlier node (nodes must be in topological order)`);
      return c;
    });
    channels.set(n.name, outChannels(n, cin));
    producer.set(n.name, n);
    consumers.set(n.name, []);
    for (const v of new Set(n.inputs)) consumers.get(v)!.push(n);
  }
  if (g.outputs.length === 0) throw new UserError(`graph '${g.name}': lists no outputs`);
  for (const o of g.outputs) if (!channels.has(o)) throw new UserError(`graph output '${o}' is not a value of the graph`);
  return { channels, producer, consumers };
}

function outChannels(n: Node, cin: number[]): number {
  const where = `node '${n.name}' (${n.op})`;
  switch (n.op) {
    case "linear":
      checkDims(n.weight.dims, [cin[0], n.out], `${where} weight`);
      if (n.bias) checkDims(n.bias.dims, [n.out], `${where} bias`);
      return n.out;
    case "rmsnorm":
    case "layernorm":
      checkDims(n.gamma.dims, [cin[0]], `${where} gamma`);
      if (n.op === "layernorm" && !n.beta) throw new UserError(`${where}: layernorm needs beta`);
      if (n.op === "rmsnorm" && n.beta) throw new UserError(`${where}: rmsnorm has no beta`);
      if (n.beta) checkDims(n.beta.dims, [cin[0]], `${where} beta`);
      if (!(n.eps > 0)) throw new UserError(`${where}: eps must be > 0, got ${n.eps}`);
      return cin[0];
    case "attention": {
      const [q, k, v] = cin;
      if (!Number.isInteger(n.heads) || n.heads < 1) throw new UserError(`${where}: heads must be a positive integer, got ${n.heads}`);
      if (q !== k) throw new UserError(`${where}: q has ${q} channels but k has ${k}`);
      if (q % n.heads || v % n.heads) throw new UserError(`${where}: q (${q}) and v (${v}) channels must divide into ${n.heads} heads`);
      return v;
    }
    case "softmax":
      if (!Number.isInteger(n.groups) || n.groups < 1 || cin[0] % n.groups) {
        throw new UserError(`${where}: groups = ${n.groups} must be a positive divisor of its ${cin[0]} channels`);
      }
      return cin[0];
    case "reorder":
      if (n.perm.length !== cin[0]) throw new UserError(`${where}: perm has ${n.perm.length} entries for ${cin[0]} channels`);
      return cin[0];
    case "add":
    case "mul":
      if (cin[0] !== cin[1]) throw new UserError(`${where}: inputs have ${cin[0]} and ${cin[1]} channels`);
      return cin[0];
    case "silu":
    case "relu":
      return cin[0];
  }
}

function checkDims(got: readonly number[], want: readonly number[], what: string): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new UserError(`${what}: dims [${got.join(", ")}] do not match the expected [${want.join(", ")}]`);
  }
}

export function linears(g: Graph): LinearNode[] {
  return g.nodes.filter((n): n is LinearNode => n.op === "linear");
}

export function countReorders(g: Graph): number {
  return g.nodes.filter((n) => n.op === "reorder").length;
}
