/**
 * The accuracy framework shared by the adaptive search (src/quant/adaptive.ts) and the benchmark
 * (src/bench/accuracy.ts), and the baselines it compares against, all on the same data:
 *
 * - per-tensor int4 round-to-nearest activations, scale max/7 or MSE-searched clip;
 * - OliVe's outlier-victim pair (OVP) encoding (Guo et al., ISCA 2023);
 * - fixed-threshold TOBE with fp8 or fp12 salient channels (the quantizer's own path);
 * - per-tensor int8 activations (an upper reference).
 *
 * Every method produces activations as integers in units of one per-tensor activation scale
 * (`aInt`, fake-quantized activations = aInt * actScale). Weights are int4 per-output-channel
 * symmetric for every method (exactly the quantizer's rule), so only the activation handling
 * differs. The layer output is computed as the hardware and the golden model do: the exact
 * integer sum Y = aInt x Wq, dequantized as Y * actScale * weightScales[n]; the error figures
 * are computed with the same operation order as golden.quantError, so for a TOBE plan they are
 * bit-identical to what `oltron golden` reports for the written images.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { decode, decodeInt4, encode, encodeInt4, roundHalfEven, type ElemType } from "../core/formats.js";
import { calibrate, tokenScaling, type ActScaling, type LayerPlan } from "./quantizer.js";
import { matmulF64, rowScale, type ActScale, type Tensor } from "../core/tensor.js";
import { gptqInt4, int4ColumnScales, rtnInt4, type WeightQuant } from "./gptq.js";
import { mseClipScales } from "./weight-clip.js";
import { tileGeometry, tobePermutation, type TileGeometry } from "./tobe.js";

// ------------------------------------------------------------------ framework

/** A layer prepared once for many evaluations: float reference output and int4 weights. */
export interface PreparedLayer {
  name: string;
  m: number;
  k: number;
  n: number;
  /** The activations every method quantizes and is scored on (evaluation tokens). */
  x: Tensor;
  /**
   * The calibration activations (default: x itself): every static choice (salient channels,
   * scales, clip factors, GPTQ's Hessian) is made on these, so with disjoint tokens the
   * figures are held out.
   */
  calib: Tensor;
  w: Tensor;
  /** How the int4 weights were made: round to nearest, or GPTQ on the calibration tokens. */
  weights: WeightQuant;
  /** The weight scales come from the clip search (weight-clip.ts), not max/7. */
  wClip: boolean;
  /** Float reference Y = X x W [m x n], accumulated exactly as golden.quantError does. */
  ref: Float64Array;
  /** Mean square of the reference output. */
  refPower: number;
  /** int4 weight values (decoded codes) [k x n], original row order. */
  wq: Float64Array;
  /** Per-output-channel weight scales (max |w| / 7, or 1 for an all-zero column). */
  ws: Float64Array;
}

export function checkLayerTensors(x: Tensor, w: Tensor, name = "layer"): { m: number; k: number; n: number } {
  if (x.shape.length !== 2) throw new UserError(`layer ${name}: activations must be 2-D [tokens x channels], got shape [${x.shape.join(", ")}]`);
  if (w.shape.length !== 2) throw new UserError(`layer ${name}: weights must be 2-D [in x out], got shape [${w.shape.join(", ")}]`);
  const [m, k] = x.shape;
  const [kw, n] = w.shape;
  if (k !== kw) throw new UserError(`layer ${name}: activations have K = ${k} channels but weights have K = ${kw} rows`);
  if (m < 1 || k < 1 || n < 1) throw new UserError(`layer ${name}: empty tensor (M=${m}, K=${k}, N=${n})`);
  for (const [what, t] of [["activations", x], ["weights", w]] as const) {
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) throw new UserError(`layer ${name}: ${what} contain ${t.data[i]} at flat index ${i}`);
    }
  }
  return { m, k, n };
}

/** int4 per-output-channel symmetric weights, the quantizer's rule (scale max/7, round half to even). */
export function quantizeWeightsInt4(w: Tensor): { wq: Float64Array; ws: Float64Array } {
  const ws = int4ColumnScales(w);
  return { wq: rtnInt4(w, ws), ws };
}

