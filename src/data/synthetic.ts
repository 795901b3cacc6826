/**
 * Built-in, deterministic LLaMA-like linear-layer inputs and weights.
 *
 * The demo and the test-suite need activations with the structure Oltron exploits (a few
 * persistent, one-sided, very large input channels, unevenly spread over the channel axis)
 * without shipping model dumps. Everything here is generated from a seed; the same
 * arguments give bit-identical tensors on every run of the same Node major version
 * (Math.log/cos/sin are V8's own fdlibm ports, not the platform libm).
 *
 * The model of one activation matrix X [M tokens x K channels], per channel c:
 *   normal   : x = t_m * sigma_c * N(0,1),  sigma_c = exp(normalSigma * N(0,1))
 *   elevated : same, with sigma_c log-uniform in elevatedScale (the heavy tail of the
 *              channel distribution: above 2x the median, but symmetric and not "salient")
 *   salient  : x = t_m * s_c * r_c * (1 + salientJitter * N(0,1)),  s_c = +-1 fixed per
 *              channel, r_c log-uniform in salientScale  (one-sided, persistent)
 *   massive  : at a few tokens, a couple of salient channels jump to 100x-1000x the median
 *              channel magnitude (sign kept)
 * where t_m is a per-token scale. Channel magnitudes are stated relative to the median
 * normal channel, whose std is 1. Salient positions: every 128-channel group draws its own
 * count uniformly from groupCountRange, so groups (and hence TOBE tiles) are unbalanced.
 *
 * Sources of the numbers are given next to LAYER_PROFILES and in docs/data.md.
 */
