/**
 * OliVe as released (Guo et al., ISCA 2023; clevercool/ANT-Quantization, directory
 * olive_quantization/antquant/quant_modules.py, mode "ant-int-flint", 4-bit activations):
 *
 * - normal values use one of two 4-bit signed types, chosen per tensor by the least mean
 *   squared error on the calibration data: int (magnitudes 0..7) or flint (magnitudes
 *   0, 0.25, 0.5, 0.75, 1, 1.5, 2, 4 of its largest), both placed so that the largest normal
 *   magnitude sits at 28 or 32 on a common grid whose outlier threshold is 32;
 * - outliers are E2M1 "abfloat" values 48, 64, 96, 128, 192, 256, 384 on that grid (exponent
 *   base 5, the code for 32 left out);
 * - every value is rounded to the nearest point of the joint grid (normal type + outliers);
 *   a value that lands on an outlier point is an outlier;
 * - outlier-victim pairs are adjacent values (0,1), (2,3), ... along the flattened tensor: if
 *   the even value is an outlier, the odd one is its victim (zeroed), even when the odd value
 *   is an outlier too (the release's keep-even rule); otherwise an outlier odd value makes the
 *   even one its victim;
 * - one activation scale per tensor: alpha = f * x3s with x3s = max(|mean + 3 std|,
 *   |mean - 3 std|) over the tensor and f = 0.75, 0.77, ..., 2.49 (the release's run scripts,
 *   --a_low 75 --a_up 250), alpha mapped to the largest normal grid value; the least MSE wins.
 *
 * Deviations (docs/quantization.md, section 4): the weights are the benchmark's shared int4
 * weights (RTN or GPTQ) instead of OliVe's own 4-bit weight quantizer, so only the activation
 * path is compared; float64 instead of the kernel's float32; the type and scale are chosen on the calibration tokens and then
 * fixed, as the release's first-batch initialisation does.
 */
import { outputError, type MethodResult, type PreparedLayer } from "./baselines.js";
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

/** OliVe's activations as released: type and scale from the calibration tokens, 4 bits per value. */
export function olive(p: PreparedLayer): MethodResult {
  // The release switches a tensor to the signed grids when it has a negative value.
  let signed = false;
  for (let i = 0; i < p.calib.data.length && !signed; i++) if (p.calib.data[i] < 0) signed = true;
  const searched = (["int", "flint"] as const).map((t) => ({ t, ...oliveSearch(p.calib, t, signed) }));
  // The release keeps the first type on an exact tie (argsort is stable: int first).
  const best = searched[1].mse < searched[0].mse ? searched[1] : searched[0];
  const grid = oliveGrid(best.t, signed);
  const scale = best.alpha / grid.normals[grid.normals.length - 1];
  const v = new Float64Array(p.x.data.length);
  for (let j = 0; j < v.length; j++) v[j] = p.x.data[j] / scale;
  const q = new Float64Array(v.length);
  const stats = oliveEncode(v, best.t, q, signed);
  // Integer operands: every grid point is a multiple of the grid's step.
  const unit = grid.unit;
  const aInt = q.map((g) => g / unit);
  const actScale = scale * unit;
  return {
    method: "olive", label: "OliVe as released (ant-int-flint, OVP)", bits: 4, storageBits: 4, actScale, aInt,
    error: outputError(p, aInt, actScale),
    detail: {
      type: best.t, signed, alpha: best.alpha, intMse: searched[0].mse, flintMse: searched[1].mse,
      outliers: stats.outliers, victims: stats.victims,
    },
  };
}
