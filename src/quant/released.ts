/**
 * Baselines as their authors released or published them, beside our own variants
 * (src/quant/baselines.ts), so that no comparison flatters the method under test:
 *
 * - QuaRot (Ashkboos et al., NeurIPS 2024; spcl/QuaRot): Hadamard-rotated activations and
 *   weights, per-token symmetric int4 activations at the paper's clip ratio 0.9, weights as
 *   the layer's weight mode (GPTQ on the rotated calibration activations, or round to nearest);
 * - the Oltron authors' quantizer as released (SuperVan-Young/OmniQuant, branch final_v2:
 *   quantize/aowquant.py and quantize/quantizer.py): ceil(ratio x K) salient channels by their
 *   range on calibration data, per-token asymmetric int4 normal values, salient values rounded
 *   by QPyTorch's float_quantize (E5M2 / E5M6, round to nearest) in the same units.
 *
 * Every deviation from the source is listed in docs/quantization.md, section 4.
 */
import { roundHalfEven } from "../core/formats.js";
import { UserError } from "../core/errors.js";
import type { Tensor } from "../core/tensor.js";
import { activationOnlyError, int4PerToken, INFO_BITS, outputError, prepareLayer, STORAGE_BITS, type MethodResult, type PreparedLayer } from "./baselines.js";
import { rotateActivations, rotateLayer } from "./rotation.js";
import { f16ToF32, f32ToF16Bits } from "../data/tensorio.js";

/** Rounds to IEEE half precision (round to nearest even, overflow to infinity). */
const half = (v: number): number => f16ToF32(f32ToF16Bits(v));

/** The clip ratio of QuaRot's paper (its code defaults to 1.0; the paper uses 0.9 throughout). */
export const QUAROT_CLIP = 0.9;

