// Shared fixtures for the dataflow tests (not a test file itself).
import { Rng } from "../src/core/rng.js";
import type { Tensor } from "../src/core/tensor.js";
import { buildBlocks, type Arch, type BlockConfig } from "../src/dataflow/blocks.js";
import { evaluate, outputs } from "../src/dataflow/eval.js";
import { analyze, type Graph } from "../src/dataflow/graph.js";
import type { FloatArray, Precision } from "../src/dataflow/params.js";

export const SMALL = { dModel: 64, heads: 4, ffn: 172, tokens: 8 };

export function small(arch: Arch, layers = 1, extra: Partial<BlockConfig> = {}): Graph {
  return buildBlocks({ arch, dModel: SMALL.dModel, heads: SMALL.heads, ffn: SMALL.ffn, layers, seed: 11, eps: 1e-5, bias: arch === "opt", ...extra });
}

export function input(tokens: number, channels: number, seed = 3): Tensor {
  const rng = new Rng(seed);
  const data = new Float32Array(tokens * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * (i % channels === 5 ? 20 : 1); // one outlier channel
  return { shape: [tokens, channels], data };
}

export function shuffle(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Random order within each block of `size` channels, blocks optionally shuffled by `rho`. */
export function blockShuffle(n: number, size: number, rng: Rng, rho?: number[]): number[] {
  const blocks = n / size;
  const order = rho ?? Array.from({ length: blocks }, (_, i) => i);
  return order.flatMap((b) => shuffle(size, rng).map((j) => b * size + j));
}

/** Random permutations shaped like a real TOBE assignment: one per norm output, within heads for o_proj. */
export function randomPerms(g: Graph, seed: number, opts: { oProj?: "within" | "heads" | "any" } = {}): Map<string, number[]> {
  const rng = new Rng(seed);
  const byInput = new Map<string, number[]>();
  const perms = new Map<string, number[]>();
  const { channels } = analyze(g);
  for (const n of g.nodes) {
    if (n.op !== "linear") continue;
    const v = n.inputs[0];
    if (!byInput.has(v)) {
      const att = g.nodes.find((a) => a.name === v && a.op === "attention");
      const k = channels.get(v)!;
      if (att && att.op === "attention") {
        const size = k / att.heads;
        const mode = opts.oProj ?? "within";
        byInput.set(v, mode === "any" ? shuffle(k, rng) : blockShuffle(k, size, rng, mode === "heads" ? shuffle(att.heads, rng) : undefined));
      } else {
        byInput.set(v, shuffle(k, rng));
      }
    }
    perms.set(n.name, byInput.get(v)!);
  }
  return perms;
}

export function run(g: Graph, x: Tensor, precision: Precision = "f64"): FloatArray[] {
  return outputs(g, evaluate(g, x, { precision }));
}

/** max |a - b| / max |b|: one number for a whole output, insensitive to where values are near zero. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}
