/**
 * The quantizer front end: calibration (activation scale, salient channels) and TOBE
 * encoding of activations and weights into integer codes (image/build.ts lays them out).
 *
 * Per-layer choices (salient type, how many channels are salient) arrive as a
 * LayerPlan; the adaptive search (src/quant/adaptive.ts) produces plans, users can give them.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { decode, encode, encodeInt4, type ElemType, type SalientKind } from "../core/formats.js";
import { channelMaxAbs, type Tensor } from "../core/tensor.js";
import { layerLayout, type TileGeometry } from "./tobe.js";
import { gptqInt4, int4ColumnScales, WEIGHT_QUANTS, type WeightQuant } from "./gptq.js";
import { mseClipScales } from "./weight-clip.js";
import { ARCHS } from "../hw/parts.js";
import { decodeInt8, decodeOvpValues, type OvpType } from "../core/actformats.js";
import { identityPerm, int8Codes, int8Scales, ovpEncode, plainGeometry } from "./actquant.js";

/** How a layer's salient channels are chosen. Exactly one selector applies; default threshold 4. */
export interface LayerPlan {
  salientType: SalientKind;
  /** Fraction of channels made salient (largest max-magnitude first). */
  ratio?: number;
  /** Channels whose max |x| exceeds threshold x the median channel max are salient. */
  threshold?: number;
  /** Explicit salient channels (most important first). */
  channels?: number[];
  /**
   * Keep every channel within its group of K/groups contiguous channels (attention heads):
   * head-aware TOBE, for layers whose permutation is folded through attention.
   */
  groups?: number;
  /**
   * Activation scale: "tensor" (default) one static scale from calibration; "token" one scale
   * per token row, computed from the row itself at run time (dynamic per-token scaling,
   * SPEC section 2): clip x the row's largest int4-channel magnitude / 7 (the channels outside
   * the salient slots), the clip factor calibrated once per layer and recorded in the plan.
   */
  scaling?: ActScaling;
  /** A fixed clip factor for per-token scales (QuaRot's paper uses 0.9) instead of the calibrated one. */
  clip?: number;
  /**
   * int4 weights: "rtn" (default) round to nearest at max/7 per output channel; "gptq" the
   * same grid with GPTQ's error compensation, calibrated on the layer's calibration activations.
   */
  weights?: WeightQuant;
  /**
   * Clip the weight scales per output channel by the error search QuaRot's --w_clip runs
   * (quant/weight-clip.ts) instead of max / 7; with round to nearest or GPTQ alike.
   */
  wClip?: boolean;
  /**
   * Recorded when the layer was rotated first (--rotate, QuaRot): its tensors are X Q and Q^T W
   * for the seeded randomised Hadamard Q of `size` channels, K zero-padded from `originalK`.
   */
  rotation?: { kind: "randomized-hadamard"; seed: number; size: number; originalK: number };
  /** Recorded by the quantizer for arch olive: the normal type and scale OliVe's search chose. */
  ovp?: { type: OvpType; alpha: number; mse: Record<OvpType, number>; outliers: number; victims: number };
}

export type ActScaling = "tensor" | "token";
export const ACT_SCALINGS: readonly ActScaling[] = ["tensor", "token"];

export const DEFAULT_PLAN: LayerPlan = { salientType: "fp8", threshold: 4 };

export interface LayerInput {
  name: string;
  /** Activations [M tokens x K channels]. */
  x: Tensor;
  /** Weights [K x N]. */
  w: Tensor;
  /**
   * Calibration activations [tokens x K] (default: x itself): the salient channels, the
   * static scale and the per-token clip factor come from these; x is what gets quantized.
   */
  calib?: Tensor;
  plan?: LayerPlan;
  layerType?: string;
  /**
   * An explicit TOBE layout (perm[i] = channel at padded position i, -1 = zero channel) instead
   * of the quantizer's own: used when the permutation was folded into the graph upstream and
   * the activations already arrive in TOBE order.
   */
  layout?: Int32Array;
}