export function prepareLayer(x: Tensor, w: Tensor, name = "layer", opts: { calib?: Tensor; weights?: WeightQuant; wClip?: boolean } = {}): PreparedLayer {
  const { m, k, n } = checkLayerTensors(x, w, name);
  const calib = opts.calib ?? x;
  if (calib.shape.length !== 2 || calib.shape[1] !== k) throw new UserError(`layer ${name}: calibration activations must be [tokens x ${k}], got [${calib.shape.join(", ")}]`);
  const weights = opts.weights ?? "rtn";
  const ref = new Float64Array(m * n);
  // Same loop order and operand types as golden.quantError: identical rounding.
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < k; i++) {
      const xv = x.data[r * k + i];
      if (xv === 0) continue;
      const wo = i * n;
      const ro = r * n;
      for (let c = 0; c < n; c++) ref[ro + c] += xv * w.data[wo + c];
    }
  }
  let pow = 0;
  for (let i = 0; i < m * n; i++) pow += ref[i] ** 2;
  // Weight scales: max/7, or QuaRot's clip search (--w_clip) when asked.
  const scales = opts.wClip ? mseClipScales(w) : undefined;
  const { wq, ws } = weights === "gptq" ? gptqInt4(calib, w, scales ? { scales } : {}) : scales ? { wq: rtnInt4(w, scales), ws: scales } : quantizeWeightsInt4(w);
  return { name, m, k, n, x, calib, w, weights, wClip: opts.wClip === true, ref, refPower: pow / (m * n), wq, ws };
}

/** A prepared layer on other tokens: the same calibration and weights (RTN or GPTQ), its own float reference. */
export function onTokens(p: PreparedLayer, x: Tensor): PreparedLayer {
  return { ...prepareLayer(x, p.w, p.name, { calib: p.calib }), weights: p.weights, wClip: p.wClip, wq: p.wq, ws: p.ws };
}

/** Float GEMM, shared with the golden model's error figures. */
export const matmul = matmulF64;

