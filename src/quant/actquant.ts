/**
 * Activation encoders of the architectures without salient channels (docs/quantization.md,
 * "Other architectures"): int8 for W4A8 and OliVe's outlier-victim pairs for the OVP
 * array. Channels keep their order (no permutation); K is padded with zero channels to
 * whole tiles. The quantizer (quantizer.ts) adds the shared int4 weights.
 */
import { encodeInt8, encodeOvpPair, ovpUnit, type OvpType } from "../core/actformats.js";
import { UserError } from "../core/errors.js";
import type { Tensor } from "../core/tensor.js";
import type { ElaboratedDesign } from "../hw/design.js";
import type { TileGeometry } from "./tobe.js";
import { oliveEncode, oliveGrid, oliveSearch } from "./olive-grid.js";

/**
 * Tiles of consecutive channels, as few as the array allows; for OVP the tile size is even,
 * so an outlier-victim pair never straddles two tiles.
 */
export function plainGeometry(d: ElaboratedDesign, k: number, format: "int8" | "ovp-int" | "ovp-flint"): TileGeometry {
  if (!Number.isInteger(k) || k < 1) throw new UserError(`invalid K = ${k}: must be a positive integer`);
  const tiles = Math.ceil(k / d.rows);
  const per = Math.ceil(k / tiles);
  const tileChannels = format === "int8" ? per : 2 * Math.ceil(per / 2);
  return { tiles, tileChannels, s: 0, salientType: "none", salientLanes: 0, paddedK: tiles * tileChannels, minTiles: tiles, format };
}

/** The identity layout: position i holds channel i, the padding is zero channels. */
export function identityPerm(k: number, paddedK: number): Int32Array {
  return Int32Array.from({ length: paddedK }, (_, i) => (i < k ? i : -1));
}

/**
 * int8 scales, symmetric: per token (each row's max |x| / 127, times `clip`), or one per
 * tensor from the calibration tokens. An all-zero row or tensor takes scale 1.
 */
export function int8Scales(calib: Tensor, x: Tensor, scaling: "tensor" | "token", clip = 1): { scale: number; scales?: Float64Array } {
  const maxOf = (t: Tensor, r0: number, r1: number) => {
    const k = t.shape[1];
    let mx = 0;
    for (let i = r0 * k; i < r1 * k; i++) mx = Math.max(mx, Math.abs(t.data[i]));
    return mx;
  };
  if (scaling === "tensor") {
    const mx = maxOf(calib, 0, calib.shape[0]);
    return { scale: mx > 0 ? (clip * mx) / 127 : 1 };
  }
  const m = x.shape[0];
  const scales = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    const mx = maxOf(x, r, r + 1);
    scales[r] = mx > 0 ? (clip * mx) / 127 : 1;
  }
  return { scale: NaN, scales };
}

/** int8 codes [M x paddedK] of x in layout `perm`, at per-token scales or one scale. */
export function int8Codes(x: Tensor, perm: Int32Array, scale: number, scales?: Float64Array): Uint16Array {
  const [m, k] = x.shape;
  const K = perm.length;
  const codes = new Uint16Array(m * K);
  for (let r = 0; r < m; r++) {
    const s = scales ? scales[r] : scale;
    for (let i = 0; i < K; i++) if (perm[i] >= 0) codes[r * K + i] = encodeInt8(x.data[r * k + perm[i]] / s);
  }
  return codes;
}

export interface OvpEncoding {
  type: OvpType;
  /** OliVe's alpha (the clipping value mapped to the largest normal grid value). */
  alpha: number;
  /** Float value of one integer unit: every decoded operand is an integer multiple of it. */
  actScale: number;
  codes: Uint16Array;
  outliers: number;
  victims: number;
  /** Calibration MSE of each type, as OliVe's search chose between them. */
  mse: Record<OvpType, number>;
}

/**
 * OliVe's encoding of x for the OVP array: the normal type (int or flint) and scale by the
 * released search on the calibration tokens, the signed grids (the hardware decodes signed
 * codes only: docs/quantization.md), then each token row rounded to the joint grid and paired
 * (positions 2i, 2i+1 of the padded row) with the release's keep-even rule.
 */
export function ovpEncode(calib: Tensor, x: Tensor, perm: Int32Array): OvpEncoding {
  const searched = (["int", "flint"] as const).map((t) => ({ t, ...oliveSearch(calib, t, true) }));
  // The release keeps the first type on an exact tie.
  const best = searched[1].mse < searched[0].mse ? searched[1] : searched[0];
  const grid = oliveGrid(best.t, true);
  const gridScale = best.alpha / grid.normals[grid.normals.length - 1];
  const unit = ovpUnit(best.t);
  if (unit !== grid.unit) throw new Error(`OVP ${best.t}: grid unit ${grid.unit} differs from the format's ${unit}`);
  const [m, k] = x.shape;
  const K = perm.length;
  if (K % 2 !== 0) throw new Error(`OVP rows need an even padded K, got ${K}`);
  const codes = new Uint16Array(m * K);
  const v = new Float64Array(K);
  const q = new Float64Array(K);
  let outliers = 0;
  let victims = 0;
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < K; i++) v[i] = perm[i] >= 0 ? x.data[r * k + perm[i]] / gridScale : 0;
    const st = oliveEncode(v, best.t, q, true);
    outliers += st.outliers;
    victims += st.victims;
    for (let i = 0; i < K; i += 2) {
      const [c0, c1] = encodeOvpPair(best.t, q[i] / unit, q[i + 1] / unit);
      codes[r * K + i] = c0;
      codes[r * K + i + 1] = c1;
    }
  }
  return {
    type: best.t, alpha: best.alpha, actScale: gridScale * unit, codes, outliers, victims,
    mse: { int: searched[0].mse, flint: searched[1].mse },
  };
}