export interface Calibration {
  /** The static per-layer scale (scaling "tensor"). */
  scale: number;

  salient: number[];
  /** Per-channel max |x|. */
  channelMax: Float64Array;
  /** All channels by decreasing max |x|. */
  order: number[];
}

export interface QuantizedLayer {
  name: string;
  layerType?: string;
  m: number;
  k: number;
  n: number;
  plan: LayerPlan;
  geometry: TileGeometry;
  /** The per-layer scale; with per-token scaling, the geometric mean of actScales (for display). */
  actScale: number;
  /** Per-token scales (scaling "token"), one per row of x. */
  actScales?: Float64Array;
  weightScales: Float64Array;
  perm: Int32Array;
  salientSet: number[];
  /** Activation codes [M x paddedK] in permuted order: salient slots hold float codes. */
  actCodes: Uint16Array;
  /** int4 weight codes [paddedK x N] in permuted row order. */
  wgtCodes: Uint8Array;
  trueSalient: number;
}

function checkShapes(l: LayerInput): { m: number; k: number; n: number } {
  if (l.x.shape.length !== 2) throw new UserError(`layer ${l.name}: activations must be 2-D [tokens x channels], got shape [${l.x.shape.join(", ")}]`);
  if (l.w.shape.length !== 2) throw new UserError(`layer ${l.name}: weights must be 2-D [in x out], got shape [${l.w.shape.join(", ")}]`);
  const [m, k] = l.x.shape;
  const [kw, n] = l.w.shape;
  if (k !== kw) {
    const hint = n === k ? " (the weights look [out x in], as PyTorch stores them: pass --w-layout nk)" : "";
    throw new UserError(`layer ${l.name}: activations have K = ${k} channels but weights have K = ${kw} rows${hint}`);
  }
  if (m < 1 || k < 1 || n < 1) throw new UserError(`layer ${l.name}: empty tensor (M=${m}, K=${k}, N=${n})`);
  for (const [what, t] of [["activations", l.x], ["weights", l.w]] as const) {
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) throw new UserError(`layer ${l.name}: ${what} contain ${t.data[i]} at flat index ${i}`);
    }
  }
  return { m, k, n };
}

function median(values: Float64Array): number {
  const s = Float64Array.from(values).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Chooses the salient channels and the activation scale of a layer. */
export function calibrate(x: Tensor, plan: LayerPlan, name = "layer"): Calibration {
  const k = x.shape[1];
  const channelMax = channelMaxAbs(x);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => channelMax[b] - channelMax[a] || a - b);
  let salient: number[] = [];
  if (plan.salientType !== "none") {
    const selectors = [plan.ratio, plan.threshold, plan.channels].filter((v) => v !== undefined).length;
    if (selectors > 1) throw new UserError(`layer ${name}: give only one of ratio, threshold, channels`);
    if (plan.channels) {
      salient = [...plan.channels];
    } else if (plan.ratio !== undefined) {
      if (!(plan.ratio >= 0 && plan.ratio <= 1)) throw new UserError(`layer ${name}: salient ratio ${plan.ratio} must be in 0..1`);
      salient = order.slice(0, Math.round(plan.ratio * k));
    } else {
      const threshold = plan.threshold ?? 4;
      if (!(threshold > 0)) throw new UserError(`layer ${name}: salient threshold ${threshold} must be > 0`);
      const med = median(channelMax);
      salient = order.filter((c) => channelMax[c] > threshold * med);
    }
  }
  const isSalient = new Uint8Array(k);
  for (const c of salient) isSalient[c] = 1;
  const scaling = plan.scaling ?? "tensor";
  if (!ACT_SCALINGS.includes(scaling)) throw new UserError(`layer ${name}: activation scaling '${String(scaling)}' must be one of ${ACT_SCALINGS.join(", ")}`);
  if (plan.clip !== undefined && !(plan.clip > 0 && plan.clip <= 1)) throw new UserError(`layer ${name}: per-token clip ${plan.clip} must be in (0, 1]`);
  // Per-token scales come from each row at run time; their clip needs the TOBE layout (tokenScaling).
  return { scale: scaling === "token" ? 1 : normalScale(x, isSalient), salient, channelMax, order };
}