export interface OutputError {
  /** Mean squared error of the dequantized layer output against the float reference. */
  mse: number;
  /** 10 log10(refPower / mse). */
  sqnrDb: number;
  /** Noise-to-signal ratio mse / refPower (what the model-wide allocation sums). */
  nsr: number;
  refPower: number;
  /** Some exact integer sum left int32: the hardware would wrap (the quantizer refuses such a layer). */
  overflow: boolean;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Output error of integer activations aInt [m x k] (units of actScale) with the layer's int4
 * weights: Y = aInt x Wq exactly, dequantized as Y * actScale * ws[n]. Activation magnitudes
 * are below 2^37 (fp12) and |Wq| <= 8, so the float64 sums are exact up to K = 2^12 at the
 * largest fp12 codes and far beyond for realistic data; overflow past int32 is flagged.
 */
export function outputError(p: PreparedLayer, aInt: ArrayLike<number>, actScale: ActScale): OutputError {
  const { m, n } = p;
  const y = matmul(aInt, p.wq, m, p.k, n);
  let err = 0;
  let pow = 0;
  let overflow = false;
  for (let r = 0; r < m; r++) {
    const sa = rowScale(actScale, r);
    for (let c = 0; c < n; c++) {
      const yi = y[r * n + c];
      if (yi < INT32_MIN || yi > INT32_MAX) overflow = true;
      // Same expression order as golden.quantError.
      const deq = yi * sa * p.ws[c];
      const d = p.ref[r * n + c] - deq;
      err += d * d;
      pow += p.ref[r * n + c] ** 2;
    }
  }
  return figures(err, pow, m * n, overflow);
}

/**
 * Activation-only error: the fake-quantized activations times the float weights, against the
 * float reference. It isolates what the activation format costs from the int4 weights' error,
 * which every method shares.
 */
export function activationOnlyError(p: PreparedLayer, aInt: ArrayLike<number>, actScale: ActScale): OutputError {
  const { m, n } = p;
  const y = matmul(aInt, p.w.data, m, p.k, n);
  let err = 0;
  let pow = 0;
  for (let r = 0; r < m; r++) {
    const sa = rowScale(actScale, r);
    for (let i = r * n; i < (r + 1) * n; i++) {
      const d = p.ref[i] - y[i] * sa;
      err += d * d;
      pow += p.ref[i] ** 2;
    }
  }
  return figures(err, pow, m * n, false);
}

function figures(err: number, pow: number, count: number, overflow: boolean): OutputError {
  const mse = err / count;
  const refPower = pow / count;
  return {
    mse,
    // As golden.quantError: an exact result has no noise, +Infinity dB (JSON writes null).
    sqnrDb: err === 0 ? Infinity : 10 * Math.log10(pow / err),
    nsr: refPower > 0 ? mse / refPower : mse > 0 ? Infinity : 0,
    refPower,
    overflow,
  };
}

/** Fake-quantized activations [m x k] of a method's result. */
export function fakeQuantActivations(aInt: ArrayLike<number>, actScale: ActScale): Float64Array {
  // With per-token scales, the rows are the scales' count; one scale covers everything.
  const k = typeof actScale === "number" ? aInt.length : aInt.length / actScale.length;
  const out = new Float64Array(aInt.length);
  for (let i = 0; i < aInt.length; i++) out[i] = aInt[i] * rowScale(actScale, Math.floor(i / k));
  return out;
}

/** Dequantized layer output [m x n] (Y * actScale * ws[n]) of a method's activations. */
export function dequantizedOutput(p: PreparedLayer, aInt: ArrayLike<number>, actScale: ActScale): Float64Array {
  const y = matmul(aInt, p.wq, p.m, p.k, p.n);
  for (let r = 0; r < p.m; r++) for (let c = 0; c < p.n; c++) y[r * p.n + c] = y[r * p.n + c] * rowScale(actScale, r) * p.ws[c];
  return y;
}

/** What one activation-quantization method produced on a layer. */
export interface MethodResult {
  method: string;
  label: string;
  /** Average information bits per activation. */
  bits: number;
  /** Average storage bits per activation (fp12 stored in 16). */
  storageBits: number;
  /** One scale, or one per token row. */
  actScale: ActScale;
  /** Activations [m x k] in units of actScale (original channel order). */
  aInt: Float64Array;
  error: OutputError;
  /**
   * The activation-only error (fake-quantized activations x float weights), for methods whose
   * aInt live in another basis (a rotation); absent: computed from aInt and the layer's weights.
   */
  actOnly?: OutputError;
  /** Method-specific figures (clip factor, outlier counts, plan, tiles...). */
  detail: Record<string, number | string | boolean>;
}

// ------------------------------------------------------------------ scale search

/** Values used by the scale searches: the whole tensor, or whole rows strided down to ~2^18 values. */
function searchRows(x: Tensor): number[] {
  const [m, k] = x.shape;
  const stride = Math.max(1, Math.floor((m * k) / 262144));
  const rows: number[] = [];
  for (let r = 0; r < m; r += stride) rows.push(r);
  return rows;
}

function maxAbsOf(x: Tensor): number {
  let mx = 0;
  for (let i = 0; i < x.data.length; i++) mx = Math.max(mx, Math.abs(x.data[i]));
  return mx;
}

/** Log-spaced factors from 1 down to `lo` (inclusive), `count` points. */
function logFactors(lo: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.exp((Math.log(lo) * i) / (count - 1)));
}

/**
 * The symmetric uniform quantizer q = clamp(round_half_even(x / s), qmin, qmax), scale searched
 * over clip values c = f * max|x| (s = c / qmax) for the least L2 activation error.
 */
function searchUniformScale(x: Tensor, qmin: number, qmax: number, factors: number[]): { scale: number; clip: number } {
  const maxAbs = maxAbsOf(x);
  if (maxAbs === 0) return { scale: 1, clip: 1 };
  const k = x.shape[1];
  const rows = searchRows(x);
  let best = { scale: maxAbs / qmax, clip: 1 };
  let bestErr = Infinity;
  for (const f of factors) {
    const s = (f * maxAbs) / qmax;
    let err = 0;
    for (const r of rows) {
      for (let c = 0; c < k; c++) {
        const v = x.data[r * k + c];
        const q = Math.min(qmax, Math.max(qmin, roundHalfEven(v / s)));
        err += (v - q * s) ** 2;
      }
    }
    if (err < bestErr) {
      bestErr = err;
      best = { scale: s, clip: f };
    }
  }
  return best;
}

