/**
 * TOBE (tile-wise outlier-balanced encoding), SPEC section 4: the tile geometry of a layer
 * and the channel permutation that puts an equal number S of salient channels first in
 * every tile.
 *
 * Balancing rule (ours to choose, documented in docs/formats.md): with P salient channels
 * and T tiles, S = ceil(P / T). The T*S - P spare salient slots are filled by promoting
 * the largest-magnitude normal channels (promotion can only reduce error), and only when
 * no normal channel is left by zero channels. K that does not fill T tiles is padded with
 * zero channels at the end of the last tiles' normal slots.
 */
import { UserError } from "../core/errors.js";
import type { ElaboratedDesign } from "../hw/design.js";
import { floatFormat, type SalientKind } from "../core/formats.js";
import type { ActFormat } from "../hw/parts.js";

export interface TileGeometry {
  /** Tiles along K. */
  tiles: number;
  /** Channels per tile (salient + normal): the fixed tile size of the layer. */
  tileChannels: number;
  /** Salient channels per tile. */
  s: number;
  salientType: SalientKind;
  /** Lanes the salient channels of one tile occupy (S for fp8, 2S for fp12). */
  salientLanes: number;
  /** K padded to tiles * tileChannels. */
  paddedK: number;
  /** Tiles the layer would need with no salient channels: the cost of salient density shows as tiles - minTiles. */
  minTiles: number;
  /** The activation format of the layer's images (absent: TOBE). */
  format?: ActFormat;
}

/**
 * The smallest number of tiles that fits K channels, P of them salient, in the array:
 * per tile S*lanes <= flexLines and S*lanes + (tileChannels - S) <= rows.
 */
export function tileGeometry(d: ElaboratedDesign, k: number, p: number, type: SalientKind): TileGeometry {
  if (!Number.isInteger(k) || k < 1) throw new UserError(`invalid K = ${k}: must be a positive integer`);
  if (!Number.isInteger(p) || p < 0 || p > k) throw new UserError(`invalid salient channel count ${p}: must be in 0..${k}`);
  const R = d.rows;
  const minTiles = Math.ceil(k / R);
  if (p === 0 || type === "none") {
    if (p > 0) throw new UserError(`${p} salient channels need a salient type (fp8 or fp12), got 'none'`);
    const tileChannels = Math.ceil(k / minTiles);
    return { tiles: minTiles, tileChannels, s: 0, salientType: "none", salientLanes: 0, paddedK: minTiles * tileChannels, minTiles };
  }
  const maxS = d.maxSalientPerTile[type];
  if (maxS === undefined) {
    throw new UserError(
      `salient type ${type} is not supported by design ${d.name} (supports: ${d.config.salientTypes.join(", ") || "none"})`,
    );
  }
  if (maxS === 0) throw new UserError(`design ${d.name} has no room for ${type} salient channels (flexLines = ${d.flexLines})`);
  const lanes = floatFormat(type).lanes;
  for (let tiles = Math.max(minTiles, Math.ceil(p / maxS)); tiles <= k; tiles++) {
    const tileChannels = Math.ceil(k / tiles);
    const s = Math.ceil(p / tiles);
    if (s * lanes <= d.flexLines && s <= tileChannels && tileChannels + s * (lanes - 1) <= R) {
      return { tiles, tileChannels, s, salientType: type, salientLanes: s * lanes, paddedK: tiles * tileChannels, minTiles };
    }
  }
  // Unreachable for legal designs: one channel per tile always fits (rows >= 2, flexLines >= lanes).
  throw new UserError(`no tile geometry fits K = ${k} with ${p} ${type} salient channels on ${d.name}`);
}

/**
 * The channel permutation: perm[i] is the original channel at padded position i
 * (tile i / tileChannels, slot i % tileChannels), or -1 for a zero channel.
 * `salient` lists the salient channels in decreasing importance; `promoteOrder` lists all
 * channels in decreasing magnitude (used to fill spare salient slots).
 */
export function tobePermutation(
  g: TileGeometry,
  k: number,
  salient: readonly number[],
  promoteOrder: readonly number[],
): { perm: Int32Array; salientSet: number[] } {
  const isSalient = new Uint8Array(k);
  for (const c of salient) {
    if (c < 0 || c >= k || isSalient[c]) throw new UserError(`invalid salient channel list: ${c} is out of range 0..${k - 1} or repeated`);
    isSalient[c] = 1;
  }
  const slots = g.tiles * g.s;
  const chosen = [...salient];
  for (const c of promoteOrder) {
    if (chosen.length >= slots) break;
    if (!isSalient[c]) {
      isSalient[c] = 1;
      chosen.push(c);
    }
  }
  const perm = new Int32Array(g.paddedK).fill(-1);
  // Round-robin spreads the strongest channels evenly over the tiles.
  chosen.forEach((c, i) => {
    perm[(i % g.tiles) * g.tileChannels + Math.floor(i / g.tiles)] = c;
  });
  const normalPerTile = g.tileChannels - g.s;
  let pos = 0;
  for (let c = 0; c < k; c++) {
    if (isSalient[c]) continue;
    const tile = Math.floor(pos / normalPerTile);
    perm[tile * g.tileChannels + g.s + (pos % normalPerTile)] = c;
    pos++;
  }
  return { perm, salientSet: chosen };
}