/** Largest normal-channel magnitude of row r (0 when every normal value is 0). */
function rowNormalMax(x: Tensor, isSalient: Uint8Array, r: number): number {
  const k = x.shape[1];
  let mx = 0;
  for (let c = 0; c < k; c++) if (!isSalient[c]) mx = Math.max(mx, Math.abs(x.data[r * k + c]));
  return mx;
}

/** Clip factors tried for per-token scales: 1 down to 0.5 in steps of 0.025. */
const TOKEN_CLIPS = Array.from({ length: 21 }, (_, i) => 1 - 0.025 * i);

/**
 * The per-token clip factor minimising int4 round-to-nearest error of the normal channels
 * over the calibration rows (a strided subsample of at most 256 rows).
 */
function tokenClip(x: Tensor, isSalient: Uint8Array): number {
  const [m, k] = x.shape;
  const stride = Math.max(1, Math.floor(m / 256));
  const rows: number[] = [];
  const maxes: number[] = [];
  for (let r = 0; r < m; r += stride) {
    rows.push(r);
    maxes.push(rowNormalMax(x, isSalient, r));
  }
  let best = 1;
  let bestErr = Infinity;
  for (const f of TOKEN_CLIPS) {
    let err = 0;
    for (let ri = 0; ri < rows.length; ri++) {
      const r = rows[ri];
      const mx = maxes[ri];
      if (mx === 0) continue;
      const s = (f * mx) / 7;
      for (let c = 0; c < k; c++) {
        if (isSalient[c]) continue;
        const v = x.data[r * k + c];
        err += (v - Math.min(7, Math.max(-8, Math.round(v / s))) * s) ** 2;
      }
    }
    if (err < bestErr) {
      bestErr = err;
      best = f;
    }
  }
  return best;
}

/**
 * Per-token scales of x: clip x the row's largest magnitude over its int4 channels (all but
 * `floatChannels`, the channels in salient slots) / 7; a row whose int4 channels are all zero
 * takes its largest magnitude / 7 (1 for an all-zero row).
 */
export function tokenScales(x: Tensor, floatChannels: readonly number[], clip: number): Float64Array {
  const salient = floatChannels;
  const [m, k] = x.shape;
  const isSalient = new Uint8Array(k);
  for (const c of salient) isSalient[c] = 1;
  const s = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    const mx = rowNormalMax(x, isSalient, r);
    if (mx > 0) {
      s[r] = (clip * mx) / 7;
      continue;
    }
    let all = 0;
    for (let c = 0; c < k; c++) all = Math.max(all, Math.abs(x.data[r * k + c]));
    s[r] = all > 0 ? all / 7 : 1;
  }
  return s;
}

/**
 * Per-token scaling of a layer: the clip factor (the plan's, or calibrated on `calib`) and the
 * scale of every row of `x`, both over the int4 channels (all but `floatChannels`).
 */
export function tokenScaling(calib: Tensor, x: Tensor, floatChannels: readonly number[], plan: LayerPlan): { clip: number; scales: Float64Array } {
  const isFloat = new Uint8Array(x.shape[1]);
  for (const c of floatChannels) isFloat[c] = 1;
  const clip = plan.clip ?? tokenClip(calib, isFloat);
  return { clip, scales: tokenScales(x, floatChannels, clip) };
}

/** Geometric mean of positive scales: the one number a manifest shows for per-token scales. */
export function geometricMean(s: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < s.length; i++) acc += Math.log(s[i]);
  return Math.exp(acc / s.length);
}