function uniformActivations(x: Tensor, s: number, qmin: number, qmax: number): Float64Array {
  const a = new Float64Array(x.data.length);
  for (let i = 0; i < a.length; i++) a[i] = Math.min(qmax, Math.max(qmin, roundHalfEven(x.data[i] / s)));
  return a;
}

// ------------------------------------------------------------------ int4 / int8 per tensor

export type ScaleRule = "max" | "mse";

/**
 * Per-tensor int4 activations, no outlier handling: codes in [-8, 7] (round half to even,
 * saturating). Scale rule "max": s = max|x| / 7 (the largest magnitude maps to 7, like the
 * quantizer's normal channels before its clip search); "mse": the clip c = f * max|x| with
 * f log-spaced over [0.005, 1] (80 points) minimising the activation L2 error, s = c / 7.
 */
export function int4PerTensor(p: PreparedLayer, rule: ScaleRule = "mse"): MethodResult {
  const { scale, clip } = rule === "max"
    ? { scale: maxAbsOf(p.calib) / 7 || 1, clip: 1 }
    : searchUniformScale(p.calib, -8, 7, logFactors(0.005, 80));
  const aInt = uniformActivations(p.x, scale, -8, 7);
  return {
    method: rule === "max" ? "int4_max" : "int4_mse",
    label: rule === "max" ? "int4 per-tensor (max)" : "int4 per-tensor (MSE clip)",
    bits: 4, storageBits: 4, actScale: scale, aInt,
    error: outputError(p, aInt, scale),
    detail: { clip },
  };
}

/**
 * Per-tensor int8 activations (upper reference): codes in [-128, 127], clip searched like
 * int4 "mse" (f log-spaced over [0.01, 1], 60 points) so massive activations do not set the
 * step for everything else.
 */
export function int8PerTensor(p: PreparedLayer): MethodResult {
  const { scale, clip } = searchUniformScale(p.calib, -128, 127, logFactors(0.01, 60));
  const aInt = uniformActivations(p.x, scale, -128, 127);
  return {
    method: "int8", label: "int8 per-tensor (MSE clip)", bits: 8, storageBits: 8, actScale: scale, aInt,
    error: outputError(p, aInt, scale), detail: { clip },
  };
}

// ------------------------------------------------------------------ OliVe OVP

/** Largest normal (int4) magnitude: code 1000 is OliVe's outlier identifier, so normals use -7..7. */
export const OVP_NORMAL_MAX = 7;

/** Exponent bias of the E2M1 abfloat, in units of the normal int4 step. */
export const OVP_ABFLOAT_BIAS = 3;

/**
 * E2M1 "abfloat" magnitude: (1 + m/2) * 2^(e + bias), e in 0..3, m in 0..1. With bias 3 the
 * eight codes are 8, 12, 16, 24, 32, 48, 64, 96 normal steps.
 */
export function abfloatMagnitude(e: number, m: number, bias = OVP_ABFLOAT_BIAS): number {
  if (!(Number.isInteger(e) && e >= 0 && e <= 3 && (m === 0 || m === 1))) throw new UserError(`abfloat E2M1: exponent ${e} must be 0..3 and mantissa ${m} 0 or 1`);
  return (1 + m / 2) * 2 ** (e + bias);
}

/**
 * The outlier magnitudes OVP uses: every E2M1 abfloat code except (e=0, m=0) = 8, which the
 * authors' code leaves out, so an outlier is always strictly beyond the normal range's end
 * (their `outlier_value(exp_bit=2, exp_base=5)`, in their grid whose normal step is 4).
 */
export const OVP_OUTLIER_MAGNITUDES: readonly number[] = [
  abfloatMagnitude(0, 1), abfloatMagnitude(1, 0), abfloatMagnitude(1, 1), abfloatMagnitude(2, 0),
  abfloatMagnitude(2, 1), abfloatMagnitude(3, 0), abfloatMagnitude(3, 1),
];

/** Magnitudes of the joint grid a value is first rounded to: 0..7 and the outlier magnitudes. */
const OVP_GRID: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, ...OVP_OUTLIER_MAGNITUDES];
/** Midpoints between consecutive grid magnitudes: a magnitude above MID[i] rounds past OVP_GRID[i]. */
const OVP_MID: readonly number[] = OVP_GRID.slice(1).map((g, i) => (g + OVP_GRID[i]) / 2);