/**
 * Head-aware TOBE: the K channels form `groups` contiguous groups (e.g. attention heads) and
 * no channel leaves its group, so a permutation that must stay within heads can still be
 * folded into the producer. Tiles never straddle groups; every tile of the layer still holds
 * the same S salient channels and the same tile size: S is set by the group with the most
 * salient channels, and the others fill their spare slots by promotion, as usual.
 */
export function groupedTileGeometry(d: ElaboratedDesign, k: number, salientPerGroup: readonly number[], type: SalientKind): TileGeometry {
  const groups = salientPerGroup.length;
  if (groups < 1 || k % groups !== 0) throw new UserError(`cannot split K = ${k} channels into ${groups} equal groups`);
  const hd = k / groups;
  const p = salientPerGroup.reduce((a, b) => a + b, 0);
  // Within one group the ungrouped rule applies; the layer's S is the largest any group needs.
  let best: TileGeometry | undefined;
  for (const pg of salientPerGroup) {
    const g = tileGeometry(d, hd, pg, p === 0 ? "none" : type);
    if (!best || g.tiles > best.tiles) best = g;
  }
  for (let tg = best!.tiles; tg <= hd; tg++) {
    const tileChannels = Math.ceil(hd / tg);
    const s = Math.max(...salientPerGroup.map((pg) => Math.ceil(pg / tg)));
    const lanes = p === 0 || type === "none" ? 1 : floatFormat(type).lanes;
    if (s * lanes <= d.flexLines && s <= tileChannels && tileChannels + s * (lanes - 1) <= d.rows) {
      return {
        tiles: groups * tg, tileChannels, s, salientType: p === 0 ? "none" : type, salientLanes: s * lanes,
        paddedK: groups * tg * tileChannels, minTiles: Math.ceil(k / d.rows),
      };
    }
  }
  throw new UserError(`no grouped tile geometry fits K = ${k} in ${groups} groups on ${d.name}`);
}

/** The TOBE permutation of a grouped geometry: the ungrouped rule applied inside each group. */
export function groupedPermutation(
  g: TileGeometry, k: number, groups: number, salient: readonly number[], promoteOrder: readonly number[],
): { perm: Int32Array; salientSet: number[] } {
  const hd = k / groups;
  const tg = g.tiles / groups;
  const sub: TileGeometry = { ...g, tiles: tg, paddedK: tg * g.tileChannels };
  const perm = new Int32Array(g.paddedK).fill(-1);
  const salientSet: number[] = [];
  for (let j = 0; j < groups; j++) {
    const lo = j * hd;
    const inGroup = (c: number) => c >= lo && c < lo + hd;
    const local = tobePermutation(sub, hd, salient.filter(inGroup).map((c) => c - lo), promoteOrder.filter(inGroup).map((c) => c - lo));
    local.perm.forEach((c, i) => (perm[j * sub.paddedK + i] = c < 0 ? -1 : c + lo));
    salientSet.push(...local.salientSet.map((c) => c + lo));
  }
  return { perm, salientSet };
}

/** Geometry and permutation of a layer, grouped when `groups` > 1. */
export function layerLayout(
  d: ElaboratedDesign, k: number, salient: readonly number[], promoteOrder: readonly number[], type: SalientKind, groups = 1,
): { geometry: TileGeometry; perm: Int32Array; salientSet: number[] } {
  if (groups <= 1) {
    const geometry = tileGeometry(d, k, salient.length, type);
    return { geometry, ...tobePermutation(geometry, k, salient, promoteOrder) };
  }
  if (k % groups !== 0) throw new UserError(`cannot split K = ${k} channels into ${groups} equal groups`);
  const hd = k / groups;
  const counts = Array.from({ length: groups }, (_, j) => salient.filter((c) => c >= j * hd && c < (j + 1) * hd).length);
  const geometry = groupedTileGeometry(d, k, counts, type);
  return { geometry, ...groupedPermutation(geometry, k, groups, salient, promoteOrder) };
}
