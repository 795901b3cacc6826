/** A dense row-major float tensor: the quantizer's input currency. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function tensor2d(rows: number, cols: number, data?: Float32Array): Tensor {
  return { shape: [rows, cols], data: data ?? new Float32Array(rows * cols) };
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
