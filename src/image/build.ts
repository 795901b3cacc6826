/**
 * Quantized layers -> the image set the RTL consumes: every layer laid out in one address
 * space (descriptor table first), rendered as hex images plus the manifest.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { DESC_FLAG_LAST, type Descriptor } from "../hw/descriptor.js";
import { UserError } from "../core/errors.js";
import { sha256 } from "../core/files.js";
import { checkOverflow, type QuantizedLayer } from "../quant/quantizer.js";
import { Block } from "./block.js";
import { actSlot, descriptorBlock, descriptorsFor, mapLayer, placeOutput, rowNibble, type LayerMap } from "./layout.js";
import { MANIFEST_FORMAT, MANIFEST_VERSION, manifestText, type ImageRef, type Manifest, type ManifestLayer } from "./manifest.js";

function actBlock(d: ElaboratedDesign, q: QuantizedLayer, map: LayerMap): Block {
  const W = d.config.memWordBits;
  const g = q.geometry;
  const b = new Block(W, map.actWords);
  const K = g.paddedK;
  for (let t = 0; t < g.tiles; t++) {
    const blockNib = (t * map.actTileStride * W) / 4;
    for (let r = 0; r < q.m; r++) {
      const rowBase = blockNib + rowNibble(d.act.strideBits, r, W, d.config.bufferTokens);
      for (let slot = 0; slot < g.tileChannels; slot++) {
        const { at, nibbles } = actSlot(g, slot);
        b.put(rowBase + at, nibbles, q.actCodes[r * K + t * g.tileChannels + slot]);
      }
    }
  }
  return b;
}

function wgtBlock(d: ElaboratedDesign, q: QuantizedLayer, map: LayerMap): Block {
  const W = d.config.memWordBits;
  const g = q.geometry;
  const C = d.cols;
  const b = new Block(W, map.wgtWords);
  for (let j = 0; j < map.nTiles; j++) {
    for (let t = 0; t < g.tiles; t++) {
      const blockNib = (((j * g.tiles + t) * map.wgtBlockStride) * W) / 4;
      for (let slot = 0; slot < g.tileChannels; slot++) {
        const i = t * g.tileChannels + slot;
        const rowBase = blockNib + rowNibble(d.wgt.strideBits, slot, W, d.rows);
        for (let c = 0; c < C; c++) {
          const col = j * C + c;
          if (col < q.n) b.nib[rowBase + c] = q.wgtCodes[i * q.n + col];
        }
      }
    }
  }
  return b;
}

export interface ImageSet {
  manifest: Manifest;
  /** File name -> contents, all relative to the image folder. */
  files: Record<string, string>;
  descriptors: Descriptor[];
}

/**
 * Lays out every layer in one address space (descriptor table first) and renders the
 * images and manifest. Runs the overflow check before producing anything.
 */
export function buildImageSet(d: ElaboratedDesign, layers: QuantizedLayer[], opts: { allowOverflow?: boolean } = {}): ImageSet {
  if (layers.length === 0) throw new UserError("no layers to encode");
  const names = new Set<string>();
  for (const q of layers) {
    if (!/^[A-Za-z0-9_.-]+$/.test(q.name)) throw new UserError(`layer name '${q.name}' must use only letters, digits, '_', '.', '-'`);
    if (names.has(q.name)) throw new UserError(`duplicate layer name '${q.name}'`);
    names.add(q.name);
    // Only directed hardware tests (every bit pattern, wrap-around) skip the check.
    if (!opts.allowOverflow) checkOverflow(q);
  }
  const W = d.config.memWordBits;
  const totalChunks = layers.reduce((a, q) => a + Math.ceil(q.m / d.config.bufferTokens), 0);
  let next = totalChunks * d.descriptorWords;
  const files: Record<string, string> = {};
  const descriptors: Descriptor[] = [];
  const mLayers: ManifestLayer[] = [];
  const ref = (file: string, offset: number, block: Block): ImageRef => {
    const text = block.toHex();
    files[file] = text;
    return { file, offset, words: block.words, sha256: sha256(text) };
  };
  const maps = layers.map((q) => {
    const { map, next: after } = mapLayer(d, q.geometry, q.m, q.n, next);
    next = after;
    return map;
  });
  for (const map of maps) next = placeOutput(map, next);
  layers.forEach((q, li) => {
    const g = q.geometry;
    const map = maps[li];
    const descIndex = descriptors.length;
    descriptors.push(...descriptorsFor(d, g, map));
    mLayers.push({
      name: q.name,
      layerType: q.layerType,
      m: q.m, k: q.k, n: q.n,
      salientType: g.salientType,
      ...(g.format && g.format !== "tobe" ? { actFormat: g.format } : {}),
      plan: q.plan,
      salientChannels: q.trueSalient,
      s: g.s,
      tiles: g.tiles,
      minTiles: g.minTiles,
      tileChannels: g.tileChannels,
      salientLanes: g.salientLanes,
      paddedK: g.paddedK,
      nTiles: map.nTiles,
      paddedN: map.paddedN,
      actScale: q.actScale,
      ...(q.actScales ? { actScales: Array.from(q.actScales) } : {}),
      weightScales: Array.from(q.weightScales),
      permutation: Array.from(q.perm),
      salientSet: q.salientSet,
      descriptors: { first: descIndex, count: map.chunks.length },
      act: { ...ref(`${q.name}.act.hex`, map.actOffset, actBlock(d, q, map)), tileStride: map.actTileStride },
      wgt: { ...ref(`${q.name}.wgt.hex`, map.wgtOffset, wgtBlock(d, q, map)), blockStride: map.wgtBlockStride },
      out: { offset: map.outOffset, words: map.outWords, tileStride: map.outTileStride, file: `${q.name}.out.hex` },
    });
  });
  descriptors[descriptors.length - 1].flags |= DESC_FLAG_LAST;
  const desc = descriptorBlock(d, descriptors);
  const descText = desc.toHex();
  files["descriptors.hex"] = descText;
  const body: Omit<Manifest, "manifestSha256"> = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    design: {
      name: d.name, hash: d.hash, ...(d.arch !== "oltron" ? { arch: d.arch } : {}), rows: d.rows, cols: d.cols, flexLines: d.flexLines,
      memWordBits: W, bufferTokens: d.config.bufferTokens,
      actStrideBits: d.act.strideBits, wgtStrideBits: d.wgt.strideBits, outStrideBits: d.out.strideBits,
      descriptorWords: d.descriptorWords,
      // What the run's timing depends on besides the shapes (image/cycles.ts reads them).
      loadSlots: d.config.loadSlots, axiMaxBurst: d.config.axiMaxBurst, axiMaxReads: d.config.axiMaxReads,
    },
    memWordBits: W,
    memoryWords: next,
    descriptorTable: { file: "descriptors.hex", offset: 0, words: desc.words, sha256: sha256(descText), count: descriptors.length },
    layers: mLayers,
  };
  const manifest: Manifest = { ...body, manifestSha256: "" };
  files["manifest.json"] = manifestText(manifest);
  return { manifest, files, descriptors };
}
