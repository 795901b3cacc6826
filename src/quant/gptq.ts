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
 * - a Cholesky failure retries with more damping (+0.0015 of the mean diagonal each time, as
 *   GPTQModel does); the release raises.
 *
 * Rows go in the release's lazy batches of 128: inside a batch each row's error reaches the
 * batch's later rows before they are rounded, and at the batch's end its errors reach all
 * later rows as one matrix product. Every cubic step (X^T X, the Cholesky factor, its inverse,
 * those products) runs through one packed GEMM with a register tile (`oltron bench --only
 * gptq` times the whole against numpy; docs/bench.md).
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
  /**
   * Called as each phase ends with its wall seconds (the bench's per-phase figures; a caller
   * may also use it as progress): "hessian" (X^T X), "factor" (damping, Cholesky and its
   * inverse), "update" (rounding and error propagation).
   */
  onPhase?: (phase: GptqPhase, seconds: number) => void;
  /** Per-output-channel scales to round on (default max |w| / 7; mseClipScales for QuaRot's --w_clip). */
  scales?: Float64Array;
}

export type GptqPhase = "hessian" | "factor" | "update";

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
  const xs = Float64Array.from(x.data);
  const h = new Float64Array(k * k);
  // H(a, b) = sum_r X(r, a) X(r, b): A = X^T read through strides, B = X; the lower half only.
  gemm(k, k, m, 1, xs, 0, 1, k, xs, 0, k, 1, h, 0, k, true, false);
  mirrorLower(h, k);
  return h;
}

/**
 * U, upper triangular with H^-1 = U^T U (what the release gets from cholesky, cholesky_inverse
 * and cholesky(upper)), without forming H^-1: factor the index-reversed H as L L^T, so that
 * H = R R^T with R = J L J upper, and U = R^-1 = J L^-1 J. Reversing a row-major matrix's
 * storage end to end is exactly J M J, so the whole computation stays in one array. Returns
 * undefined when H is not positive definite.
 */
export function inverseUpperFactor(h: Float64Array, k: number): Float64Array | undefined {
  const a = h.slice(0, k * k).reverse();
  if (!choleskyInPlace(a, k)) return undefined;
  invertLowerInPlace(a, k);
  return a.reverse();
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
  const ws = opts.scales ?? int4ColumnScales(w);
  const f = dampedFactor(x, k, opts);
  if (!f.U) return { wq: rtnInt4(w, ws), ws, percDamp: f.percDamp, deadChannels: f.dead.length };
  const { U, order } = f;
  const t0 = performance.now();

  // W in rounding order, so that every block below is a contiguous run of rows.
  const W = new Float64Array(k * n);
  const isDead = new Uint8Array(k);
  for (const a of f.dead) isDead[a] = 1;
  for (let i = 0; i < k; i++) {
    const r = order[i];
    if (!isDead[r]) for (let j = 0; j < n; j++) W[i * n + j] = w.data[r * n + j];
  }
  const wq = new Float64Array(k * n);
  const err = new Float64Array(GPTQ_BLOCK * n);
  for (let i1 = 0; i1 < k; i1 += GPTQ_BLOCK) {
    const i2 = Math.min(i1 + GPTQ_BLOCK, k);
    for (let i = i1; i < i2; i++) {
      // Row i collects the errors of the block's earlier rows just before it is rounded (the
      // release pushes each error on as it is made: the same terms, in another order), four
      // error rows per pass over it.
      const wo = i * n;
      let p = i1;
      for (; p + 4 <= i; p += 4) {
        const u0 = U[p * k + i], u1 = U[(p + 1) * k + i], u2 = U[(p + 2) * k + i], u3 = U[(p + 3) * k + i];
        const e0 = (p - i1) * n, e1 = e0 + n, e2 = e1 + n, e3 = e2 + n;
        for (let j = 0; j < n; j++) W[wo + j] -= u0 * err[e0 + j] + u1 * err[e1 + j] + u2 * err[e2 + j] + u3 * err[e3 + j];
      }
      for (; p < i; p++) {
        const u = U[p * k + i];
        const e = (p - i1) * n;
        for (let j = 0; j < n; j++) W[wo + j] -= u * err[e + j];
      }
      const d = U[i * k + i];
      const eo = (i - i1) * n;
      const qo = order[i] * n;
      for (let j = 0; j < n; j++) {
        const v = W[wo + j];
        const q = decodeInt4(encodeInt4(v / ws[j]));
        wq[qo + j] = q;
        err[eo + j] = (v - q * ws[j]) / d;
      }
    }
    // The block's errors reach every later row at once: W[i2:] -= U[i1:i2, i2:]^T err.
    if (i2 < k) gemm(k - i2, n, i2 - i1, -1, U, i1 * k + i2, 1, k, err, 0, n, 1, W, i2 * n, n, false, false);
  }
  opts.onPhase?.("update", (performance.now() - t0) / 1000);
  return { wq, ws, percDamp: f.percDamp, deadChannels: f.dead.length };
}