/**
 * The activation scale minimising int4 round-to-nearest error over the normal channels:
 * a clipping search from the max down to a fifth of it, on a subsample.
 */
function normalScale(x: Tensor, isSalient: Uint8Array): number {
  const [m, k] = x.shape;
  let maxAbs = 0;
  const vals: number[] = [];
  const stride = Math.max(1, Math.floor((m * k) / 65536)); // a subsample is plenty for the search
  for (let i = 0; i < m * k; i++) {
    if (isSalient[i % k]) continue;
    const a = Math.abs(x.data[i]);
    if (a > maxAbs) maxAbs = a;
    if (i % stride === 0) vals.push(x.data[i]);
  }
  if (maxAbs === 0) return 1;
  let best = maxAbs / 7;
  let bestErr = Infinity;
  // Heavy-tailed channels (e.g. down_proj inputs) want deep clipping: search down to 0.2x max.
  for (let step = 0; step <= 32; step++) {
    const s = ((1 - step * 0.025) * maxAbs) / 7;
    let err = 0;
    for (const v of vals) {
      const q = Math.min(7, Math.max(-8, Math.round(v / s)));
      err += (v - q * s) ** 2;
    }
    if (err < bestErr) {
      bestErr = err;
      best = s;
    }
  }
  return best;
}

/** Quantizes and TOBE-encodes one layer for a design. */
export function quantizeLayer(d: ElaboratedDesign, l: LayerInput): QuantizedLayer {
  const { m, k, n } = checkShapes(l);
  const arch = ARCHS[d.arch];
  let plan = l.plan ?? (arch.salient ? DEFAULT_PLAN : { salientType: "none" as const });
  if (plan.scaling === undefined && arch.defaultScaling !== "tensor") plan = { ...plan, scaling: arch.defaultScaling };
  if (l.calib && (l.calib.shape.length !== 2 || l.calib.shape[1] !== k)) {
    throw new UserError(`layer ${l.name}: calibration activations must be [tokens x ${k}], got [${l.calib.shape.join(", ")}]`);
  }
  if (!arch.salient && plan.salientType !== "none") {
    throw new UserError(
      `layer ${l.name}: salient type ${plan.salientType} needs salient lanes, which arch ${d.arch} does not have; ` +
        `give the layer type 'none' (e.g. --layer qkv:64x512x256:none), or use --arch oltron`,
    );
  }
  if (d.arch === "w4a8" || d.arch === "olive") return quantizePlainLayer(d, l, plan, m, k, n);
  const cal = calibrate(l.calib ?? l.x, plan, l.name);
  const own = layerLayout(d, k, cal.salient, cal.order, plan.salientType, plan.groups);
  const g = own.geometry;
  const { perm } = l.layout ? checkedLayout(g, k, l.layout, l.name) : own;
  const salientSet = salientSlotOrder(g, perm);
  const K = g.paddedK;
  const actCodes = new Uint16Array(m * K);
  const token = plan.scaling === "token" ? tokenScaling(l.calib ?? l.x, l.x, salientSet.filter((c) => c >= 0), plan) : undefined;
  const actScales = token?.scales;
  // The plan records the clip it used, so the manifest alone reproduces the quantizer.
  const planOut: LayerPlan = token ? { ...plan, clip: token.clip } : plan;
  const sa = actScales ? geometricMean(actScales) : cal.scale;
  for (let i = 0; i < K; i++) {
    const c = perm[i];
    if (c < 0) continue;
    const slot = i % g.tileChannels;
    const t: ElemType = slot < g.s ? (g.salientType as ElemType) : "int4";
    for (let r = 0; r < m; r++) actCodes[r * K + i] = encode(t, l.x.data[r * k + c] / (actScales ? actScales[r] : sa));
  }
  const { weightScales, wgtCodes } = int4Weights(l, plan, perm, n);
  return {
    name: l.name, layerType: l.layerType, m, k, n, plan: planOut, geometry: g, actScale: sa, ...(actScales ? { actScales } : {}), weightScales,
    perm, salientSet, actCodes, wgtCodes, trueSalient: cal.salient.length,
  };
}