import { UserError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import { channelMaxAbs, type Tensor } from "../core/tensor.js";
import { Gauss, logUniform, median, streamSeed } from "./draws.js";
import { mechanisticActivations, type ActivationModel, type MechanisticKind } from "./mechanistic.js";

export const LAYER_TYPES = ["qkv", "o_proj", "up_gate", "down"] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

/** Channel group width of the published per-group salient counts (LLaMA-65B, layer 12). */
export const GROUP_SIZE = 128;

export interface LayerProfile {
  /** Which linear layer's input this models. */
  readonly description: string;
  /**
   * Calibration target: fraction of channels whose max |x| over tokens exceeds 2x the median
   * channel's max |x|. The other fractions below were tuned (K=4096, M=64) to reproduce it.
   */
  readonly targetOver2xMedian: number;
  /**
   * Ground-truth salient channels (one-sided, persistent) per 128-channel group, drawn
   * uniformly from this integer range independently for every group. Uniform over the
   * published range makes neighbouring groups differ as much as they do in the model.
   */
  readonly groupCountRange: readonly [number, number];
  /** Salient channel magnitude relative to the median normal channel, drawn log-uniformly. */
  readonly salientScale: readonly [number, number];
  /** Relative spread of a salient channel's values around its fixed signed level. */
  readonly salientJitter: number;
  /** Symmetric channels from the heavy tail (2x-6x the median), as a fraction of K. */
  readonly elevatedFraction: number;
  readonly elevatedScale: readonly [number, number];
  /** Log-normal sigma of the per-channel std of normal channels. */
  readonly normalSigma: number;
  /** Log-normal sigma of the per-token scale (0 after RMSNorm, which fixes every token's RMS). */
  readonly tokenSigma: number;
  /** Massive activations, or null when the layer type has none. */
  readonly massive: {
    /** How many channels (taken from the salient set) carry them. */
    readonly channels: number;
    /** At how many tokens: token 0 plus (tokens - 1) others. */
    readonly tokens: number;
    /** Magnitude relative to the median channel's max |x|, log-uniform. */
    readonly scale: readonly [number, number];
  } | null;
}

/**
 * Per-type parameters. Sources:
 * - targetOver2xMedian: LLaMA-7B, fraction of input channels above 2x the median channel
 *   magnitude per linear-layer type (Oltron, DAC 2024, channel analysis, as quoted in the
 *   project brief): qkv 4.5 %, o_proj 15.8 %, up_gate 0.8 %, down 11.1 %.
 * - groupCountRange: salient channels per 128-channel group in LLaMA-65B layer 12 (same
 *   source): qkv input 0-4, o_proj input 0-9, down_proj input 6-23. up_gate has no published
 *   range; 0-2 (mean 1 per 128 = 0.78 %) spends its whole 0.8 % budget on salient channels.
 *   The 65B group counts are denser-per-type in a different way than the 7B fractions, so the
 *   rest of each 7B fraction comes from "elevated" channels (below).
 * - salientScale 10x-100x: the brief's outlier-channel range; consistent with LLM.int8()
 *   (Dettmers et al. 2022) and SmoothQuant (Xiao et al. 2023), which report a few
 *   activation channels up to ~100x larger than the rest, persistent across tokens.
 * - salientJitter 0.3: one-sided channels (SmoothQuant Fig. 4: outlier channels keep their
 *   sign and rough magnitude across tokens). Modelling choice; a flip needs a 3.3-sigma draw.
 * - massive: "Massive Activations in LLMs" (Sun et al. 2024, arXiv:2402.17762): a couple of
 *   fixed feature dimensions (two in LLaMA2-7B), at the starting token and the first
 *   delimiter token, ~1000x the median magnitude and more. The MLP produces them, so the
 *   down_proj input carries them. After RMSNorm (qkv, up_gate inputs) one entry can be at
 *   most sqrt(K) ~ 64x the token's RMS, so there they are ordinary salient channels.
 * - elevatedFraction, elevatedScale, normalSigma, tokenSigma: modelling choices, tuned
 *   (K=4096, M=64, seeds 1-10) so the measured statistic lands on targetOver2xMedian.
 */
export const LAYER_PROFILES: Readonly<Record<LayerType, LayerProfile>> = {
  qkv: {
    description: "q/k/v projection input: attention RMSNorm output",
    targetOver2xMedian: 0.045,
    groupCountRange: [0, 4],
    salientScale: [10, 100],
    salientJitter: 0.3,
    elevatedFraction: 0.021,
    elevatedScale: [2.5, 6],
    normalSigma: 0.25,
    tokenSigma: 0,
    massive: null,
  },
  o_proj: {
    description: "o_proj input: attention output (softmax(QK^T) V, heads concatenated)",
    targetOver2xMedian: 0.158,
    groupCountRange: [0, 9],
    salientScale: [10, 100],
    salientJitter: 0.3,
    elevatedFraction: 0.116,
    elevatedScale: [2.5, 6],
    normalSigma: 0.25,
    tokenSigma: 0.3,
    massive: null,
  },
  up_gate: {
    description: "up/gate projection input: MLP RMSNorm output",
    targetOver2xMedian: 0.008,
    groupCountRange: [0, 2],
    salientScale: [10, 100],
    salientJitter: 0.3,
    elevatedFraction: 0,
    elevatedScale: [2.5, 6],
    normalSigma: 0.12,
    tokenSigma: 0,
    massive: null,
  },
  down: {
    description: "down_proj input: SiLU(gate) * up",
    targetOver2xMedian: 0.111,
    groupCountRange: [6, 23],
    salientScale: [10, 100],
    salientJitter: 0.3,
    elevatedFraction: 0,
    elevatedScale: [2.5, 6],
    normalSigma: 0.15,
    tokenSigma: 0.3,
    massive: { channels: 2, tokens: 2, scale: [100, 1000] },
  },
};

export interface GeneratedLayer {
  /** Activations [m x k], row-major (one row per token). */
  x: Tensor;
  /** Weights [k x n], row-major. */
  w: Tensor;
  /** Ground truth: the salient input channels, ascending. */
  salientChannels: number[];
  /** Salient channels that also carry massive activations (empty for most types). */
  massiveChannels: number[];
  /** Tokens at which the massive activations occur, ascending. */
  massiveTokens: number[];
}

/**
 * Token-to-token variation, for held-out evaluation worth the name (docs/data.md): without it
 * tokens are independent draws of one distribution, and calibrating on some of them predicts
 * the others perfectly. With it (the tokens are a stream of sequences of SEQUENCE_TOKENS):
 * - every channel's magnitude drifts: a factor exp(u_c(t)), u_c an Ornstein-Uhlenbeck process
 *   with stationary std DRIFT_SIGMA and correlation time DRIFT_TOKENS tokens, so calibration
 *   tokens see other channel magnitudes than later ones;
 * - a fraction of the salient channels is two-sided: their sign is drawn per token;
 * - the massive activations (down_proj input) recur at every sequence start and at one more
 *   token per sequence, instead of at a fixed few tokens of the whole matrix.
 */
export interface TokenVariation {
  readonly driftSigma: number;
  readonly driftTokens: number;
  readonly sequenceTokens: number;
  /** Fraction of salient channels that are two-sided, per layer type. */
  readonly twoSided: Readonly<Record<LayerType, number>>;
}

/**
 * Sources: channel-magnitude drift and two-sided outlier channels are modelling choices
 * (docs/data.md): SmoothQuant (Xiao et al. 2023) shows outlier channels persistent but of
 * varying magnitude across tokens; the down_proj input SiLU(gate) x up is a product of two
 * signed values, so its large channels take both signs. Massive activations at sequence
 * starts and delimiters: Sun et al. 2024.
 */
export const TOKEN_VARIATION: TokenVariation = {
  driftSigma: 0.3,
  driftTokens: 1024,
  sequenceTokens: 512,
  twoSided: { qkv: 0.25, o_proj: 0.5, up_gate: 0.25, down: 0.5 },
};

/**
 * How weights are drawn. gaussian: N(0, 1) entries, a mild per-output-channel spread. heavy:
 * what real checkpoints show and rotation fixes: Student-t(6) entries (excess kurtosis 3, the
 * audit's choice), a wider per-output-channel spread and per-input-row scales, so a few rows
 * and columns carry most of the largest weights.
 */
export const WEIGHT_MODELS = ["gaussian", "heavy"] as const;
export type WeightModel = (typeof WEIGHT_MODELS)[number];

/** Generates a layer's activations and weights from one seed. */
export function generateLayer(opts: {
  type: LayerType; m: number; k: number; n: number; seed: number; variation?: boolean; weights?: WeightModel;
  /** The activations from the type's measured profile (default) or built by mechanism (data/mechanistic.ts). */
  activations?: ActivationModel;
}): GeneratedLayer {
  const { type, m, k, n, seed } = opts;
  const profile = profileOf(type);
  checkDims({ m, k, n }, seed);
  const act = opts.activations === "mechanistic"
    ? mechanisticActivations(MECHANISTIC_KIND[type], m, k, seed, LAYER_TYPES.indexOf(type), opts.variation ?? true)
    : synthActivations(type, profile, m, k, seed, opts.variation ? TOKEN_VARIATION : undefined);
  return { ...act, w: synthWeights(k, n, streamSeed(seed, LAYER_TYPES.indexOf(type), STREAM_WEIGHTS), opts.weights) };
}

/** Which mechanism builds each layer type's input (data/mechanistic.ts). */
export const MECHANISTIC_KIND: Readonly<Record<LayerType, MechanisticKind>> = { qkv: "residual", o_proj: "attention", up_gate: "residual", down: "swiglu" };

/** Activations alone; identical to generateLayer(...).x for the same type, m, k and seed. */
export function generateActivations(type: LayerType, m: number, k: number, seed: number): Tensor {
  const profile = profileOf(type);
  checkDims({ m, k }, seed);
  return synthActivations(type, profile, m, k, seed).x;
}

/**
 * Weights [k x n]: Gaussian with a per-output-channel std (log-normal, sigma 0.3) times
 * 1/sqrt(k), so per-output-channel weight scales matter as they do in real checkpoints.
 */
export function generateWeights(k: number, n: number, seed: number, model: WeightModel = "gaussian"): Tensor {
  checkDims({ k, n }, seed);
  return synthWeights(k, n, streamSeed(seed, -1, STREAM_WEIGHTS), model);
}

/**
 * The calibration statistic: per channel, max |x| over tokens; returns the fraction of
 * channels whose value exceeds `factor` times the median of those maxima.
 */
export function fractionAboveMedian(x: Tensor, factor = 2): number {
  const mx = channelMaxAbs(x);
  const med = median(mx);
  let count = 0;
  for (const v of mx) if (v > factor * med) count++;
  return count / mx.length;
}

export { channelMaxAbs } from "../core/tensor.js";
export { ACTIVATION_MODELS, type ActivationModel } from "./mechanistic.js";

// ------------------------------------------------------------------ internals

// Independent random streams, so that e.g. the channel layout does not depend on M:
// the same seed with more tokens keeps the same salient channels.
const STREAM_LAYOUT = 1;
const STREAM_VALUES = 2;
const STREAM_WEIGHTS = 3;
const STREAM_VARIATION = 4;
const WEIGHT_SCALE_SIGMA = 0.3; // modelling choice: mild per-output-channel spread
/** Heavy-tailed weights (modelling choices, docs/data.md): Student-t degrees of freedom, output-column and input-row log-normal spreads. */
export const HEAVY_WEIGHTS = { dof: 6, columnSigma: 0.5, rowSigma: 0.4 } as const;


function profileOf(type: LayerType): LayerProfile {
  if (!(LAYER_TYPES as readonly string[]).includes(type)) {
    throw new UserError(`unknown layer type '${String(type)}'; layer types: ${LAYER_TYPES.join(", ")}`);
  }
  return LAYER_PROFILES[type];
}

const MAX_ELEMENTS = 2 ** 28; // 1 GiB of float32: far beyond any demo, well inside typed-array limits

function checkDims(dims: Record<string, number>, seed: number): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new UserError(`synthetic data: ${name} must be a positive integer, got ${String(v)}`);
    }
  }
  const sizes = Object.values(dims);
  for (let i = 0; i + 1 < sizes.length; i++) {
    if (sizes[i] * sizes[i + 1] > MAX_ELEMENTS) {
      throw new UserError(`synthetic data: ${Object.keys(dims).join(" x ")} = ${sizes.join(" x ")} is too large (limit ${MAX_ELEMENTS} elements per matrix)`);
    }
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`synthetic data: seed must be an integer in [0, 2^32), got ${String(seed)}`);
  }
}



