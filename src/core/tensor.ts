/** A dense row-major float tensor: the quantizer's input currency. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
  /** The precision a tensor file stored it in ("float64", "float32", ...), set by the readers. */
  sourceDtype?: string;
}

export function tensor2d(rows: number, cols: number, data?: Float32Array): Tensor {
  return { shape: [rows, cols], data: data ?? new Float32Array(rows * cols) };
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * An activation scale (SPEC section 2): one float per tensor (static, from calibration) or one
 * per token row (dynamic per-token scaling). The scale never enters the integer datapath.
 */
export type ActScale = number | Float64Array;

/** The scale of token row r. */
export function rowScale(s: ActScale, r: number): number {
  return typeof s === "number" ? s : s[r];
}

/**
 * a [m x k] x b [k x n] in float64 (exact while every partial sum stays below 2^53). Four rows
 * of a share each row of b as it is read; every output still sums over k in ascending order,
 * so the result is the same as the plain triple loop, bit for bit.
 */
export function matmulF64(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const y = new Float64Array(m * n);
  let r = 0;
  for (; r + 4 <= m; r += 4) {
    const o0 = r * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    for (let i = 0; i < k; i++) {
      const a0 = a[r * k + i];
      const a1 = a[(r + 1) * k + i];
      const a2 = a[(r + 2) * k + i];
      const a3 = a[(r + 3) * k + i];
      if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
      const bo = i * n;
      for (let c = 0; c < n; c++) {
        const bv = b[bo + c];
        y[o0 + c] += a0 * bv;
        y[o1 + c] += a1 * bv;
        y[o2 + c] += a2 * bv;
        y[o3 + c] += a3 * bv;
      }
    }
  }
  for (; r < m; r++) {
    const yo = r * n;
    for (let i = 0; i < k; i++) {
      const av = a[r * k + i];
      if (av === 0) continue;
      const bo = i * n;
      for (let c = 0; c < n; c++) y[yo + c] += av * b[bo + c];
    }
  }
  return y;
}

/** Per-channel max |x| over the tokens (rows) of an [m x k] matrix. */
export function channelMaxAbs(x: Tensor): Float64Array {
  const [m, k] = x.shape;
  const mx = new Float64Array(k);
  for (let t = 0; t < m; t++) {
    const row = t * k;
    for (let c = 0; c < k; c++) {
      const a = Math.abs(x.data[row + c]);
      if (a > mx[c]) mx[c] = a;
    }
  }
  return mx;
}