/** int4 weights [paddedK x N] in the layer's row order (RTN or GPTQ, per the plan). */
function int4Weights(l: LayerInput, plan: LayerPlan, perm: Int32Array, n: number): { weightScales: Float64Array; wgtCodes: Uint8Array } {
  const weights = plan.weights ?? "rtn";
  if (!WEIGHT_QUANTS.includes(weights)) throw new UserError(`layer ${l.name}: weight quantization '${String(weights)}' must be one of ${WEIGHT_QUANTS.join(", ")}`);
  const scales = plan.wClip ? mseClipScales(l.w) : int4ColumnScales(l.w);
  const gptq = weights === "gptq" ? gptqInt4(l.calib ?? l.x, l.w, { scales }) : undefined;
  const weightScales = gptq ? gptq.ws : scales;
  const K = perm.length;
  const wgtCodes = new Uint8Array(K * n);
  for (let i = 0; i < K; i++) {
    const c = perm[i];
    if (c < 0) continue;
    for (let j = 0; j < n; j++) wgtCodes[i * n + j] = encodeInt4(gptq ? gptq.wq[c * n + j] : l.w.data[c * n + j] / weightScales[j]);
  }
  return { weightScales, wgtCodes };
}

/**
 * A layer of an architecture without salient channels and with its own activation format
 * (W4A8: int8; OliVe: OVP): channels in their own order, int4 weights as everywhere.
 */
function quantizePlainLayer(d: ElaboratedDesign, l: LayerInput, plan: LayerPlan, m: number, k: number, n: number): QuantizedLayer {
  // A folded layout without salient slots keeps the channel order: nothing to reorder here.
  if (l.layout && l.layout.some((c, i) => c >= 0 && c !== i)) {
    throw new UserError(`layer ${l.name}: a reordering TOBE layout applies to arch oltron only, not ${d.arch}`);
  }
  if (plan.groups !== undefined && plan.groups > 1) throw new UserError(`layer ${l.name}: head groups apply to TOBE layouts only, not arch ${d.arch}`);
  const scaling = plan.scaling ?? "tensor";
  if (!ACT_SCALINGS.includes(scaling)) throw new UserError(`layer ${l.name}: activation scaling '${String(scaling)}' must be one of ${ACT_SCALINGS.join(", ")}`);
  if (plan.clip !== undefined && !(plan.clip > 0 && plan.clip <= 1)) throw new UserError(`layer ${l.name}: clip ${plan.clip} must be in (0, 1]`);
  const calib = l.calib ?? l.x;
  let g: TileGeometry;
  let actCodes: Uint16Array;
  let actScale: number;
  let actScales: Float64Array | undefined;
  let planOut: LayerPlan = plan;
  if (d.arch === "w4a8") {
    g = plainGeometry(d, k, "int8");
    const sc = int8Scales(calib, l.x, scaling, plan.clip ?? 1);
    actScales = sc.scales;
    actScale = actScales ? geometricMean(actScales) : sc.scale;
    actCodes = int8Codes(l.x, identityPerm(k, g.paddedK), sc.scale, actScales);
  } else {
    if (scaling !== "tensor" || plan.clip !== undefined) {
      throw new UserError(`layer ${l.name}: arch olive scales activations per tensor by OliVe's own search; per-token scaling and --act-clip do not apply`);
    }
    const probe = plainGeometry(d, k, "ovp-int");
    const enc = ovpEncode(calib, l.x, identityPerm(k, probe.paddedK));
    g = { ...probe, format: enc.type === "int" ? "ovp-int" : "ovp-flint" };
    actCodes = enc.codes;
    actScale = enc.actScale;
    planOut = { ...plan, ovp: { type: enc.type, alpha: enc.alpha, mse: enc.mse, outliers: enc.outliers, victims: enc.victims } };
  }
  const perm = identityPerm(k, g.paddedK);
  const { weightScales, wgtCodes } = int4Weights(l, plan, perm, n);
  return {
    name: l.name, layerType: l.layerType, m, k, n, plan: planOut, geometry: g, actScale, ...(actScales ? { actScales } : {}), weightScales,
    perm, salientSet: [], actCodes, wgtCodes, trueSalient: 0,
  };
}

