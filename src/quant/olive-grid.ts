/**
 * OliVe's released 4-bit grids, rounding, outlier-victim pairing and scale search (Guo et al.,
 * ISCA 2023; clevercool/ANT-Quantization, olive_quantization/antquant/quant_modules.py, mode
 * "ant-int-flint"): the part of "OliVe as released" (olive.ts) that the OVP hardware's
 * quantizer shares, so the benchmark and the co-simulated images encode the same values.
 */
import type { Tensor } from "../core/tensor.js";

export type OliveType = "int" | "flint";

export interface OliveGrid {
  /** Normal magnitudes, ascending, on the common grid (largest 28, 30 or 32). */
  normals: number[];
  /** Outlier (abfloat) magnitudes, ascending. */
  outliers: number[];
  /** A step every grid point is an integer multiple of. */
  unit: number;
}

/** The outlier threshold of the common grid: larger magnitudes are outliers. */
export const OLIVE_THRESHOLD = 32;

/**
 * The release's 4-bit grids, derived from its construction: `signed` (a tensor with negative
 * values) leaves 3 value bits, unsigned 4. int: magnitudes 1..2^B-1 scaled so 2^B maps to 32.
 * flint: a first-one exponent code (exponents -(B-1)..B-1 with ever fewer mantissa bits, plus
 * 2^(B-1) as its largest value) scaled so the largest maps to 32. abfloat outliers: exponent
 * bits 2, mantissa bits B-2, exponents 5..8, the smallest code (32) left out.
 */
export function oliveGrid(t: OliveType, signed: boolean): OliveGrid {
  const B = signed ? 3 : 4;
  let normals: number[];
  if (t === "int") {
    normals = Array.from({ length: 2 ** B }, (_, i) => (i * 32) / 2 ** B);
  } else {
    const vals = [0];
    for (let i = 0; i <= B - 1; i++) {
      const mant = B - (i + 2);
      for (let j = 0; j < 2 ** mant && mant >= 0; j++) vals.push(2 ** -(i + 1) * (1 + j / 2 ** mant));
    }
    for (let j = 0; j < 2 ** (B - 2); j++) vals.push(1 + j / 2 ** (B - 2));
    for (let i = 1; i < B - 1; i++) {
      const mant = B - (i + 2);
      for (let j = 0; j < 2 ** mant; j++) vals.push(2 ** i * (1 + j / 2 ** mant));
    }
    vals.push(2 ** (B - 1));
    normals = vals.map((v) => (v * 32) / 2 ** (B - 1)).sort((a, b) => a - b);
  }
  const outliers: number[] = [];
  const mant = B - 2;
  for (let e = 5; e < 9; e++) for (let j = 0; j < 2 ** mant; j++) if (!(e === 5 && j === 0)) outliers.push(2 ** e * (1 + j / 2 ** mant));
  let unit = 4;
  while ([...normals, ...outliers].some((v) => !Number.isInteger(v / unit))) unit /= 2;
  return { normals, outliers, unit };
}

interface Joint {
  /** Grid values, signed, ascending. */
  vals: number[];
  /** Each value's position in the release's list (normal grid, then outliers): a tie goes to the later one. */
  rank: number[];
}

const joints = new Map<string, Joint>();
function joint(t: OliveType, signed: boolean): Joint {
  const key = `${t}${signed}`;
  let j = joints.get(key);
  if (!j) {
    const g = oliveGrid(t, signed);
    const withSign = (m: number[]) => [...new Set(signed ? m.flatMap((v) => [v, -v]) : m)].sort((a, b) => a - b);
    const list = [...withSign(g.normals), ...withSign(g.outliers)];
    const vals = [...list].sort((a, b) => a - b);
    j = { vals, rank: vals.map((v) => list.indexOf(v)) };
    joints.set(key, j);
  }
  return j;
}

/**
 * Nearest point of the joint grid, as the release's kernel picks it: a linear scan keeping
 * the last point at the least distance, so a tie goes to the point later in its list (normal
 * grid ascending, then outliers ascending).
 */
export function oliveRound(v: number, t: OliveType, signed = true): number {
  return roundOn(joint(t, signed), v);
}

function roundOn({ vals, rank }: Joint, v: number): number {
  let lo = 0;
  let hi = vals.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (vals[m] < v) lo = m + 1;
    else hi = m;
  }
  if (lo === 0) return vals[0];
  if (lo === vals.length) return vals[vals.length - 1];
  const da = v - vals[lo - 1];
  const db = vals[lo] - v;
  if (da !== db) return da < db ? vals[lo - 1] : vals[lo];
  return rank[lo - 1] > rank[lo] ? vals[lo - 1] : vals[lo];
}

/**
 * Quantizes values already divided by the scale (grid units) in place into `out`, with the
 * release's outlier-victim pairing over the flattened order.
 */
export function oliveEncode(v: ArrayLike<number>, t: OliveType, out: Float64Array, signed = true): { outliers: number; victims: number } {
  let outliers = 0;
  let victims = 0;
  const j = joint(t, signed);
  for (let i = 0; i < v.length; i++) out[i] = roundOn(j, v[i]);
  for (let i = 0; i + 1 < v.length; i += 2) {
    const evenOut = Math.abs(out[i]) > OLIVE_THRESHOLD;
    const oddOut = Math.abs(out[i + 1]) > OLIVE_THRESHOLD;
    if (evenOut) {
      out[i + 1] = 0;
      outliers++;
      victims++;
    } else if (oddOut) {
      out[i] = 0;
      outliers++;
      victims++;
    }
  }
  return { outliers, victims };
}

/** The released alpha search for one type: least MSE over the whole calibration tensor. */
export function oliveSearch(x: Tensor, t: OliveType, signed = true): { alpha: number; mse: number } {
  const n = x.data.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x.data[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x.data[i] - mean) ** 2;
  const std = Math.sqrt(ss / Math.max(1, n - 1)); // torch.std is the sample std
  const x3s = Math.max(Math.abs(mean + 3 * std), Math.abs(mean - 3 * std));
  const normals = oliveGrid(t, signed).normals;
  const top = normals[normals.length - 1];
  const v = new Float64Array(n);
  const out = new Float64Array(n);
  let best = { alpha: x3s, mse: Infinity };
  if (x3s === 0) return { alpha: 1, mse: 0 };
  for (let i = 75; i < 250; i += 2) {
    const alpha = x3s * (i * 0.01);
    const scale = alpha / top;
    for (let j = 0; j < n; j++) v[j] = x.data[j] / scale;
    oliveEncode(v, t, out, signed);
    let err = 0;
    for (let j = 0; j < n; j++) err += (out[j] * scale - x.data[j]) ** 2;
    const mse = err / n;
    if (mse < best.mse) best = { alpha, mse };
  }
  return best;
}

