/**
 * The descriptor the hardware fetches for each token chunk of a layer: its fields in
 * memory order (16 little-endian 32-bit fields, docs/formats.md). The RTL generator
 * decodes these fields; the image writer encodes them.
 */
import type { SalientKind } from "../core/formats.js";

export const DESC_FIELDS = [
  "m", "kTiles", "nTiles", "tileChannels", "s", "salientType",
  "actBase", "actTileStride", "wgtBase", "wgtBlockStride", "outBase", "outTileStride", "flags",
] as const;
export type DescField = (typeof DESC_FIELDS)[number];
export type Descriptor = Record<DescField, number>;
export const DESC_FLAG_LAST = 1;

export const SALIENT_CODE: Record<SalientKind, number> = { none: 0, fp8: 1, fp12: 2 };