/** Rows per lazy batch, the release's blocksize. */
const GPTQ_BLOCK = 128;

/**
 * The Hessian's dead channels, the rounding order and U, with damping raised until H factors.
 * Kept apart from gptqInt4 so that H (K x K, 1 GB at K = 11008) is garbage once U exists.
 */
function dampedFactor(x: Tensor, k: number, opts: GptqOptions): { U?: Float64Array; order: Int32Array; dead: number[]; percDamp: number } {
  let t0 = performance.now();
  let h = hessian(x);
  opts.onPhase?.("hessian", (performance.now() - t0) / 1000);
  t0 = performance.now();
  const dead: number[] = [];
  for (let a = 0; a < k; a++) {
    if (h[a * k + a] === 0) {
      h[a * k + a] = 1;
      dead.push(a);
    }
  }
  // Rounding order: natural, or by decreasing diagonal (ties by index).
  const order = Int32Array.from({ length: k }, (_, i) => i);
  if (opts.actOrder) {
    const diag = Float64Array.from({ length: k }, (_, i) => h[i * k + i]);
    order.set(Array.from(order).sort((a, b) => diag[b] - diag[a] || a - b));
    const p = new Float64Array(k * k);
    for (let i = 0; i < k; i++) {
      const src = order[i] * k;
      for (let j = 0; j < k; j++) p[i * k + j] = h[src + order[j]];
    }
    h = p;
  }
  let meanDiag = 0;
  for (let i = 0; i < k; i++) meanDiag += h[i * k + i];
  meanDiag /= k;
  let percDamp = opts.percDamp ?? 0.01;
  const a = new Float64Array(k * k);
  for (;;) {
    a.set(h);
    a.reverse();
    for (let i = 0; i < k; i++) a[i * k + i] += percDamp * meanDiag;
    if (choleskyInPlace(a, k)) break;
    if (percDamp >= 1) {
      opts.onPhase?.("factor", (performance.now() - t0) / 1000);
      return { order, dead, percDamp };
    }
    percDamp += 0.0015;
  }
  invertLowerInPlace(a, k);
  a.reverse();
  opts.onPhase?.("factor", (performance.now() - t0) / 1000);
  return { U: a, order, dead, percDamp };
}

// ---------------------------------------------------------------- dense kernels
//
// Row-major float64 throughout. The cubic work (X^T X, the Cholesky factor, its inverse and the
// lazy-batch update) all runs through one packed GEMM with a 4 x 4 register tile, which is what
// lets a scalar JIT reach a few GFLOP/s: each value loaded feeds four multiply-adds.

const MR = 4;
const NR = 4;
/** Depth of a packed block. */
const KC = 256;
/** Rows of a packed A block (kept in L2 while the B panels pass over it). */
const MC = 96;
/** Width of a packed B block. */
const NC = 1024;
/** Column block of the Cholesky factor and row block of its inverse. */
const NB = 128;

const packA = new Float64Array(MC * KC);
const packB = new Float64Array(KC * NC);
const edge = new Float64Array(MR * NR);

/**
 * C += sign * A B for strided operands: A(i, p) = a[ao + i*ars + p*acs], B(p, j) =
 * b[bo + p*brs + j*bcs], C(i, j) = c[co + i*ldc + j], so that transposed operands need no
 * copies: packing reads along whichever index is contiguous. `lowerC`: only C(i, j)
 * with j <= i is wanted (tiles wholly above the diagonal are skipped, diagonal tiles written
 * whole). `lowerB`: B(p, j) = 0 for j > p, and those products are skipped.
 */
