/**
 * The image manifest (manifest.json): everything a reader needs to interpret the images.
 * docs/formats.md documents every field.
 */
import { FORMAT_CODE, type ActFormat, type ArchName } from "../hw/parts.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { schemaProblems } from "./manifest-schema.js";
import { readImage } from "./block.js";
import { chunkWordOffset, chunkWords } from "./layout.js";
import { sha256 } from "../core/files.js";
import type { LayerPlan } from "../quant/quantizer.js";
import type { SalientKind } from "../core/formats.js";
import type { ActScale } from "../core/tensor.js";

export const MANIFEST_FORMAT = "oltron-images";

/**
 * A layer name made from something a user gave (a file name, a graph node): layer names
 * become file names in the image folder, so only letters, digits, '_', '.', '-', never
 * starting with '.' (or '_' left over from a path).
 */
export function layerName(raw: string, fallback: string): string {
  const name = raw.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[._]+/, "");
  return name || fallback;
}
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
  /** Activation format of the images (absent: TOBE, the only format of manifests before architectures). */
  actFormat?: ActFormat;
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
  /** The activation scale; with per-token scaling, the geometric mean of actScales (for display). */
  actScale: number;
  /** Per-token activation scales (row r of the output dequantizes with actScales[r]); absent for one per-layer scale. */
  actScales?: number[];
  weightScales: number[];
  permutation: number[];
  salientSet: number[];
  descriptors: { first: number; count: number };
  act: ImageRef & { tileStride: number };
  wgt: ImageRef & { blockStride: number };
  out: { offset: number; words: number; tileStride: number; file: string };
  /** Float tensors for the reference (optional): .npy files in the image folder. */
  reference?: { x: string; w: string; xSha256?: string; wSha256?: string };
}

export interface Manifest {
  format: string;
  version: number;
  design: {
    name: string;
    hash: string;
    /** The design's architecture (absent: oltron). */
    arch?: ArchName;
    rows: number;
    cols: number;
    flexLines: number;
    memWordBits: number;
    bufferTokens: number;
    actStrideBits: number;
    wgtStrideBits: number;
    outStrideBits: number;
    descriptorWords: number;
    /** Timing parameters; absent in manifests written before they were recorded. */
    loadSlots?: number;
    axiMaxBurst?: number;
    axiMaxReads?: number;
  };
  memWordBits: number;
  memoryWords: number;
  descriptorTable: ImageRef & { count: number };
  layers: ManifestLayer[];
  /**
   * sha256 of the manifest without this field, as compact JSON: the fields no image checksum
   * covers (scales, salient sets, lanes, addresses) are trusted by the golden model and the
   * comparison, so an edit of any of them is refused.
   */
  manifestSha256: string;
}

/** A manifest's file text, its checksum (re)computed: every writer of manifest.json goes through here. */
export function manifestText(m: Manifest): string {
  m.manifestSha256 = manifestDigest(m);
  return JSON.stringify(m, null, 1) + "\n";
}

/** The checksum a manifest carries: sha256 of its compact JSON without the checksum itself. */
export function manifestDigest(m: Omit<Manifest, "manifestSha256"> & { manifestSha256?: string }): string {
  const { manifestSha256: _, ...rest } = m;
  return sha256(JSON.stringify(rest));
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
  if (!m || typeof m !== "object" || Array.isArray(m)) throw new UserError(`${p}: not a manifest object (got ${JSON.stringify(m)?.slice(0, 40)})`);
  if (m.format !== MANIFEST_FORMAT) throw new UserError(`${p}: format '${m.format}' is not '${MANIFEST_FORMAT}'`);
  if (m.version !== MANIFEST_VERSION) throw new UserError(`${p}: version ${m.version} is not supported (expected ${MANIFEST_VERSION})`);
  if (!("manifestSha256" in m)) throw new UserError(`${p}: no manifestSha256: written by an oltron older than 0.3.1 (or edited); quantize again`);
  // Every field's type and range first (docs/schemas/manifest.schema.json), then consistency.
  const problems = schemaProblems(m);
  if (problems.length) throw new UserError(`${p}: ${problems.join("; ")}`);
  // From here on every field has the type and range of the schema; what follows checks the
  // fields against each other, the file names, and the descriptor table.
  const names = new Set<string>();
  m.layers.forEach((l, i) => {
    checkLayerShape(p, l, i);
    if (names.has(l.name)) throw new UserError(`${p}: two layers are named '${l.name}' (their outputs would share one file)`);
    names.add(l.name);
    // Layer names become file names: never let one point outside the folder.
    if (typeof l?.name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(l.name) || l.name.startsWith(".")) {
      throw new UserError(`${p}: layer ${i} has an invalid name ${JSON.stringify(l?.name)} (letters, digits, '_', '.', '-'; not starting with '.')`);
    }
    for (const f of ["act", "wgt", "out"] as const) plainName(p, `layer ${l.name} ${f}.file`, l[f].file);
    if (l.reference !== undefined) {
      plainName(p, `layer ${l.name} reference.x`, l.reference.x);
      plainName(p, `layer ${l.name} reference.w`, l.reference.w);
    }
  });
  plainName(p, "descriptorTable.file", m.descriptorTable.file);
  checkRegionsApart(p, m);
  checkAgainstDescriptors(dir, m);
  checkExtents(p, m);
  // Last, so an edit the checks above name gets their specific message.
  if (manifestDigest(m) !== m.manifestSha256) {
    throw new UserError(
      `${p}: the manifest was edited after oltron wrote it (manifestSha256 does not match its contents); its scales, salient sets and addresses are trusted by the golden model and the comparison, so quantize again instead of editing it`,
    );
  }
  return m;
}