interface Layout {
  /** Per-channel mean level (non-zero only for salient channels). */
  mean: Float64Array;
  /** Per-channel std. */
  std: Float64Array;
  salient: number[];
  massive: number[];
}

/** Which channels are what, and their scales: depends on (type, k, seed), never on m. */
function makeLayout(p: LayerProfile, k: number, rng: Rng): Layout {
  const g = new Gauss(rng);
  const mean = new Float64Array(k);
  const std = new Float64Array(k);
  for (let c = 0; c < k; c++) std[c] = Math.exp(p.normalSigma * g.next());

  // Salient channels: an independent count per 128-channel group, then uniform positions
  // inside the group. This is what makes tiles unbalanced and TOBE worth having.
  const [lo, hi] = p.groupCountRange;
  const isSalient = new Uint8Array(k);
  const salient: number[] = [];
  for (let g0 = 0; g0 < k; g0 += GROUP_SIZE) {
    const width = Math.min(GROUP_SIZE, k - g0);
    const drawn = lo + Math.floor(rng.next() * (hi - lo + 1));
    // A partial last group (or K < 128) gets a proportional share, and never mostly salient.
    const count = Math.min(Math.floor(width / 2), Math.round((drawn * width) / GROUP_SIZE));
    const pos = Array.from({ length: width }, (_, i) => g0 + i);
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(rng.next() * (width - i));
      [pos[i], pos[j]] = [pos[j], pos[i]];
      salient.push(pos[i]);
      isSalient[pos[i]] = 1;
    }
  }
  // Every layer gets at least one salient channel, so the salient path is always exercised.
  if (salient.length === 0) {
    const c = Math.floor(rng.next() * k);
    salient.push(c);
    isSalient[c] = 1;
  }
  salient.sort((a, b) => a - b);

  // Elevated channels: uniform over the rest (their placement is not what TOBE balances).
  const rest: number[] = [];
  for (let c = 0; c < k; c++) if (!isSalient[c]) rest.push(c);
  const nElevated = Math.min(rest.length, Math.round(p.elevatedFraction * k));
  for (let i = 0; i < nElevated; i++) {
    const j = i + Math.floor(rng.next() * (rest.length - i));
    [rest[i], rest[j]] = [rest[j], rest[i]];
    std[rest[i]] = logUniform(rng, p.elevatedScale);
  }

  for (const c of salient) {
    const level = logUniform(rng, p.salientScale) * (rng.next() < 0.5 ? -1 : 1);
    mean[c] = level;
    std[c] = Math.abs(level) * p.salientJitter;
  }

  const massive: number[] = [];
  if (p.massive) {
    const pool = salient.slice();
    for (let i = 0; i < Math.min(p.massive.channels, pool.length); i++) {
      const j = i + Math.floor(rng.next() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j], pool[i]];
      massive.push(pool[i]);
    }
    massive.sort((a, b) => a - b);
  }
  return { mean, std, salient, massive };
}