function gemm(
  m: number, n: number, kk: number, sign: number,
  a: Float64Array, ao: number, ars: number, acs: number,
  b: Float64Array, bo: number, brs: number, bcs: number,
  c: Float64Array, co: number, ldc: number,
  lowerC: boolean, lowerB: boolean,
): void {
  const pa = packA;
  const pb = packB;
  for (let jc = 0; jc < n; jc += NC) {
    if (lowerC && jc > m - 1) break;
    const nc = Math.min(NC, n - jc);
    const ncPad = Math.ceil(nc / NR) * NR;
    for (let pc = 0; pc < kk; pc += KC) {
      const kc = Math.min(KC, kk - pc);
      if (lowerB && jc > pc + kc - 1) continue;
      packPanels(b, bo + pc * brs + jc * bcs, bcs, brs, nc, ncPad, kc, NR, pb);
      const icStart = lowerC ? Math.floor(jc / MR) * MR : 0;
      for (let ic = icStart; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        const mcPad = Math.ceil(mc / MR) * MR;
        packPanels(a, ao + ic * ars + pc * acs, ars, acs, mc, mcPad, kc, MR, pa);
        for (let jp = 0; jp < nc; jp += NR) {
          const j = jc + jp;
          if (lowerC && j > ic + mc - 1) break;
          let p0 = 0;
          if (lowerB) {
            p0 = j - pc;
            if (p0 >= kc) break;
            if (p0 < 0) p0 = 0;
          }
          const nr = Math.min(NR, n - j);
          const bi = jp * kc + p0 * NR;
          for (let ip = 0; ip < mc; ip += MR) {
            const i = ic + ip;
            if (lowerC && j > i + MR - 1) continue;
            kernel4x4(pa, ip * kc + p0 * MR, pb, bi, kc - p0, c, co + i * ldc + j, ldc, Math.min(MR, mc - ip), nr, sign);
          }
        }
      }
    }
  }
}

/**
 * Packs `len` rows (stride `ls`) of depth `kc` (stride `ps`) as `w`-wide panels, depth-major
 * inside a panel, zero-padded to `lenPad` rows. Walks the source along its contiguous index.
 */
function packPanels(src: Float64Array, o: number, ls: number, ps: number, len: number, lenPad: number, kc: number, w: number, dst: Float64Array): void {
  for (let x0 = 0; x0 < lenPad; x0 += w) {
    const panel = x0 * kc;
    const xs = Math.min(w, len - x0);
    if (ls <= ps) {
      for (let p = 0; p < kc; p++) {
        const d = panel + p * w;
        const s = o + p * ps + x0 * ls;
        for (let x = 0; x < xs; x++) dst[d + x] = src[s + x * ls];
        for (let x = Math.max(xs, 0); x < w; x++) dst[d + x] = 0;
      }
    } else {
      for (let x = 0; x < w; x++) {
        const d = panel + x;
        if (x >= xs) {
          for (let p = 0; p < kc; p++) dst[d + p * w] = 0;
          continue;
        }
        const s = o + (x0 + x) * ls;
        for (let p = 0; p < kc; p++) dst[d + p * w] = src[s + p * ps];
      }
    }
  }
}