/**
 * A layer's outputs land on memory nothing else uses: an output region overlapping another
 * layer's inputs or outputs, or the descriptor table, would make the result depend on the
 * order the hardware happens to write and read in (docs/formats.md, section 1).
 */
function checkRegionsApart(p: string, m: Manifest): void {
  const regions: { what: string; lo: number; hi: number; out: boolean }[] = [
    { what: "the descriptor table", lo: m.descriptorTable.offset, hi: m.descriptorTable.offset + m.descriptorTable.words, out: false },
  ];
  for (const l of m.layers) {
    regions.push({ what: `layer ${l.name} activations`, lo: l.act.offset, hi: l.act.offset + l.act.words, out: false });
    regions.push({ what: `layer ${l.name} weights`, lo: l.wgt.offset, hi: l.wgt.offset + l.wgt.words, out: false });
    regions.push({ what: `layer ${l.name} outputs`, lo: l.out.offset, hi: l.out.offset + l.out.words, out: true });
  }
  for (const [i, a] of regions.entries()) {
    if (!a.out) continue;
    for (const [j, b] of regions.entries()) {
      if (i !== j && a.lo < b.hi && b.lo < a.hi) {
        throw new UserError(
          `${p}: ${a.what} (words ${a.lo}..${a.hi - 1}) overlap ${b.what} (words ${b.lo}..${b.hi - 1}); every output region must lie apart from every other region`,
        );
      }
    }
  }
}

/**
 * Every read and write the descriptors make (what the manifest implies, which
 * checkAgainstDescriptors proved equal to the table) stays inside its own image region, and
 * every region inside the memory: no descriptor reaches another layer's data or beyond.
 */
function checkExtents(p: string, m: Manifest): void {
  const W = m.memWordBits;
  const T = m.design.bufferTokens;
  const inside = (what: string, lo: number, hi: number, region: { offset: number; words: number }, name: string) => {
    if (lo < region.offset || hi > region.offset + region.words) {
      throw new UserError(`${p}: ${what}: words ${lo}..${hi - 1}, outside ${name} (words ${region.offset}..${region.offset + region.words - 1}); the manifest and descriptors were edited or are inconsistent`);
    }
  };
  const mem = { offset: 0, words: m.memoryWords };
  inside("the descriptor table", m.descriptorTable.offset, m.descriptorTable.offset + m.descriptorTable.words, mem, "the memory");
  for (const l of m.layers) {
    for (const [f, r] of [["act", l.act], ["wgt", l.wgt], ["out", l.out]] as const) inside(`layer ${l.name} ${f} region`, r.offset, r.offset + r.words, mem, "the memory");
    for (let c = 0; c < l.descriptors.count; c++) {
      const m0 = c * T;
      const rows = Math.min(T, l.m - m0);
      const d = `layer ${l.name} descriptor ${l.descriptors.first + c}`;
      const actBase = l.act.offset + chunkWordOffset(m.design.actStrideBits, m0, W, T);
      inside(`${d} activation reads`, actBase, actBase + (l.tiles - 1) * l.act.tileStride + chunkWords(m.design.actStrideBits, rows, W), l.act, "its activation image");
      inside(`${d} weight reads`, l.wgt.offset, l.wgt.offset + (l.nTiles * l.tiles - 1) * l.wgt.blockStride + chunkWords(m.design.wgtStrideBits, l.tileChannels, W), l.wgt, "its weight image");
      const outBase = l.out.offset + chunkWordOffset(m.design.outStrideBits, m0, W, T);
      inside(`${d} output writes`, outBase, outBase + (l.nTiles - 1) * l.out.tileStride + chunkWords(m.design.outStrideBits, rows, W), l.out, "its output region");
    }
  }
}

