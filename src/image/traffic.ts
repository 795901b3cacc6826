/**
 * The memory traffic a run of an image set costs, per layer, from the manifest alone: the
 * accelerator's reads and writes do not depend on data or on memory timing. Every descriptor
 * is read once; every tile reads its activation block and its weight block (activations are
 * read again for every N-tile); every N-tile writes its output block.
 */
import type { Manifest, ManifestLayer } from "./manifest.js";

export interface LayerTraffic {
  name: string;
  /** Memory words (AXI beats) read and written. */
  read: number;
  written: number;
  /** Of the words read: descriptors, activations, weights. */
  descriptors: number;
  activations: number;
  weights: number;
}

const words = (rows: number, strideBits: number, wordBits: number) => Math.ceil((rows * strideBits) / wordBits);

export function layerTraffic(man: Manifest, l: ManifestLayer): LayerTraffic {
  const W = man.memWordBits;
  const cap = man.design.bufferTokens;
  let descriptors = 0;
  let activations = 0;
  let weights = 0;
  let written = 0;
  for (let m0 = 0; m0 < l.m; m0 += cap) {
    const m = Math.min(cap, l.m - m0);
    descriptors += man.design.descriptorWords;
    activations += l.nTiles * l.tiles * words(m, man.design.actStrideBits, W);
    weights += l.nTiles * l.tiles * words(l.tileChannels, man.design.wgtStrideBits, W);
    written += l.nTiles * words(m, man.design.outStrideBits, W);
  }
  return { name: l.name, read: descriptors + activations + weights, written, descriptors, activations, weights };
}
