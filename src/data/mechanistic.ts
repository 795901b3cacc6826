/**
 * Mechanistic activation models: a linear layer's input built the way the model builds it,
 * instead of drawn channel by channel from a measured profile (data/synthetic.ts). They carry
 * what the profiles leave out and what decides between rotation and outlier formats:
 *
 * - qkv, up_gate (RMSNorm'd residual): a residual stream with persistent one-sided outlier
 *   channels and, at sink tokens (every sequence start and one delimiter per sequence), two
 *   massive residual channels; then RMSNorm, so at a sink token the massive channels take
 *   almost all of the row (up to sqrt(K) its RMS) and every other channel almost vanishes.
 * - o_proj (attention output): per head, softmax-weighted sums of value vectors over a
 *   window of earlier tokens plus an attention sink, the sequence's first token, whose value
 *   vector is small; heads differ in value scale, sink mass and sharpness, so channel groups
 *   of one head rise and fall together and tokens that attend mostly to the sink are small.
 * - down (SwiGLU output): SiLU(gate) x up, a product of two signed Gaussians per channel
 *   (heavy-tailed, both signs), a few channels whose gate and up are both large, and two
 *   massive channels at the sink tokens, 1000x-6000x the median channel's spread.
 *
 * Numbers are modelling choices from the cited observations (docs/data.md section 2.5):
 * massive activations at the starting and delimiter tokens, a few fixed dimensions, thousands
 * of times the median (Sun et al. 2024, arXiv:2402.17762); attention sinks on the first token
 * with small value norms (Xiao et al. 2023, StreamingLLM; Sun et al. 2024 section 4);
 * persistent residual outlier channels (Dettmers et al. 2022; Ashkboos et al. 2024, QuaRot).
 */
import { Rng } from "../core/rng.js";
import type { Tensor } from "../core/tensor.js";
import { Gauss, logUniform, median, streamSeed } from "./draws.js";

/** The activation models of the synthetic layers: the measured channel profile, or built by mechanism. */
export const ACTIVATION_MODELS = ["profile", "mechanistic"] as const;
export type ActivationModel = (typeof ACTIVATION_MODELS)[number];

export const MECHANISTIC = {
  /** Tokens per sequence: each starts with a sink token and has one delimiter token. */
  sequenceTokens: 512,
  /** Per-sequence log-normal drift of every outlier channel's level. */
  driftSigma: 0.3,
  residual: {
    channelSigma: 0.3, gammaSigma: 0.2, outlierFraction: 0.01, outlierScale: [20, 60] as const, outlierJitter: 0.3,
    massiveChannels: 2, massiveScale: [1000, 4000] as const,
  },
  attention: {
    headDim: 128, window: 32, headSigma: 0.5, channelSigma: 0.3, outlierFraction: 0.02, outlierScale: [5, 20] as const,
    sinkMass: [0.2, 0.95] as const, sharpness: [0.5, 3] as const, sinkValueScale: 0.1,
  },
  swiglu: {
    channelSigma: 0.3, gateMean: -0.5, gateMeanSigma: 0.5, outlierFraction: 0.015, outlierGate: [3, 8] as const, outlierUp: [5, 15] as const,
    massiveChannels: 2, massiveScale: [1000, 6000] as const,
  },
} as const;

export interface MechanisticActivations {
  x: Tensor;
  /** The persistent outlier channels, ascending. */
  salientChannels: number[];
  /** Channels carrying massive activations, ascending (empty for the attention output). */
  massiveChannels: number[];
  /** The sink tokens: sequence starts and one delimiter per sequence, ascending. */
  massiveTokens: number[];
}

export type MechanisticKind = "residual" | "attention" | "swiglu";

// Streams of their own, apart from the profile generator's (data/synthetic.ts uses 1-4).
const STREAM_LAYOUT = 11;
const STREAM_VALUES = 12;
const STREAM_SINKS = 13;