function synthActivations(
  type: LayerType,
  p: LayerProfile,
  m: number,
  k: number,
  seed: number,
  variation?: TokenVariation,
): Omit<GeneratedLayer, "w"> {
  const typeIndex = LAYER_TYPES.indexOf(type);
  const layout = makeLayout(p, k, new Rng(streamSeed(seed, typeIndex, STREAM_LAYOUT)));
  const rng = new Rng(streamSeed(seed, typeIndex, STREAM_VALUES));
  const g = new Gauss(rng);

  const data = new Float32Array(m * k);
  const { mean, std } = layout;
  if (variation) {
    // Its own stream: the variation leaves the channel layout and the i.i.d. draws alone.
    const vg = new Gauss(new Rng(streamSeed(seed, typeIndex, STREAM_VARIATION)));
    const twoSided = new Uint8Array(k);
    for (const c of layout.salient) if (vg.rng.next() < variation.twoSided[type]) twoSided[c] = 1;
    const rho = 1 - 1 / variation.driftTokens;
    const kick = variation.driftSigma * Math.sqrt(1 - rho * rho);
    const u = new Float64Array(k);
    for (let c = 0; c < k; c++) u[c] = variation.driftSigma * vg.next();
    for (let t = 0; t < m; t++) {
      const ts = p.tokenSigma ? Math.exp(p.tokenSigma * g.next()) : 1;
      const row = t * k;
      for (let c = 0; c < k; c++) {
        if (t > 0) u[c] = rho * u[c] + kick * vg.next();
        const level = twoSided[c] && vg.rng.next() < 0.5 ? -mean[c] : mean[c];
        data[row + c] = ts * Math.exp(u[c]) * (level + std[c] * g.next());
      }
    }
  } else {
    for (let t = 0; t < m; t++) {
      const ts = p.tokenSigma ? Math.exp(p.tokenSigma * g.next()) : 1;
      const row = t * k;
      for (let c = 0; c < k; c++) data[row + c] = ts * (mean[c] + std[c] * g.next());
    }
  }
  const x: Tensor = { shape: [m, k], data };

  // Massive values are set against the matrix's own median channel magnitude, so the
  // 100x-1000x ratio holds exactly whatever m is. They only raise channels that are already
  // far above the median, so the median itself does not move.
  const massiveTokens: number[] = [];
  if (p.massive && layout.massive.length && variation) {
    // Every sequence start, and one more token (a delimiter) inside every sequence.
    for (let s0 = 0; s0 < m; s0 += variation.sequenceTokens) {
      massiveTokens.push(s0);
      const len = Math.min(variation.sequenceTokens, m - s0);
      if (len > 1) massiveTokens.push(s0 + 1 + Math.floor(rng.next() * (len - 1)));
    }
    const med = median(channelMaxAbs(x));
    for (const t of massiveTokens) {
      for (const c of layout.massive) data[t * k + c] = Math.sign(mean[c]) * logUniform(rng, p.massive.scale) * med;
    }
  } else if (p.massive && layout.massive.length) {
    massiveTokens.push(0); // the starting token always carries them (Sun et al. 2024)
    const others = Math.min(p.massive.tokens - 1, m - 1);
    const picked = new Set<number>();
    while (picked.size < others) picked.add(1 + Math.floor(rng.next() * (m - 1)));
    massiveTokens.push(...[...picked].sort((a, b) => a - b));
    const med = median(channelMaxAbs(x));
    for (const t of massiveTokens) {
      for (const c of layout.massive) {
        data[t * k + c] = Math.sign(mean[c]) * logUniform(rng, p.massive.scale) * med;
      }
    }
  }
  return { x, salientChannels: layout.salient, massiveChannels: layout.massive, massiveTokens };
}

