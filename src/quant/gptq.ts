/**
 * GPTQ int4 weights (Frantar et al., ICLR 2023; IST-DASLab/gptq), per output channel and
 * symmetric, as the hardware dequantizes them (s_w[n]): each input row k of W [K x N] is
 * rounded in turn and its rounding error, weighted by the inverse Hessian of the layer's
 * calibration activations (H = X^T X), is pushed onto the rows not yet rounded. The result
 * minimises the layer-output error on the calibration tokens far better than rounding each
 * weight to nearest.
 *
 * Deviations from the released code, all documented in docs/quantization.md:
 * - the scale is max |w[:, n]| / 7 with codes -8..7 (the hardware's rule and QuaRot's copy of
 *   the GPTQ quantizer), not GPTQ's own 2 max / 15 with a zero point;
 * - float64 throughout (the release uses float32);
 * - the error of each row goes to every later row at once (the release defers it in blocks of
 *   128 rows, which is the same arithmetic reordered for GPU memory traffic);
 * - a Cholesky failure retries with more damping (+0.0015 of the mean diagonal each time, as
 *   GPTQModel does); the release raises.
 */
import { decodeInt4, encodeInt4 } from "../core/formats.js";
import type { Tensor } from "../core/tensor.js";

export type WeightQuant = "rtn" | "gptq";
export const WEIGHT_QUANTS: readonly WeightQuant[] = ["rtn", "gptq"];

export interface GptqOptions {
  /** Damping as a fraction of the mean Hessian diagonal (default 0.01, the release's). */
  percDamp?: number;
  /** Round rows in order of decreasing Hessian diagonal (the release's --act-order); default false. */
  actOrder?: boolean;
}

export interface GptqResult {
  /** Decoded int4 weights [K x N] in -8..7 (original row order). */
  wq: Float64Array;
  /** Per-output-channel scales. */
  ws: Float64Array;
  /** The damping fraction that made the Hessian factorable. */
  percDamp: number;
  /** Input channels never active in the calibration tokens: their weights were set to 0. */
  deadChannels: number;
}

/** Per-output-channel scale max |w[:, n]| / 7 (1 for an all-zero column). */
export function int4ColumnScales(w: Tensor): Float64Array {
  const [k, n] = w.shape;
  const ws = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let mx = 0;
    for (let c = 0; c < k; c++) mx = Math.max(mx, Math.abs(w.data[c * n + j]));
    ws[j] = mx > 0 ? mx / 7 : 1;
  }
  return ws;
}

/** X^T X [K x K] of the calibration activations [M x K]. */
export function hessian(x: Tensor): Float64Array {
  const [m, k] = x.shape;
  const h = new Float64Array(k * k);
  const row = new Float64Array(k);
  for (let r = 0; r < m; r++) {
    for (let a = 0; a < k; a++) row[a] = x.data[r * k + a];
    for (let a = 0; a < k; a++) {
      const xa = row[a];
      if (xa === 0) continue;
      const o = a * k;
      for (let b = a; b < k; b++) h[o + b] += xa * row[b];
    }
  }
  for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) h[a * k + b] = h[b * k + a];
  return h;
}

/**
 * U, upper triangular with H^-1 = U^T U (what the release gets from cholesky, cholesky_inverse
 * and cholesky(upper)), without forming H^-1: factor the index-reversed H as L L^T, so that
 * H = R R^T with R = J L J upper, and U = R^-1. Returns undefined when H is not positive definite.
 */
export function inverseUpperFactor(h: Float64Array, k: number): Float64Array | undefined {
  // Cholesky of G = J H J (G[i][j] = H[k-1-i][k-1-j]), lower L in place.
  const L = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = h[(k - 1 - i) * k + (k - 1 - j)];
      for (let p = 0; p < j; p++) s -= L[i * k + p] * L[j * k + p];
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return undefined;
        L[i * k + i] = Math.sqrt(s);
      } else {
        L[i * k + j] = s / L[j * k + j];
      }
    }
  }
  // R[a][b] = L[k-1-a][k-1-b] is upper; U = R^-1, by back substitution column by column.
  const R = (a: number, b: number) => L[(k - 1 - a) * k + (k - 1 - b)];
  const U = new Float64Array(k * k);
  for (let col = 0; col < k; col++) {
    // Solve R u = e_col for the upper-triangular R: u[a] = 0 for a > col.
    for (let a = col; a >= 0; a--) {
      let s = a === col ? 1 : 0;
      for (let p = a + 1; p <= col; p++) s -= R(a, p) * U[p * k + col];
      U[a * k + col] = s / R(a, a);
    }
  }
  return U;
}

/** Round-to-nearest int4 (the quantizer's rule), as decoded integers. */
export function rtnInt4(w: Tensor, ws: Float64Array): Float64Array {
  const [k, n] = w.shape;
  const wq = new Float64Array(k * n);
  for (let c = 0; c < k; c++) for (let j = 0; j < n; j++) wq[c * n + j] = decodeInt4(encodeInt4(w.data[c * n + j] / ws[j]));
  return wq;
}

/** GPTQ int4 weights of W [K x N], calibrated on activations X [M x K]. */
export function gptqInt4(x: Tensor, w: Tensor, opts: GptqOptions = {}): GptqResult {
  const [k, n] = w.shape;
  const ws = int4ColumnScales(w);
  const h0 = hessian(x);
  const W = Float64Array.from(w.data);
  let dead = 0;
  for (let a = 0; a < k; a++) {
    if (h0[a * k + a] === 0) {
      h0[a * k + a] = 1;
      W.fill(0, a * n, a * n + n);
      dead++;
    }
  }
  // Rounding order: natural, or by decreasing diagonal (ties by index).
  const order = Array.from({ length: k }, (_, i) => i);
  if (opts.actOrder) order.sort((a, b) => h0[b * k + b] - h0[a * k + a] || a - b);
  const h = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j] = h0[order[i] * k + order[j]];
  let meanDiag = 0;
  for (let i = 0; i < k; i++) meanDiag += h[i * k + i];
  meanDiag /= k;
  let percDamp = opts.percDamp ?? 0.01;
  let U: Float64Array | undefined;
  for (;;) {
    const hd = Float64Array.from(h);
    for (let i = 0; i < k; i++) hd[i * k + i] += percDamp * meanDiag;
    U = inverseUpperFactor(hd, k);
    if (U || percDamp >= 1) break;
    percDamp += 0.0015;
  }
  if (!U) return { wq: rtnInt4(w, ws), ws, percDamp, deadChannels: dead };

  const wq = new Float64Array(k * n);
  const err = new Float64Array(n);
  for (let i = 0; i < k; i++) {
    const r = order[i];
    const d = U[i * k + i];
    for (let j = 0; j < n; j++) {
      const v = W[r * n + j];
      const q = decodeInt4(encodeInt4(v / ws[j]));
      wq[r * n + j] = q;
      err[j] = (v - q * ws[j]) / d;
    }
    for (let t = i + 1; t < k; t++) {
      const u = U[i * k + t];
      if (u === 0) continue;
      const o = order[t] * n;
      for (let j = 0; j < n; j++) W[o + j] -= u * err[j];
    }
  }
  return { wq, ws, percDamp, deadChannels: dead };
}