/**
 * Rounds one value (in normal-step units) to the nearest point of the joint grid
 * {0, +-1..+-7} U {+-12, +-16, +-24, +-32, +-48, +-64, +-96}; ties go to the smaller magnitude;
 * magnitudes beyond 96 saturate to 96.
 */
export function ovpRound(v: number): number {
  const a = Math.abs(v);
  let i: number;
  if (a <= 7.5) {
    const f = Math.floor(a);
    i = a - f > 0.5 ? f + 1 : f; // tie (x.5) goes down
  } else {
    i = 7;
    while (i < OVP_MID.length && a > OVP_MID[i]) i++;
  }
  const best = OVP_GRID[i];
  return v < 0 && best !== 0 ? -best : best;
}

export interface OvpStats {
  /** Values kept as abfloat outliers. */
  outliers: number;
  /** Values zeroed because their pair partner is an outlier (including the smaller of two outliers). */
  victims: number;
  /** Pairs in which both values rounded to outliers. */
  doubleOutlierPairs: number;
  /** Values beyond the largest outlier magnitude (saturated to 96). */
  saturated: number;
}

/**
 * OVP-encodes rows of values already divided by the scale (normal-step units), in place into
 * `out`. Pairs are adjacent values of a row: (0,1), (2,3), ... Each value is rounded to the
 * joint grid; a value on the outlier grid (|q| > 7) is an outlier. One outlier in a pair: it
 * keeps its abfloat value and its partner (the victim) becomes 0 (its slot carries the
 * identifier 1000). Two outliers: the one with the larger |v| is kept (the first on a tie),
 * the other becomes the victim. No outlier: both are plain int4 in -7..7. With an odd row
 * length the last value has no partner and is clamped to the normal range.
 */
export function ovpEncodeRows(v: ArrayLike<number>, rowLength: number, out: Float64Array): OvpStats {
  if (!Number.isInteger(rowLength) || rowLength < 1 || v.length % rowLength !== 0) {
    throw new UserError(`OVP: ${v.length} values do not split into rows of ${rowLength}`);
  }
  const stats: OvpStats = { outliers: 0, victims: 0, doubleOutlierPairs: 0, saturated: 0 };
  const top = OVP_OUTLIER_MAGNITUDES[OVP_OUTLIER_MAGNITUDES.length - 1];
  for (let row = 0; row < v.length; row += rowLength) {
    let c = 0;
    for (; c + 1 < rowLength; c += 2) {
      const i = row + c;
      const a = v[i];
      const b = v[i + 1];
      const qa = ovpRound(a);
      const qb = ovpRound(b);
      const oa = Math.abs(qa) > OVP_NORMAL_MAX;
      const ob = Math.abs(qb) > OVP_NORMAL_MAX;
      if (Math.abs(a) > top) stats.saturated++;
      if (Math.abs(b) > top) stats.saturated++;
      if (!oa && !ob) {
        out[i] = qa;
        out[i + 1] = qb;
        continue;
      }
      if (oa && ob) stats.doubleOutlierPairs++;
      const keepFirst = oa && (!ob || Math.abs(a) >= Math.abs(b));
      out[i] = keepFirst ? qa : 0;
      out[i + 1] = keepFirst ? 0 : qb;
      stats.outliers++;
      stats.victims++;
    }
    if (c < rowLength) {
      out[row + c] = ovpRound(Math.min(OVP_NORMAL_MAX, Math.max(-OVP_NORMAL_MAX, v[row + c])));
    }
  }
  return stats;
}

/** OVP-quantizes x (pairs along the channel axis) at normal step `scale`. */
export function ovpActivations(x: Tensor, scale: number): { aInt: Float64Array; stats: OvpStats } {
  const k = x.shape[1];
  const v = new Float64Array(x.data.length);
  for (let i = 0; i < v.length; i++) v[i] = x.data[i] / scale;
  const aInt = new Float64Array(v.length);
  const stats = ovpEncodeRows(v, k, aInt);
  return { aInt, stats };
}

