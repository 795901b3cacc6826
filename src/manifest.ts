/**
 * The image manifest (manifest.json): everything a reader needs to interpret the images.
 * docs/formats.md documents every field.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "./errors.js";
import type { LayerPlan } from "./quantizer.js";
import type { SalientKind } from "./tobe.js";

export const MANIFEST_FORMAT = "oltron-images";
export const MANIFEST_VERSION = 1;

export interface ImageRef {
  file: string;
  /** First word of the image in the unified off-chip address space. */
  offset: number;
  words: number;
  sha256: string;
}

export interface ManifestLayer {
  name: string;
  layerType?: string;
  m: number;
  k: number;
  n: number;
  salientType: SalientKind;
  plan: LayerPlan;
  salientChannels: number;
  s: number;
  tiles: number;
  minTiles: number;
  tileChannels: number;
  salientLanes: number;
  paddedK: number;
  nTiles: number;
  paddedN: number;
  actScale: number;
  weightScales: number[];
  permutation: number[];
  salientSet: number[];
  descriptors: { first: number; count: number };
  act: ImageRef & { tileStride: number };
  wgt: ImageRef & { blockStride: number };
  out: { offset: number; words: number; tileStride: number; file: string };
  /** Float tensors for the reference (optional): .npy files in the image folder. */
  reference?: { x: string; w: string };
}

export interface Manifest {
  format: string;
  version: number;
  design: {
    name: string;
    hash: string;
    rows: number;
    cols: number;
    flexLines: number;
    memWordBits: number;
    bufferTokens: number;
    actStrideBits: number;
    wgtStrideBits: number;
    outStrideBits: number;
    descriptorWords: number;
  };
  memWordBits: number;
  memoryWords: number;
  descriptorTable: ImageRef & { count: number };
  layers: ManifestLayer[];
}

export function loadManifest(dir: string): Manifest {
  const p = path.join(dir, "manifest.json");
  if (!fs.existsSync(p)) throw new UserError(`${dir}: no manifest.json (is this an image folder written by 'oltron quantize'?)`);
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(p, "utf8"));
  } catch (e) {
    throw new UserError(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== MANIFEST_FORMAT) throw new UserError(`${p}: format '${m.format}' is not '${MANIFEST_FORMAT}'`);
  if (m.version !== MANIFEST_VERSION) throw new UserError(`${p}: version ${m.version} is not supported (expected ${MANIFEST_VERSION})`);
  if (!Array.isArray(m.layers) || m.layers.length === 0) throw new UserError(`${p}: no layers`);
  m.layers.forEach((l, i) => {
    // Layer names become file names: never let one point outside the folder.
    if (typeof l?.name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(l.name) || l.name.startsWith(".")) {
      throw new UserError(`${p}: layer ${i} has an invalid name ${JSON.stringify(l?.name)} (letters, digits, '_', '.', '-'; not starting with '.')`);
    }
    for (const f of ["act", "wgt", "out"] as const) {
      if (!l[f] || typeof l[f] !== "object") throw new UserError(`${p}: layer ${l.name} has no '${f}' image entry`);
    }
  });
  return m;
}
