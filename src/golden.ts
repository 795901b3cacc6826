/**
 * The golden model: Y = sum_k A[m][k] * W[k][n] mod 2^32 (SPEC section 3), exact for every
 * bit pattern, on operands decoded from the images (image/read.ts), and the error figures
 * of the dequantized result against the float reference.
 */
import { matmulF64, rowScale, type ActScale } from "./core/tensor.js";

/** Y = A x W modulo 2^32, [M x paddedN]. */
export function matmulMod32(a: Int32Array, w: Int8Array, m: number, k: number, n: number): Int32Array {
  const y = new Int32Array(m * n);
  for (let r = 0; r < m; r++) {
    const yo = r * n;
    for (let i = 0; i < k; i++) {
      const av = a[r * k + i];
      if (av === 0) continue;
      const wo = i * n;
      for (let c = 0; c < n; c++) y[yo + c] = (y[yo + c] + Math.imul(av, w[wo + c])) | 0;
    }
  }
  return y;
}

export interface ErrorFigures {
  mse: number;
  sqnrDb: number;
  refPower: number;
}

/** Float reference X x W against the dequantized Y = Yint * s_a * s_w[n]. */
/** The dequantized output [m x n] (float32, original channel order): Y * s_a * s_w[c]. */
export function dequantize(y: Int32Array, m: number, n: number, paddedN: number, actScale: ActScale, weightScales: ArrayLike<number>): Float32Array {
  const out = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    const sa = rowScale(actScale, r);
    for (let c = 0; c < n; c++) out[r * n + c] = y[r * paddedN + c] * sa * weightScales[c];
  }
  return out;
}

export function quantError(
  x: Float32Array, wf: Float32Array, m: number, k: number, n: number,
  y: Int32Array, paddedN: number, actScale: ActScale, weightScales: ArrayLike<number>,
): ErrorFigures {
  const ref = matmulF64(x, wf, m, k, n);
  let err = 0;
  let pow = 0;
  for (let r = 0; r < m; r++) {
    const sa = rowScale(actScale, r);
    for (let c = 0; c < n; c++) {
      const deq = y[r * paddedN + c] * sa * weightScales[c];
      const d = ref[r * n + c] - deq;
      err += d * d;
      pow += ref[r * n + c] ** 2;
    }
  }
  // An exact result has no noise: +Infinity dB (JSON writes it as null).
  const sqnrDb = err === 0 ? Infinity : 10 * Math.log10(pow / err);
  return { mse: err / (m * n), sqnrDb, refPower: pow / (m * n) };
}