/**
 * OliVe's per-tensor scale search, widened: the normal range's end alpha (scale = alpha / 7)
 * over the published grid alpha = f * x3s, f = 0.75, 0.77, ..., 2.49, x3s = max(|mean +- 3 std|)
 * (the authors' run scripts: --a_low=75 --a_up=250), united with alpha = 7 * max|x| / (96 g),
 * g log-spaced over [1/13.7, 1.5] (48 points: from "no value is an outlier" to "the largest
 * value saturates"). The least L2 activation error wins; a superset of the published grid
 * can only help OVP.
 */
export function ovpSearchScale(x: Tensor): { scale: number; alpha: number } {
  const maxAbs = maxAbsOf(x);
  if (maxAbs === 0) return { scale: 1, alpha: 7 };
  let sum = 0;
  let sum2 = 0;
  const N = x.data.length;
  for (let i = 0; i < N; i++) {
    sum += x.data[i];
    sum2 += x.data[i] ** 2;
  }
  const mean = sum / N;
  const std = Math.sqrt(Math.max(0, (sum2 - N * mean * mean) / Math.max(1, N - 1)));
  const x3s = Math.max(Math.abs(mean + 3 * std), Math.abs(mean - 3 * std));
  const alphas: number[] = [];
  if (x3s > 0) for (let i = 75; i < 250; i += 2) alphas.push((x3s * i) / 100);
  for (let j = 0; j < 48; j++) {
    const g = Math.exp(Math.log(1 / 13.7) + ((Math.log(1.5) - Math.log(1 / 13.7)) * j) / 47);
    alphas.push((7 * maxAbs) / (96 * g));
  }
  const k = x.shape[1];
  const rows = searchRows(x);
  const v = new Float64Array(rows.length * k);
  const out = new Float64Array(rows.length * k);
  let best = { scale: maxAbs / 7, alpha: maxAbs };
  let bestErr = Infinity;
  for (const alpha of alphas) {
    const s = alpha / OVP_NORMAL_MAX;
    rows.forEach((r, ri) => {
      for (let c = 0; c < k; c++) v[ri * k + c] = x.data[r * k + c] / s;
    });
    ovpEncodeRows(v, k, out);
    let err = 0;
    rows.forEach((r, ri) => {
      for (let c = 0; c < k; c++) err += (x.data[r * k + c] - out[ri * k + c] * s) ** 2;
    });
    if (err < bestErr) {
      bestErr = err;
      best = { scale: s, alpha };
    }
  }
  return best;
}

/**
 * Our tuned OVP: 4 bits per value (a pair is two int4, or identifier + abfloat), int normal
 * values only, scale searched over a widened grid (ovpSearchScale) on the calibration tokens.
 * With scaling "token", each row's step is max|x_t| / (96 g), the top of the outlier grid
 * at g times the row's largest magnitude, g from the same log grid, chosen on calibration.
 */
export function ovp(p: PreparedLayer, scaling: ActScaling = "tensor"): MethodResult {
  if (scaling === "token") {
    const gs = Array.from({ length: 48 }, (_, j) => Math.exp(Math.log(1 / 13.7) + ((Math.log(1.5) - Math.log(1 / 13.7)) * j) / 47));
    const steps = (x: Tensor, g: number) => rowMaxAbs(x).map((mx) => (mx > 0 ? mx / (96 * g) : 1));
    let best = { g: 1, err: Infinity };
    const rows = searchRows(p.calib);
    const k = p.k;
    for (const g of gs) {
      const s = steps(p.calib, g);
      const v = new Float64Array(rows.length * k);
      rows.forEach((r, ri) => {
        for (let c = 0; c < k; c++) v[ri * k + c] = p.calib.data[r * k + c] / s[r];
      });
      const out = new Float64Array(v.length);
      ovpEncodeRows(v, k, out);
      let err = 0;
      rows.forEach((r, ri) => {
        for (let c = 0; c < k; c++) err += (p.calib.data[r * k + c] - out[ri * k + c] * s[r]) ** 2;
      });
      if (err < best.err) best = { g, err };
    }
    const s = Float64Array.from(steps(p.x, best.g));
    const v = new Float64Array(p.x.data.length);
    for (let i = 0; i < v.length; i++) v[i] = p.x.data[i] / s[Math.floor(i / k)];
    const aInt = new Float64Array(v.length);
    const stats = ovpEncodeRows(v, k, aInt);
    return {
      method: "ovp_token", label: "OVP tuned, per-token (int4 + E2M1 abfloat)", bits: 4, storageBits: 4, actScale: s, aInt,
      error: outputError(p, aInt, s),
      detail: { g: best.g, outliers: stats.outliers, victims: stats.victims, doubleOutlierPairs: stats.doubleOutlierPairs, saturated: stats.saturated },
    };
  }
  const { scale, alpha } = ovpSearchScale(p.calib);
  const { aInt, stats } = ovpActivations(p.x, scale);
  return {
    method: "ovp", label: "OVP tuned (int4 + E2M1 abfloat)", bits: 4, storageBits: 4, actScale: scale, aInt,
    error: outputError(p, aInt, scale),
    detail: { alpha, outliers: stats.outliers, victims: stats.victims, doubleOutlierPairs: stats.doubleOutlierPairs, saturated: stats.saturated },
  };
}

