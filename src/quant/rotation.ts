/**
 * Hadamard rotation of a linear layer (QuaRot, Ashkboos et al., NeurIPS 2024; spcl/QuaRot):
 * X' = X Q and W' = Q^T W with Q = D H / sqrt(K), H the Sylvester Hadamard matrix and D a
 * seeded random +-1 diagonal (QuaRot's randomised Hadamard for the residual stream). Q is
 * orthogonal, so X' W' = X W exactly in real arithmetic, while the rotation spreads every
 * outlier channel over all channels: the rotated activations suit plain int4.
 *
 * K must be a power of two for the Sylvester construction. QuaRot also handles K = c * 2^p
 * with stored Hadamard matrices of order c (12, 20, 28, ..., 172); here any other K is
 * zero-padded to the next power of two (exact, but it costs K'/K in MACs), and the caller is
 * told so (RotatedLayer.paddedFrom).
 */
import { UserError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import type { Tensor } from "../core/tensor.js";

/** In-place unnormalised fast Walsh-Hadamard transform of v[off .. off + len), len a power of two. */
export function fwht(v: Float64Array, off: number, len: number): void {
  for (let h = 1; h < len; h <<= 1) {
    for (let i = off; i < off + len; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const a = v[j];
        const b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
    }
  }
}

export interface Rotation {
  /** Rotation size (a power of two, >= the layer's K). */
  size: number;
  /** The +-1 diagonal D (length size). */
  signs: Float64Array;
}

/** A seeded randomised Hadamard rotation of the given size (a power of two). */
export function hadamardRotation(size: number, seed = 0): Rotation {
  if (!Number.isInteger(size) || size < 1 || (size & (size - 1)) !== 0) throw new UserError(`Hadamard rotation: size ${size} must be a power of two`);
  const rng = new Rng(seed >>> 0 || 1);
  const signs = new Float64Array(size);
  for (let i = 0; i < size; i++) signs[i] = rng.next() < 0.5 ? -1 : 1;
  return { size, signs };
}

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export interface RotatedLayer {
  /** X Q [M x size]. */
  x: Tensor;
  /** Q^T W [size x N]. */
  w: Tensor;
  rotation: Rotation;
  /** Set when K was not a power of two: the original K (the tensors were zero-padded to size). */
  paddedFrom?: number;
}

/** Rotates activation rows: x' = (x D) H / sqrt(size), in float64, returned as float32. */
export function rotateActivations(x: Tensor, rot: Rotation): Tensor {
  const [m, k] = x.shape;
  if (k > rot.size) throw new UserError(`Hadamard rotation of size ${rot.size} cannot rotate ${k} channels`);
  const n = rot.size;
  const out = new Float32Array(m * n);
  const v = new Float64Array(n);
  const norm = 1 / Math.sqrt(n);
  for (let r = 0; r < m; r++) {
    v.fill(0);
    for (let c = 0; c < k; c++) v[c] = x.data[r * k + c] * rot.signs[c];
    fwht(v, 0, n);
    for (let c = 0; c < n; c++) out[r * n + c] = v[c] * norm;
  }
  return { shape: [m, n], data: out };
}

/** Rotates weights: W' = Q^T W = H D W / sqrt(size) (H is symmetric), column by column. */
export function rotateWeights(w: Tensor, rot: Rotation): Tensor {
  const [k, n] = w.shape;
  if (k > rot.size) throw new UserError(`Hadamard rotation of size ${rot.size} cannot rotate ${k} weight rows`);
  const K = rot.size;
  const out = new Float32Array(K * n);
  const v = new Float64Array(K);
  const norm = 1 / Math.sqrt(K);
  for (let j = 0; j < n; j++) {
    v.fill(0);
    for (let c = 0; c < k; c++) v[c] = w.data[c * n + j] * rot.signs[c];
    fwht(v, 0, K);
    for (let c = 0; c < K; c++) out[c * n + j] = v[c] * norm;
  }
  return { shape: [K, n], data: out };
}

/** Rotates a layer (activations and weights) with one seeded randomised Hadamard matrix. */
export function rotateLayer(x: Tensor, w: Tensor, seed = 0): RotatedLayer {
  const k = x.shape[1];
  const size = pow2ceil(k);
  const rotation = hadamardRotation(size, seed);
  return { x: rotateActivations(x, rotation), w: rotateWeights(w, rotation), rotation, ...(size !== k ? { paddedFrom: k } : {}) };
}