/**
 * The channels of the salient slots in the order docs/formats.md defines for the manifest:
 * entry i sits in tile i mod tiles, slot floor(i / tiles) (the balancing order), -1 for a zero
 * channel; trailing zero slots are left out. The same for every plan (threshold, ratio,
 * channel list, head-aware, or a layout folded through the model).
 */
export function salientSlotOrder(g: TileGeometry, perm: Int32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < g.tiles * g.s; i++) out.push(perm[(i % g.tiles) * g.tileChannels + Math.floor(i / g.tiles)]);
  while (out.length && out[out.length - 1] < 0) out.pop();
  return out;
}

function checkedLayout(g: TileGeometry, k: number, layout: Int32Array, name: string): { perm: Int32Array; salientSet: number[] } {
  if (layout.length !== g.paddedK) throw new UserError(`layer ${name}: layout has ${layout.length} positions, the tile geometry needs ${g.paddedK}`);
  const seen = new Uint8Array(k);
  for (const c of layout) {
    if (c < -1 || c >= k || (c >= 0 && seen[c]++)) throw new UserError(`layer ${name}: layout entry ${c} is out of range -1..${k - 1} or repeated`);
  }
  if (seen.some((v) => v === 0)) throw new UserError(`layer ${name}: layout leaves out channel ${seen.indexOf(0)}`);
  const salientSet: number[] = [];
  for (let i = 0; i < g.paddedK; i++) if (i % g.tileChannels < g.s && layout[i] >= 0) salientSet.push(layout[i]);
  return { perm: Int32Array.from(layout), salientSet };
}

/** Decoded activation integer at (token, padded position). */
export function actValue(q: QuantizedLayer, r: number, i: number): number {
  const K = q.geometry.paddedK;
  const f = q.geometry.format;
  if (f === "int8") return decodeInt8(q.actCodes[r * K + i]);
  if (f === "ovp-int" || f === "ovp-flint") {
    const e = i & ~1;
    return decodeOvpValues(f.slice(4) as OvpType, q.actCodes[r * K + e], q.actCodes[r * K + e + 1])[i - e];
  }
  const slot = i % q.geometry.tileChannels;
  const t: ElemType = slot < q.geometry.s ? (q.geometry.salientType as ElemType) : "int4";
  return decode(t, q.actCodes[r * q.geometry.paddedK + i]);
}

/**
 * SPEC section 3: report, before anything is written, a layer whose exact sums could
 * leave int32. A cheap bound first; exact sums only for tokens the bound cannot clear.
 */
export function checkOverflow(q: QuantizedLayer): void {
  const K = q.geometry.paddedK;
  const LIMIT = 2 ** 31;
  for (let r = 0; r < q.m; r++) {
    let bound = 0;
    for (let i = 0; i < K; i++) bound += Math.abs(actValue(q, r, i)) * 8;
    if (bound < LIMIT) continue;
    for (let j = 0; j < q.n; j++) {
      let sum = 0;
      for (let i = 0; i < K; i++) {
        const w = q.wgtCodes[i * q.n + j];
        sum += actValue(q, r, i) * (w >= 8 ? w - 16 : w);
      }
      if (sum >= LIMIT || sum < -LIMIT) {
        throw new UserError(
          `layer ${q.name}: exact sum at output (token ${r}, channel ${j}) is ${sum}, outside int32 [-2^31, 2^31-1]; ` +
            `the hardware would wrap. Use a coarser activation scale or fewer/other salient channels`,
        );
      }
    }
  }
}