/** Per-row max |x|. */
export function rowMaxAbs(x: Tensor): number[] {
  const [m, k] = x.shape;
  const out: number[] = [];
  for (let r = 0; r < m; r++) {
    let mx = 0;
    for (let c = 0; c < k; c++) mx = Math.max(mx, Math.abs(x.data[r * k + c]));
    out.push(mx);
  }
  return out;
}

/**
 * Per-token symmetric int4 (codes -8..7): s_t = clip x max|x_t| / 7, the clip factor (1 down to
 * 0.5) chosen on the calibration tokens, or fixed (QuaRot's paper uses 0.9).
 */
export function int4PerToken(p: PreparedLayer, fixedClip?: number): MethodResult {
  const k = p.k;
  const rows = searchRows(p.calib);
  const quantRows = (x: Tensor, clip: number, rowsOf: number[], out?: Float64Array) => {
    let err = 0;
    const mx = rowMaxAbs(x);
    const s = new Float64Array(x.shape[0]);
    for (const r of rowsOf) {
      s[r] = mx[r] > 0 ? (clip * mx[r]) / 7 : 1;
      for (let c = 0; c < k; c++) {
        const v = x.data[r * k + c];
        const q = Math.min(7, Math.max(-8, roundHalfEven(v / s[r])));
        if (out) out[r * k + c] = q;
        err += (v - q * s[r]) ** 2;
      }
    }
    return { err, s };
  };
  let clip = fixedClip ?? 1;
  if (fixedClip === undefined) {
    let bestErr = Infinity;
    for (let i = 0; i <= 20; i++) {
      const f = 1 - 0.025 * i;
      const { err } = quantRows(p.calib, f, rows);
      if (err < bestErr) {
        bestErr = err;
        clip = f;
      }
    }
  }
  const aInt = new Float64Array(p.m * k);
  const { s } = quantRows(p.x, clip, Array.from({ length: p.m }, (_, r) => r), aInt);
  return {
    method: fixedClip === undefined ? "int4_token" : `int4_token_c${fixedClip}`,
    label: fixedClip === undefined ? "int4 per-token (clip from calibration)" : `int4 per-token (clip ${fixedClip})`,
    bits: 4, storageBits: 4, actScale: s, aInt, error: outputError(p, aInt, s), detail: { clip },
  };
}

// ------------------------------------------------------------------ TOBE (the quantizer's path)

export interface TobeQuantized {
  /** Decoded activation integers [m x k] in original channel order (what the array multiplies). */
  aInt: Float64Array;
  /** The static scale, or one per token row (plan scaling "token"). */
  actScale: ActScale;
  geometry: TileGeometry;
  /** Channels in salient slots: the P salient ones, then promoted normal channels. */
  salientSet: number[];
  /** P: salient channels before balancing. */
  trueSalient: number;
}

/**
 * The activations quantizeLayer produces for a plan, without laying out images: the same
 * calibrate(), tileGeometry() and tobePermutation(), and the same encode/decode per value.
 * Channel order does not change an exact integer sum, so Y equals the golden model's output.
 */
