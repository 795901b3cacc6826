/**
 * Plausible TOBE permutations for planning and tests: salient (largest-magnitude) channels
 * spread round-robin over fixed-size tiles and placed first in each tile, the rest in
 * original order. Importance comes from calibration activations or from a seed. By default
 * a permutation is derived within the blocks its position allows folding across (the heads
 * of the attention feeding o_proj), so the derived orders fold completely.
 */
import { UserError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import { layoutClasses } from "./classes.js";
import { evaluate, type Activation } from "./eval.js";
import type { Graph } from "./graph.js";

export interface DeriveOptions {
  /** Fraction of channels treated as salient (default 0.01). */
  salientRatio?: number;
  /** TOBE tile size in channels: the array's channel capacity (default 64). */
  tile?: number;
  /** Keep o_proj-style permutations within heads so they fold into v (default true). */
  headAware?: boolean;
}

export type ImportanceSource = { seed: number } | { calibration: Activation };

/** Salient-first tile layout of one segment's channels, repeated for every segment. */
export function tobeLikePermutation(importance: ArrayLike<number>, opts: { segment?: number; tile?: number; salientRatio?: number } = {}): number[] {
  const k = importance.length;
  const seg = opts.segment ?? k;
  const tile = opts.tile ?? 64;
  const ratio = opts.salientRatio ?? 0.01;
  if (!Number.isInteger(seg) || seg < 1 || k % seg) throw new UserError(`segment ${seg} must divide the ${k} channels`);
  if (!Number.isInteger(tile) || tile < 1) throw new UserError(`tile size must be a positive integer, got ${tile}`);
  if (!(ratio >= 0 && ratio <= 1)) throw new UserError(`salient ratio ${ratio} must be in 0..1`);
  const perm: number[] = [];
  for (let s0 = 0; s0 < k; s0 += seg) {
    const tiles = Math.ceil(seg / Math.min(tile, seg));
    const cap = Math.ceil(seg / tiles);
    const slots: number[][] = Array.from({ length: tiles }, () => []);
    const room = (t: number) => Math.min(cap, seg - t * cap) - slots[t].length;
    const chans = Array.from({ length: seg }, (_, i) => s0 + i);
    const salient = [...chans].sort((a, b) => Math.abs(importance[b]) - Math.abs(importance[a]) || a - b).slice(0, Math.round(ratio * seg));
    const isSalient = new Set(salient);
    let t = 0;
    for (const c of salient) {
      while (room(t % tiles) <= 0) t++;
      slots[t++ % tiles].push(c);
    }
    t = 0;
    for (const c of chans) {
      if (isSalient.has(c)) continue;
      while (room(t) <= 0) t++;
      slots[t].push(c);
    }
    for (const s of slots) perm.push(...s);
  }
  return perm;
}

/** Heavy-tailed channel magnitudes: about 1% of channels are 10-50x outliers, as in LLM activations. */
export function seededImportance(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.abs(rng.normal()) * (rng.next() < 0.01 ? 10 + 40 * rng.next() : 1);
  return v;
}

/** A permutation for every linear of `g`. Linears reading one value get one permutation. */
export function derivePermutations(g: Graph, source: ImportanceSource, opts: DeriveOptions = {}): Map<string, number[]> {
  const cl = layoutClasses(g);
  const values = "calibration" in source ? evaluate(g, source.calibration).values : undefined;
  const index = new Map([g.input.name, ...g.nodes.map((n) => n.name)].map((v, i) => [v, i]));
  const perms = new Map<string, number[]>();
  const byValue = new Map<string, number[]>();
  for (const n of g.nodes) {
    if (n.op !== "linear") continue;
    const v = n.inputs[0];
    let p = byValue.get(v);
    if (!p) {
      const k = cl.analysis.channels.get(v)!;
      const imp = values ? channelMax(values.get(v)!, k) : seededImportance(k, ((("seed" in source ? source.seed : 0) * 7919) ^ index.get(v)!) >>> 0);
      p = tobeLikePermutation(imp, { ...opts, segment: opts.headAware === false ? k : foldSegment(cl, v, k) });
      byValue.set(v, p);
    }
    perms.set(n.name, p);
  }
  return perms;
}

/** Largest block a permutation of `v` may stay within and still fold: gcd of its head and softmax-group sizes. */
function foldSegment(cl: ReturnType<typeof layoutClasses>, v: string, k: number): number {
  const c = cl.of.get(v)!;
  let seg = k;
  for (const a of c.vOf) seg = gcd(seg, cl.analysis.channels.get(a.name)! / a.heads);
  for (const s of c.groupings) seg = gcd(seg, k / s.groups);
  return seg;
}

function gcd(a: number, b: number): number {
  return b ? gcd(b, a % b) : a;
}

function channelMax(x: ArrayLike<number>, k: number): Float64Array {
  const m = new Float64Array(k);
  for (let i = 0; i < x.length; i++) m[i % k] = Math.max(m[i % k], Math.abs(x[i]));
  return m;
}
