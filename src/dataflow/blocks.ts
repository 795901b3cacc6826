/**
 * Builders for stacks of LLaMA-style and OPT-style (pre-LN) decoder blocks, with seeded
 * weights so even LLaMA-7B-shaped graphs are a few kilobytes until someone evaluates them.
 */
import { UserError } from "../core/errors.js";
import type { Graph, Node } from "./graph.js";
import type { Param } from "./params.js";

export type Arch = "llama" | "opt";

export interface BlockConfig {
  arch: Arch;
  dModel: number;
  heads: number;
  ffn: number;
  /** Blocks in the stack. */
  layers: number;
  seed: number;
  eps: number;
  /** Biases on every linear (OPT has them, LLaMA does not). */
  bias: boolean;
  name?: string;
}

export const EXAMPLES: Record<string, BlockConfig> = {
  llama7b: { arch: "llama", dModel: 4096, heads: 32, ffn: 11008, layers: 1, seed: 7, eps: 1e-6, bias: false, name: "llama7b-block" },
  "opt6.7b": { arch: "opt", dModel: 4096, heads: 32, ffn: 16384, layers: 1, seed: 67, eps: 1e-5, bias: true, name: "opt6.7b-block" },
};

export function exampleNames(): string[] {
  return Object.keys(EXAMPLES);
}

export function example(name: string): BlockConfig {
  const cfg = EXAMPLES[name];
  if (!cfg) throw new UserError(`unknown example '${name}' (known: ${exampleNames().join(", ")})`);
  return cfg;
}

export function checkBlockConfig(c: BlockConfig, where: string): void {
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`${where}: ${what} must be a positive integer, got ${JSON.stringify(v)}`);
  };
  if (c.arch !== "llama" && c.arch !== "opt") throw new UserError(`${where}: arch must be "llama" or "opt", got ${JSON.stringify(c.arch)}`);
  posInt(c.dModel, "dModel");
  posInt(c.heads, "heads");
  posInt(c.ffn, "ffn");
  posInt(c.layers, "layers");
  if (c.dModel % c.heads) throw new UserError(`${where}: dModel ${c.dModel} is not divisible by heads ${c.heads}`);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new UserError(`${where}: seed must be a non-negative integer, got ${c.seed}`);
  if (!(c.eps > 0)) throw new UserError(`${where}: eps must be > 0, got ${c.eps}`);
}

/** Expands a block stack into an explicit graph; every parameter gets its own explicit seed. */
export function buildBlocks(c: BlockConfig): Graph {
  checkBlockConfig(c, c.name ?? "block config");
  let counter = 0;
  const seed = () => (c.seed * 1000 + counter++) >>> 0;
  const normal = (dims: number[], mean: number, std: number): Param => ({ dims, source: { kind: "normal", seed: seed(), mean, std } });
  const nodes: Node[] = [];
  const d = c.dModel;
  const lin = (name: string, input: string, k: number, n: number) =>
    nodes.push({
      op: "linear",
      name,
      inputs: [input],
      out: n,
      weight: normal([k, n], 0, 1 / Math.sqrt(k)),
      ...(c.bias ? { bias: normal([n], 0, 0.05) } : {}),
    });
  const norm = (name: string, input: string) =>
    nodes.push(
      c.arch === "llama"
        ? { op: "rmsnorm", name, inputs: [input], eps: c.eps, gamma: normal([d], 1, 0.1) }
        : { op: "layernorm", name, inputs: [input], eps: c.eps, gamma: normal([d], 1, 0.1), beta: normal([d], 0, 0.1) },
    );
  const names = c.arch === "llama" ? LLAMA : OPT;
  let x = "x";
  for (let b = 0; b < c.layers; b++) {
    const p = (s: string) => `b${b}.${s}`;
    norm(p(names.norm1), x);
    for (const proj of ["q_proj", "k_proj", "v_proj"]) lin(p(proj), p(names.norm1), d, d);
    nodes.push({ op: "attention", name: p("attn"), inputs: [p("q_proj"), p("k_proj"), p("v_proj")], heads: c.heads, causal: true });
    lin(p(names.out), p("attn"), d, d);
    nodes.push({ op: "add", name: p("attn_res"), inputs: [x, p(names.out)] });
    norm(p(names.norm2), p("attn_res"));
    let hidden: string;
    if (c.arch === "llama") {
      lin(p("gate_proj"), p(names.norm2), d, c.ffn);
      lin(p("up_proj"), p(names.norm2), d, c.ffn);
      nodes.push({ op: "silu", name: p("act"), inputs: [p("gate_proj")] });
      nodes.push({ op: "mul", name: p("gated"), inputs: [p("act"), p("up_proj")] });
      hidden = p("gated");
    } else {
      lin(p("fc1"), p(names.norm2), d, c.ffn);
      nodes.push({ op: "relu", name: p("act"), inputs: [p("fc1")] });
      hidden = p("act");
    }
    lin(p(names.down), hidden, c.ffn, d);
    nodes.push({ op: "add", name: p("ffn_res"), inputs: [p("attn_res"), p(names.down)] });
    x = p("ffn_res");
  }
  return { name: c.name ?? `${c.arch}-x${c.layers}`, input: { name: "x", channels: d }, outputs: [x], nodes };
}

const LLAMA = { norm1: "input_layernorm", out: "o_proj", norm2: "post_attention_layernorm", down: "down_proj" };
const OPT = { norm1: "self_attn_layer_norm", out: "out_proj", norm2: "final_layer_norm", down: "fc2" };