export function tobeQuantize(d: ElaboratedDesign, p: PreparedLayer, plan: LayerPlan): TobeQuantized {
  const { m, k, x } = p;
  const cal = calibrate(p.calib, plan, p.name);
  const g = tileGeometry(d, k, cal.salient.length, plan.salientType);
  const { salientSet } = tobePermutation(g, k, cal.salient, cal.order);
  const sa: ActScale = plan.scaling === "token" ? tokenScaling(p.calib, x, salientSet.filter((c) => c >= 0), plan).scales : cal.scale;
  const isFloat = new Uint8Array(k);
  for (const c of salientSet) isFloat[c] = 1;
  const aInt = new Float64Array(m * k);
  for (let c = 0; c < k; c++) {
    if (isFloat[c]) {
      const t = g.salientType as ElemType;
      for (let r = 0; r < m; r++) aInt[r * k + c] = decode(t, encode(t, x.data[r * k + c] / rowScale(sa, r)));
    } else {
      for (let r = 0; r < m; r++) aInt[r * k + c] = decodeInt4(encodeInt4(x.data[r * k + c] / rowScale(sa, r)));
    }
  }
  return { aInt, actScale: sa, geometry: g, salientSet, trueSalient: cal.salient.length };
}

/** Information bits of a salient type (fp12 carries 12 bits, stored in 16). */
export const INFO_BITS: Record<"int4" | "fp8" | "fp12", number> = { int4: 4, fp8: 8, fp12: 12 };
export const STORAGE_BITS: Record<"int4" | "fp8" | "fp12", number> = { int4: 4, fp8: 8, fp12: 16 };

/** Salient slots holding real channels: tiles * S, at most K (the rest would be zero channels). */
export function salientSlots(g: TileGeometry, k: number): number {
  return g.salientType === "none" ? 0 : Math.min(g.tiles * g.s, k);
}

/**
 * Average bits per activation of a TOBE layer: (slots * b + (K - slots) * 4) / K, with slots =
 * tiles * S real channels in salient slots (promoted ones included) and b the salient type's
 * information bits (8, 12) or storage bits (8, 16).
 */
export function tobeBits(g: TileGeometry, k: number): { bits: number; storageBits: number; slots: number } {
  const slots = salientSlots(g, k);
  if (slots === 0) return { bits: 4, storageBits: 4, slots };
  const t = g.salientType as "fp8" | "fp12";
  return {
    bits: (slots * INFO_BITS[t] + (k - slots) * 4) / k,
    storageBits: (slots * STORAGE_BITS[t] + (k - slots) * 4) / k,
    slots,
  };
}

/**
 * Steady-state cycle estimate of a layer on the design (docs/architecture.md, pipeline): every
 * (token chunk, N-tile, K-tile) costs max(chunk tokens, rows) compute cycles. Excludes pipeline
 * fill/drain, descriptor fetches and memory stalls; what it is for is the comparison of tile
 * counts: extra tiles from salient density cost their cycles here as in the hardware.
 */
export function estimateCycles(d: ElaboratedDesign, g: TileGeometry, m: number, n: number): number {
  const nTiles = Math.ceil(n / d.cols);
  let cycles = 0;
  for (let m0 = 0; m0 < m; m0 += d.config.bufferTokens) {
    const chunk = Math.min(d.config.bufferTokens, m - m0);
    cycles += g.tiles * nTiles * Math.max(chunk, d.rows);
  }
  return cycles;
}

/**
 * Fixed-threshold TOBE (no adaptation): channels whose max |x| exceeds `threshold` x the median
 * channel max are salient, in the given type, balanced over tiles as the quantizer does.
 */
export function tobeFixed(d: ElaboratedDesign, p: PreparedLayer, salientType: "fp8" | "fp12", threshold = 4): MethodResult {
  const plan: LayerPlan = { salientType, threshold };
  const q = tobeQuantize(d, p, plan);
  const { bits, storageBits, slots } = tobeBits(q.geometry, p.k);
  return {
    method: `tobe_${salientType}_t${threshold}`,
    label: `TOBE ${salientType} fixed (>${threshold}x median)`,
    bits, storageBits, actScale: q.actScale, aInt: q.aInt,
    error: outputError(p, q.aInt, q.actScale),
    detail: {
      salientChannels: q.trueSalient, salientSlots: slots, tiles: q.geometry.tiles, minTiles: q.geometry.minTiles,
      s: q.geometry.s, estCycles: estimateCycles(d, q.geometry, p.m, p.n),
    },
  };
}
