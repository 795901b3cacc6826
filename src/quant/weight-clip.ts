/**
 * Clipped int4 weight scales: per output channel, the clip of max |w| that minimises the
 * rounding error, searched as QuaRot searches it (`--w_clip`: its WeightQuantizer with
 * mse=True, from GPTQ's quantizer): shrink factors p = 1, 0.99, ..., 0.21 (grid 100,
 * maxshrink 0.8), scale p max|w| / 7, codes -8..7, error sum |q(w) - w|^2.4; the first
 * smallest error wins (p = 1 is a candidate, so clipping never loses on its own measure).
 * Offered to every method alike (docs/quantization.md), with round to nearest and with GPTQ.
 */
import { decodeInt4, encodeInt4 } from "../core/formats.js";
import type { Tensor } from "../core/tensor.js";

export const W_CLIP = { grid: 100, maxShrink: 0.8, norm: 2.4 } as const;

/** Per-output-channel scales of W [K x N] after the clip search (1 for an all-zero column). */
export function mseClipScales(w: Tensor): Float64Array {
  const [k, n] = w.shape;
  const ws = new Float64Array(n);
  const col = new Float64Array(k);
  for (let j = 0; j < n; j++) {
    let mx = 0;
    for (let i = 0; i < k; i++) {
      col[i] = w.data[i * n + j];
      mx = Math.max(mx, Math.abs(col[i]));
    }
    if (mx === 0) {
      ws[j] = 1;
      continue;
    }
    let best = Infinity;
    let bestScale = mx / 7;
    for (let step = 0; step < Math.round(W_CLIP.maxShrink * W_CLIP.grid); step++) {
      const s = ((1 - step / W_CLIP.grid) * mx) / 7;
      let err = 0;
      for (let i = 0; i < k; i++) err += Math.abs(decodeInt4(encodeInt4(col[i] / s)) * s - col[i]) ** W_CLIP.norm;
      if (err < best) {
        best = err;
        bestScale = s;
      }
    }
    ws[j] = bestScale;
  }
  return ws;
}