/**
 * Every file a manifest names is a plain name inside the image folder: no separators, no '..',
 * nothing absolute, so no manifest can make oltron read or write outside its folder.
 */
function plainName(p: string, what: string, name: unknown): void {
  if (typeof name !== "string" || name === "" || name === "." || name === ".." || /[/\\\0]/.test(name) || path.isAbsolute(name)) {
    throw new UserError(`${p}: ${what} must be a plain file name inside the image folder (no '/', '\\' or '..'), got ${JSON.stringify(name)}`);
  }
}

function checkLayerShape(p: string, l: ManifestLayer, i: number): void {
  const bad = (what: string) => new UserError(`${p}: layer ${i} (${l.name}): ${what}`);
  if (l.paddedK !== l.tiles * l.tileChannels) throw bad(`paddedK ${l.paddedK} != tiles ${l.tiles} x tileChannels ${l.tileChannels}`);
  if (l.permutation.length !== l.paddedK) throw bad(`permutation must list ${l.paddedK} positions`);
  if (l.weightScales.length !== l.n) throw bad(`weightScales must list ${l.n} scales`);
  if (l.actScales && l.actScales.length !== l.m) throw bad(`actScales must list ${l.m} per-token scales (one per token row), got ${l.actScales.length}`);
  // K and N must agree with the tiles, or a comparison would cover part of the outputs.
  if (l.k < 1 || l.k > l.paddedK || l.paddedK - l.k >= l.tileChannels + l.tiles * l.s) {
    throw bad(`k = ${l.k} does not fit paddedK ${l.paddedK} (tiles ${l.tiles} x tileChannels ${l.tileChannels})`);
  }
  if (l.n < 1 || l.paddedN !== l.nTiles * Math.ceil(l.paddedN / Math.max(1, l.nTiles)) || l.n > l.paddedN || l.paddedN - l.n >= l.paddedN / l.nTiles) {
    throw bad(`n = ${l.n} does not fit nTiles ${l.nTiles} / paddedN ${l.paddedN}`);
  }
  // The permutation places each of the k channels exactly once; -1 marks zero padding.
  const seen = new Uint8Array(l.k);
  let placed = 0;
  for (const [i, c] of l.permutation.entries()) {
    if (c === -1) continue;
    if (!Number.isInteger(c) || c < 0 || c >= l.k || seen[c]) throw bad(`permutation[${i}] = ${JSON.stringify(c)} is out of range 0..${l.k - 1} or repeated`);
    seen[c] = 1;
    placed++;
  }
  if (placed !== l.k) throw bad(`permutation places ${placed} channels, the layer has k = ${l.k}`);
}

/**
 * The hardware reads the descriptor table, the golden model reads the manifest: they must
 * describe the same layers, or a hand-edited manifest would make the RTL look wrong.
 */
function checkAgainstDescriptors(dir: string, m: Manifest): void {
  const t = m.descriptorTable;
  const W = m.memWordBits;
  const table = readImage(dir, t.file, t.sha256, W, t.words);
  const field = (d: number, f: number) => table.get((d * m.design.descriptorWords * W) / 4 + 8 * f, 8);
  const code = { none: 0, fp8: 1, fp12: 2 } as const;
  const typeCode = (l: ManifestLayer) => (l.actFormat && l.actFormat !== "tobe" ? FORMAT_CODE[l.actFormat] : code[l.salientType]);
  for (const l of m.layers) {
    for (let c = 0; c < l.descriptors.count; c++) {
      const d = l.descriptors.first + c;
      const m0 = c * m.design.bufferTokens;
      const want = [
        Math.min(m.design.bufferTokens, l.m - m0), l.tiles, l.nTiles, l.tileChannels, l.s, typeCode(l),
        l.act.offset + chunkWordOffset(m.design.actStrideBits, m0, W, m.design.bufferTokens), l.act.tileStride, l.wgt.offset, l.wgt.blockStride,
        l.out.offset + chunkWordOffset(m.design.outStrideBits, m0, W, m.design.bufferTokens), l.out.tileStride,
      ];
      want.forEach((v, f) => {
        if (field(d, f) !== v) {
          throw new UserError(
            `${dir}/manifest.json: layer ${l.name} does not match descriptor ${d} (field ${f}: manifest implies ${v}, descriptor has ${field(d, f)}); the manifest was edited or belongs to other images`,
          );
        }
      });
    }
  }
}

/** The scale a layer's outputs dequantize with: per token row when the manifest has actScales. */
export function layerActScale(l: ManifestLayer): ActScale {
  return l.actScales ? Float64Array.from(l.actScales) : l.actScale;
}
