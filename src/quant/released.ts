/**
 * Baselines as their authors released or published them, beside our own variants
 * (src/quant/baselines.ts), so that no comparison flatters the method under test:
 *
 * - QuaRot (Ashkboos et al., NeurIPS 2024; spcl/QuaRot): Hadamard-rotated activations and
 *   weights, per-token symmetric int4 activations at the paper's clip ratio 0.9, weights as
 *   the layer's weight mode (GPTQ on the rotated calibration activations, or round to nearest);
 * - the Oltron authors' quantizer as the paper describes it (no code was released): a fixed
 *   salient ratio per layer type, salient channels chosen by their range on calibration data,
 *   per-token asymmetric int4 normal values, E5M2 / E5M6 salient values in the same units.
 *
 * Every deviation from the source is listed in docs/quantization.md, section 4.
 */
import { decode, encode, roundHalfEven, type ElemType } from "../core/formats.js";
import { UserError } from "../core/errors.js";
import type { Tensor } from "../core/tensor.js";
import { activationOnlyError, int4PerToken, INFO_BITS, outputError, prepareLayer, STORAGE_BITS, type MethodResult, type PreparedLayer } from "./baselines.js";
import { rotateActivations, rotateLayer } from "./rotation.js";

/** The clip ratio of QuaRot's paper (its code defaults to 1.0; the paper uses 0.9 throughout). */
export const QUAROT_CLIP = 0.9;

/** QuaRot: rotate, then per-token int4 at a fixed clip ratio; weights per the layer's mode. */
export function quarot(p: PreparedLayer, opts: { clip?: number; seed?: number } = {}): MethodResult {
  const clip = opts.clip ?? QUAROT_CLIP;
  const rot = rotateLayer(p.x, p.w, opts.seed ?? 0);
  const calib = rotateActivations(p.calib, rot.rotation);
  // The rotated layer computes the same product; it is scored against the original float output.
  const pr = { ...prepareLayer(rot.x, rot.w, p.name, { calib, weights: p.weights }), ref: p.ref, refPower: p.refPower };
  const r = int4PerToken(pr, clip);
  return {
    ...r,
    method: "quarot",
    label: `QuaRot (Hadamard + per-token int4, clip ${clip}; ${p.weights} weights)`,
    error: outputError(pr, r.aInt, r.actScale),
    actOnly: activationOnlyError(pr, r.aInt, r.actScale),
    detail: { clip, rotationSize: rot.rotation.size, ...(rot.paddedFrom ? { paddedFrom: rot.paddedFrom } : {}) },
  };
}

/** Per-channel range max_t x - min_t x over the rows of x. */
export function channelRange(x: Tensor): Float64Array {
  const [m, k] = x.shape;
  const lo = new Float64Array(k).fill(Infinity);
  const hi = new Float64Array(k).fill(-Infinity);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < k; c++) {
      const v = x.data[r * k + c];
      if (v < lo[c]) lo[c] = v;
      if (v > hi[c]) hi[c] = v;
    }
  }
  return hi.map((h, c) => h - lo[c]);
}

/**
 * The Oltron authors' quantizer as published: the round(ratio x K) channels of largest range
 * on the calibration tokens are salient (fp8 E5M2 or fp12 E5M6); per token t, the normal
 * values are asymmetric int4, s_t = (max(x,0) - min(x,0)) / 15 over the row's normal values,
 * zero point z_t = round(-min / s_t), codes u in 0..15, value s_t (u - z_t); salient values
 * are float codes of x / s_t. On the hardware, u - 8 is the signed int4 operand and the
 * host subtracts (z_t - 8) x the normal rows' weight column sums, so the exact sum is the
 * same; here aInt = u - z_t directly.
 */
export function oltronAuthors(p: PreparedLayer, ratio: number, salientType: "fp8" | "fp12"): MethodResult {
  if (!(ratio >= 0 && ratio <= 1)) throw new UserError(`Oltron authors' quantizer: ratio ${ratio} must be in 0..1`);
  const { m, k, x } = p;
  const range = channelRange(p.calib);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => range[b] - range[a] || a - b);
  // Rounded down, so a budget-implied ratio never spends more than the budget.
  const count = Math.floor(ratio * k + 1e-9);
  const isSalient = new Uint8Array(k);
  for (const c of order.slice(0, count)) isSalient[c] = 1;
  const aInt = new Float64Array(m * k);
  const s = new Float64Array(m);
  const t = salientType as ElemType;
  for (let r = 0; r < m; r++) {
    let lo = 0;
    let hi = 0;
    for (let c = 0; c < k; c++) {
      if (isSalient[c]) continue;
      const v = x.data[r * k + c];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const st = hi > lo ? (hi - lo) / 15 : 1;
    const z = roundHalfEven(-lo / st);
    s[r] = st;
    for (let c = 0; c < k; c++) {
      const v = x.data[r * k + c] / st;
      aInt[r * k + c] = isSalient[c] ? decode(t, encode(t, v)) : Math.min(15, Math.max(0, roundHalfEven(v) + z)) - z;
    }
  }
  const bits = (count * INFO_BITS[salientType] + (k - count) * 4) / k;
  const storageBits = (count * STORAGE_BITS[salientType] + (k - count) * 4) / k;
  return {
    method: `oltron_authors_${salientType}`,
    label: `Oltron authors' quantizer (${salientType}, fixed ratio ${(100 * ratio).toFixed(2)}%, by range, per-token asymmetric int4)`,
    bits, storageBits, actScale: s, aInt, error: outputError(p, aInt, s),
    detail: { ratio, salientChannels: count },
  };
}

/**
 * The fixed salient ratio that spends `budget` average bits with `salientType` channels:
 * (B - 4) / (b - 4). The authors published no per-layer-type table; the benchmark uses this
 * one ratio for every layer type at a budget (a table can be given instead).
 */
export function budgetRatio(budget: number, salientType: "fp8" | "fp12"): number {
  return Math.max(0, Math.min(1, (budget - 4) / (INFO_BITS[salientType] - 4)));
}
