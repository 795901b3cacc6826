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

/** a [m x k] x b [k x n] in float64 (exact while every partial sum stays below 2^53). */
export function matmulF64(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
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