function synthWeights(k: number, n: number, seed: number, model: WeightModel = "gaussian"): Tensor {
  const g = new Gauss(new Rng(seed));
  const colStd = new Float64Array(n);
  const base = 1 / Math.sqrt(k);
  const data = new Float32Array(k * n);
  if (model === "gaussian") {
    for (let j = 0; j < n; j++) colStd[j] = base * Math.exp(WEIGHT_SCALE_SIGMA * g.next());
    for (let i = 0; i < k; i++) {
      const row = i * n;
      for (let j = 0; j < n; j++) data[row + j] = colStd[j] * g.next();
    }
    return { shape: [k, n], data };
  }
  // Student-t(v) = Z / sqrt(chi2_v / v), scaled to unit variance (its variance is v / (v - 2)).
  const { dof, columnSigma, rowSigma } = HEAVY_WEIGHTS;
  const unit = Math.sqrt((dof - 2) / dof);
  for (let j = 0; j < n; j++) colStd[j] = base * Math.exp(columnSigma * g.next());
  const rowStd = Float64Array.from({ length: k }, () => Math.exp(rowSigma * g.next()));
  for (let i = 0; i < k; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) {
      let chi2 = 0;
      for (let d = 0; d < dof; d++) {
        const z = g.next();
        chi2 += z * z;
      }
      data[row + j] = rowStd[i] * colStd[j] * unit * (g.next() / Math.sqrt(chi2 / dof));
    }
  }
  return { shape: [k, n], data };
}