/** Sequence starts and one delimiter token inside every sequence (at least two tokens long). */
function sinkTokens(m: number, rng: Rng): { tokens: number[]; isSink: Uint8Array } {
  const tokens: number[] = [];
  const isSink = new Uint8Array(m);
  for (let s0 = 0; s0 < m; s0 += MECHANISTIC.sequenceTokens) {
    tokens.push(s0);
    const len = Math.min(MECHANISTIC.sequenceTokens, m - s0);
    if (len > 1) tokens.push(s0 + 1 + Math.floor(rng.next() * (len - 1)));
  }
  for (const t of tokens) isSink[t] = 1;
  return { tokens, isSink };
}

/** `count` distinct channels of 0..k-1, ascending. */
function pickChannels(k: number, count: number, rng: Rng): number[] {
  const pos = Array.from({ length: k }, (_, i) => i);
  const n = Math.min(k, count);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng.next() * (k - i));
    [pos[i], pos[j]] = [pos[j], pos[i]];
  }
  return pos.slice(0, n).sort((a, b) => a - b);
}

/** Per (sequence, channel) drift factors of the outlier levels. */
function drift(m: number, channels: readonly number[], g: Gauss, variation: boolean): (t: number, i: number) => number {
  const seqs = Math.ceil(m / MECHANISTIC.sequenceTokens);
  const f = Float64Array.from({ length: seqs * channels.length }, () => (variation ? Math.exp(MECHANISTIC.driftSigma * g.next()) : 1));
  return (t, i) => f[Math.floor(t / MECHANISTIC.sequenceTokens) * channels.length + i];
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/**
 * One layer input [m x k] of the given kind, from a seed. `typeIndex` separates the streams of
 * layer types that share a kind (qkv and up_gate are both RMSNorm'd residuals).
 */
export function mechanisticActivations(kind: MechanisticKind, m: number, k: number, seed: number, typeIndex: number, variation = true): MechanisticActivations {
  const lrng = new Rng(streamSeed(seed, typeIndex + 16, STREAM_LAYOUT));
  const lg = new Gauss(lrng);
  const g = new Gauss(new Rng(streamSeed(seed, typeIndex + 16, STREAM_VALUES)));
  // The sinks depend on m: a stream of their own keeps the channel layout independent of m.
  const { tokens: sinks, isSink } = sinkTokens(m, new Rng(streamSeed(seed, typeIndex + 16, STREAM_SINKS)));
  const data = new Float32Array(m * k);
  if (kind === "residual") {
    const p = MECHANISTIC.residual;
    const sigma = Float64Array.from({ length: k }, () => Math.exp(p.channelSigma * lg.next()));
    const gamma = Float64Array.from({ length: k }, () => Math.exp(p.gammaSigma * lg.next()));
    const outliers = pickChannels(k, Math.max(p.massiveChannels, Math.round(p.outlierFraction * k)), lrng);
    const level = outliers.map(() => logUniform(lrng, p.outlierScale) * (lrng.next() < 0.5 ? -1 : 1));
    const massive = outliers.slice(0, p.massiveChannels);
    const f = drift(m, outliers, lg, variation);
    const r = new Float64Array(k);
    for (let t = 0; t < m; t++) {
      for (let c = 0; c < k; c++) r[c] = sigma[c] * g.next();
      outliers.forEach((c, i) => (r[c] += level[i] * f(t, i) * (1 + p.outlierJitter * g.next())));
      if (isSink[t]) massive.forEach((c, i) => (r[c] = Math.sign(level[i]) * logUniform(g.rng, p.massiveScale)));
      let ss = 0;
      for (let c = 0; c < k; c++) ss += r[c] * r[c];
      const inv = 1 / Math.sqrt(ss / k);
      for (let c = 0; c < k; c++) data[t * k + c] = r[c] * inv * gamma[c];
    }
    return { x: { shape: [m, k], data }, salientChannels: outliers, massiveChannels: massive, massiveTokens: sinks };
  }
  if (kind === "attention") {
    const p = MECHANISTIC.attention;
    const heads = Math.ceil(k / p.headDim);
    const headScale = Float64Array.from({ length: heads }, () => Math.exp(p.headSigma * lg.next()));
    const sinkMass = Float64Array.from({ length: heads }, () => p.sinkMass[0] + lrng.next() * (p.sinkMass[1] - p.sinkMass[0]));
    const sharp = Float64Array.from({ length: heads }, () => p.sharpness[0] + lrng.next() * (p.sharpness[1] - p.sharpness[0]));
    const vs = Float64Array.from({ length: k }, (_, c) => headScale[Math.floor(c / p.headDim)] * Math.exp(p.channelSigma * lg.next()));
    const outliers = pickChannels(k, Math.round(p.outlierFraction * k), lrng);
    for (const c of outliers) vs[c] *= logUniform(lrng, p.outlierScale);
    const f = drift(m, outliers, lg, variation);
    const v = new Float64Array(m * k);
    for (let t = 0; t < m; t++) {
      const start = t % MECHANISTIC.sequenceTokens === 0;
      for (let c = 0; c < k; c++) v[t * k + c] = vs[c] * g.next() * (start ? p.sinkValueScale : 1);
      outliers.forEach((c, i) => (v[t * k + c] *= f(t, i)));
    }
    const w = new Float64Array(p.window);
    for (let t = 0; t < m; t++) {
      const s0 = t - (t % MECHANISTIC.sequenceTokens);
      const from = Math.max(s0 + 1, t - p.window + 1);
      for (let h = 0; h < heads; h++) {
        // Softmax over the window, and the sink's share of this token's attention.
        let sum = 0;
        for (let j = from; j <= t; j++) sum += w[j - from] = Math.exp(sharp[h] * g.next());
        const alpha = from > t ? 1 : sinkMass[h] * (0.5 + 0.5 * g.rng.next());
        const c1 = Math.min(k, (h + 1) * p.headDim);
        for (let c = h * p.headDim; c < c1; c++) {
          let acc = alpha * v[s0 * k + c];
          for (let j = from; j <= t; j++) acc += ((1 - alpha) * w[j - from] * v[j * k + c]) / sum;
          data[t * k + c] = acc;
        }
      }
    }
    return { x: { shape: [m, k], data }, salientChannels: outliers, massiveChannels: [], massiveTokens: sinks };
  }
  const p = MECHANISTIC.swiglu;
  const sg = Float64Array.from({ length: k }, () => Math.exp(p.channelSigma * lg.next()));
  const su = Float64Array.from({ length: k }, () => Math.exp(p.channelSigma * lg.next()));
  const mu = Float64Array.from({ length: k }, () => p.gateMean + p.gateMeanSigma * lg.next());
  const outliers = pickChannels(k, Math.max(p.massiveChannels, Math.round(p.outlierFraction * k)), lrng);
  const og = new Float64Array(k);
  const ou = new Float64Array(k);
  for (const c of outliers) {
    og[c] = logUniform(lrng, p.outlierGate);
    ou[c] = logUniform(lrng, p.outlierUp) * (lrng.next() < 0.5 ? -1 : 1);
  }
  const massive = outliers.slice(0, p.massiveChannels);
  const idx = new Map(outliers.map((c, i) => [c, i]));
  const f = drift(m, outliers, lg, variation);
  for (let t = 0; t < m; t++) {
    for (let c = 0; c < k; c++) {
      const i = idx.get(c);
      const d = i === undefined ? 1 : f(t, i);
      data[t * k + c] = silu(mu[c] + og[c] * d + sg[c] * g.next()) * (ou[c] * d + su[c] * g.next());
    }
  }
  // Massive values against the median channel's spread (standard deviation over the tokens).
  const sd = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s1 = 0;
    let s2 = 0;
    for (let t = 0; t < m; t++) {
      const x = data[t * k + c];
      s1 += x;
      s2 += x * x;
    }
    sd[c] = Math.sqrt(Math.max(0, s2 / m - (s1 / m) ** 2));
  }
  const med = median(sd);
  for (const t of sinks) for (const c of massive) data[t * k + c] = Math.sign(ou[c]) * logUniform(g.rng, p.massiveScale) * med;
  return { x: { shape: [m, k], data }, salientChannels: outliers, massiveChannels: massive, massiveTokens: sinks };
}