function kernel4x4(
  pa: Float64Array, ai: number, pb: Float64Array, bi: number, kc: number,
  c: Float64Array, co: number, ldc: number, mr: number, nr: number, sign: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0; p < kc; p++, ai += 4, bi += 4) {
    const a0 = pa[ai], a1 = pa[ai + 1], a2 = pa[ai + 2], a3 = pa[ai + 3];
    const b0 = pb[bi], b1 = pb[bi + 1], b2 = pb[bi + 2], b3 = pb[bi + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  if (mr === 4 && nr === 4) {
    let o = co;
    c[o] += sign * c00; c[o + 1] += sign * c01; c[o + 2] += sign * c02; c[o + 3] += sign * c03;
    o += ldc;
    c[o] += sign * c10; c[o + 1] += sign * c11; c[o + 2] += sign * c12; c[o + 3] += sign * c13;
    o += ldc;
    c[o] += sign * c20; c[o + 1] += sign * c21; c[o + 2] += sign * c22; c[o + 3] += sign * c23;
    o += ldc;
    c[o] += sign * c30; c[o + 1] += sign * c31; c[o + 2] += sign * c32; c[o + 3] += sign * c33;
    return;
  }
  const t = edge;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03; t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23; t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
  for (let r = 0; r < mr; r++) for (let q = 0; q < nr; q++) c[co + r * ldc + q] += sign * t[r * 4 + q];
}

/** Copies the lower triangle onto the upper one, in tiles so that neither side is walked by column. */
function mirrorLower(h: Float64Array, k: number): void {
  const T = 64;
  for (let a0 = 0; a0 < k; a0 += T) {
    for (let b0 = 0; b0 <= a0; b0 += T) {
      const a1 = Math.min(a0 + T, k);
      const b1 = Math.min(b0 + T, k);
      for (let b = b0; b < b1; b++) {
        for (let a = Math.max(a0, b + 1); a < a1; a++) h[b * k + a] = h[a * k + b];
      }
    }
  }
}

/**
 * Lower Cholesky factor of a [k x k] in place (left-looking, NB columns at a time: the columns
 * left of the block reach it as one GEMM, then the block is factored and solved row by row).
 * The strict upper triangle is zeroed. False when a is not positive definite.
 */
function choleskyInPlace(a: Float64Array, k: number): boolean {
  for (let j0 = 0; j0 < k; j0 += NB) {
    const j1 = Math.min(j0 + NB, k);
    // A[j0:, j0:j1] -= L[j0:, :j0] L[j0:j1, :j0]^T (the block's upper part is scratch).
    if (j0 > 0) gemm(k - j0, j1 - j0, j0, -1, a, j0 * k, k, 1, a, j0 * k, 1, k, a, j0 * k + j0, k, false, false);
    for (let i = j0; i < j1; i++) {
      const ri = i * k;
      for (let j = j0; j <= i; j++) {
        const rj = j * k;
        let s = a[ri + j];
        for (let p = j0; p < j; p++) s -= a[ri + p] * a[rj + p];
        if (i === j) {
          if (!(s > 0) || !Number.isFinite(s)) return false;
          a[ri + i] = Math.sqrt(s);
        } else {
          a[ri + j] = s / a[rj + j];
        }
      }
    }
    // Rows below the block: L[r, j0:j1] = A[r, j0:j1] L11^-T, four rows sharing each L11 row.
    let r = j1;
    for (; r + 4 <= k; r += 4) {
      const r0 = r * k, r1 = r0 + k, r2 = r1 + k, r3 = r2 + k;
      for (let c = j0; c < j1; c++) {
        const rc = c * k;
        let s0 = a[r0 + c], s1 = a[r1 + c], s2 = a[r2 + c], s3 = a[r3 + c];
        for (let p = j0; p < c; p++) {
          const l = a[rc + p];
          s0 -= a[r0 + p] * l;
          s1 -= a[r1 + p] * l;
          s2 -= a[r2 + p] * l;
          s3 -= a[r3 + p] * l;
        }
        const d = a[rc + c];
        a[r0 + c] = s0 / d;
        a[r1 + c] = s1 / d;
        a[r2 + c] = s2 / d;
        a[r3 + c] = s3 / d;
      }
    }
    for (; r < k; r++) {
      const r0 = r * k;
      for (let c = j0; c < j1; c++) {
        const rc = c * k;
        let s = a[r0 + c];
        for (let p = j0; p < c; p++) s -= a[r0 + p] * a[rc + p];
        a[r0 + c] = s / a[rc + c];
      }
    }
  }
  for (let i = 0; i < k; i++) a.fill(0, i * k + i + 1, (i + 1) * k);
  return true;
}

/**
 * Inverse of a lower-triangular [k x k] in place, NB rows at a time: row block I of L^-1 is
 * -L_II^-1 L[I, :i0] (L^-1)[:i0, :i0] beside L_II^-1, and only needs rows of L^-1 above it.
 */
function invertLowerInPlace(a: Float64Array, k: number): void {
  const tmp = new Float64Array(Math.min(NB, k) * k);
  for (let i0 = 0; i0 < k; i0 += NB) {
    const i1 = Math.min(i0 + NB, k);
    const nb = i1 - i0;
    if (i0 > 0) {
      tmp.fill(0, 0, nb * i0);
      gemm(nb, i0, i0, -1, a, i0 * k, k, 1, a, 0, k, 1, tmp, 0, i0, false, true);
      // Forward substitution with L_II over whole rows, four solved rows per pass.
      for (let r = 0; r < nb; r++) {
        const row = (i0 + r) * k;
        const t = r * i0;
        let s = 0;
        for (; s + 4 <= r; s += 4) {
          const l0 = a[row + i0 + s], l1 = a[row + i0 + s + 1], l2 = a[row + i0 + s + 2], l3 = a[row + i0 + s + 3];
          const s0 = (i0 + s) * k, s1 = s0 + k, s2 = s1 + k, s3 = s2 + k;
          for (let c = 0; c < i0; c++) tmp[t + c] -= l0 * a[s0 + c] + l1 * a[s1 + c] + l2 * a[s2 + c] + l3 * a[s3 + c];
        }
        for (; s < r; s++) {
          const l = a[row + i0 + s];
          const srow = (i0 + s) * k;
          for (let c = 0; c < i0; c++) tmp[t + c] -= l * a[srow + c];
        }
        const d = a[row + i0 + r];
        for (let c = 0; c < i0; c++) a[row + c] = tmp[t + c] / d;
      }
    }
    for (let r = i0; r < i1; r++) {
      const row = r * k;
      const d = a[row + r];
      for (let c = i0; c < r; c++) {
        let s = 0;
        for (let p = c; p < r; p++) s += a[row + p] * a[p * k + c];
        a[row + c] = -s / d;
      }
      a[row + r] = 1 / d;
    }
  }
}