/** QuaRot: rotate, then per-token int4 at a fixed clip ratio; weights per the layer's mode. */
export function quarot(p: PreparedLayer, opts: { clip?: number; seed?: number; wClip?: boolean } = {}): MethodResult {
  const clip = opts.clip ?? QUAROT_CLIP;
  const rot = rotateLayer(p.x, p.w, opts.seed ?? 0);
  const calib = rotateActivations(p.calib, rot.rotation);
  // The rotated layer computes the same product; it is scored against the original float output.
  const pr = { ...prepareLayer(rot.x, rot.w, p.name, { calib, weights: p.weights, wClip: opts.wClip }), ref: p.ref, refPower: p.refPower };
  const r = int4PerToken(pr, clip);
  return {
    ...r,
    method: opts.wClip ? "quarot_wclip" : "quarot",
    label: `QuaRot (Hadamard + per-token int4, clip ${clip}; ${p.weights} weights${opts.wClip ? ", clipped as its README's --w_clip" : ""})`,
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
 * QPyTorch's float_quantize(x, exp, man, rounding="nearest") (Tiiiger/QPyTorch, quant_cpu.cpp
 * and float_kernel.cu, unchanged since 0.3.0), which the authors' code applies to salient
 * values: the input as float32; round to nearest with ties away from zero (half a unit in the
 * last place added to the bit pattern, then truncated); bias 2^(exp-1) - 1, subnormals below
 * 2^-(2^(exp-1) - 2) in steps of 2^(1 - 2^(exp-1) - man); no infinity: the largest exponent
 * is a normal one and larger values saturate at (2 - 2^-man) 2^(2^(exp-1)).
 */
export function qtorchFloat(x: number, exp: number, man: number): number {
  const v = Math.fround(x);
  if (v === 0 || Number.isNaN(v)) return v;
  const a = Math.abs(v);
  const minExp = -(2 ** (exp - 1) - 2);
  const max = (2 - 2 ** -man) * 2 ** (2 ** (exp - 1));
  let e = Math.floor(Math.log2(a));
  // log2 can land one off at exact powers of two.
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const step = 2 ** (Math.max(e, minExp) - man);
  const q = Math.min(max, Math.floor(a / step + 0.5) * step);
  return v < 0 ? -q : q;
}

/** Mantissa bits of the authors' formats: O8 = E5M2 (fp8), O12 = E5M6 (fp12). */
const AUTHORS_MANTISSA = { fp8: 2, fp12: 6 } as const;

/**
 * The Oltron authors' quantizer as released (OmniQuant final_v2, aowquant.py and
 * quantizer.py, dynamic per-token mode): the ceil(ratio x K) channels of largest range
 * (max - min) on the calibration tokens are salient; per token t, the row with its salient
 * positions zeroed gives s_t = clamp((max - min) / 15, 0.01, 1e4) and the zero point
 * z_t = clamp(round(-min / s_t), +-1e4) (so 0 is in the range exactly when some channel is
 * salient); normal values are s_t (clamp(round(x / s_t) + z_t, 0, 15) - z_t); salient values
 * are qtorchFloat(x / s_t) s_t. On the hardware, u - 8 is the signed int4 operand and the host
 * subtracts (z_t - 8) x the normal rows' weight column sums, so the exact sum is the same;
 * here aInt = u - z_t directly. Deviations (docs/quantization.md, section 4): float64 where
 * the release computes x / s_t in fp16; range ties broken by index.
 */
export function oltronAuthors(p: PreparedLayer, ratio: number, salientType: "fp8" | "fp12", opts: { fp16?: boolean } = {}): MethodResult {
  if (!(ratio >= 0 && ratio <= 1)) throw new UserError(`Oltron authors' quantizer: ratio ${ratio} must be in 0..1`);
  const { m, k } = p;
  // With fp16, every tensor op rounds to half precision as the release's fp16 model does: the
  // activations, the range, the scale and the quotient x / s_t (the benchmark's deviation, measured).
  const h = opts.fp16 ? half : (v: number) => v;
  const x = opts.fp16 ? { ...p.x, data: Float32Array.from(p.x.data, h) } : p.x;
  const range = channelRange(opts.fp16 ? { ...p.calib, data: Float32Array.from(p.calib.data, h) } : p.calib);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => range[b] - range[a] || a - b);
  // The release rounds the count up (math.ceil): any ratio above 0 keeps a channel.
  const count = Math.max(0, Math.min(k, Math.ceil(ratio * k - 1e-9)));
  const isSalient = new Uint8Array(k);
  for (const c of order.slice(0, count)) isSalient[c] = 1;
  const aInt = new Float64Array(m * k);
  const s = new Float64Array(m);
  const man = AUTHORS_MANTISSA[salientType];
  for (let r = 0; r < m; r++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = isSalient[c] ? 0 : x.data[r * k + c];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const st = h(Math.min(1e4, Math.max(0.01, h(h(hi - lo) / 15))));
    const z = Math.min(1e4, Math.max(-1e4, roundHalfEven(h(-lo / st))));
    s[r] = st;
    for (let c = 0; c < k; c++) {
      const v = h(x.data[r * k + c] / st);
      aInt[r * k + c] = isSalient[c] ? qtorchFloat(v, 5, man) : Math.min(15, Math.max(0, roundHalfEven(v) + z)) - z;
    }
  }
  const bits = (count * INFO_BITS[salientType] + (k - count) * 4) / k;
  const storageBits = (count * STORAGE_BITS[salientType] + (k - count) * 4) / k;
  return {
    method: `oltron_authors_${salientType}`,
    label: `Oltron authors' quantizer (${salientType}, fixed ratio ${(100 * ratio).toFixed(2)}%, by range, per-token asymmetric int4${opts.fp16 ? ", fp16 arithmetic" : ""})`,
    bits, storageBits, actScale: s, aInt, error: outputError(p, aInt, s),
    detail: { ratio, salientChannels: count },
  };
}

/**
 * The authors' released per-layer-type salient ratios (OmniQuant final_v2,
 * experiments/configs.py): the "0.01" and "0.1" mixed-precision LLaMA configurations (E5M2),
 * powers of two per layer type; up_gate is their fc1, down their fc2.
 */
export const AUTHORS_RATIO_TABLES = {
  "llama-0.01": { salientType: "fp8", ratios: { qkv: 1 / 256, o_proj: 1 / 4096, up_gate: 1 / 512, down: 1 / 256 } },
  "llama-0.1": { salientType: "fp8", ratios: { qkv: 1 / 64, o_proj: 1 / 128, up_gate: 1 / 128, down: 1 / 16 } },
} as const;

/**
 * The fixed salient ratio that spends `budget` average bits with `salientType` channels:
 * (B - 4) / (b - 4): our way to run the authors' quantizer at any budget B (their released
 * runs use the per-layer-type tables above; the release rounds the count up, so a layer may
 * spend a little more than B).
 */
export function budgetRatio(budget: number, salientType: "fp8" | "fp12"): number {
  return Math.max(0, Math.min(1, (budget - 4) / (INFO_BITS[salientType] - 4)));
}
