/**
 * The golden run over an image folder (decode the images, run the model, write the
 * expected output image, error figures against the float reference) and the comparison of
 * a simulated output image with the expected one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { recordOwned, sha256, writeFileAtomic } from "../core/files.js";
import { readTensorFile, writeNpy } from "../data/tensorio.js";
import { dequantize, matmulMod32, quantError, type ErrorFigures } from "../golden.js";
import type { Block } from "../image/block.js";
import type { Tensor } from "../core/tensor.js";
import { layerActScale, type Manifest, type ManifestLayer } from "../image/manifest.js";
import { outputBlock, readOperands, readOutputBlock } from "../image/read.js";

export interface GoldenLayerResult {
  name: string;
  m: number;
  k: number;
  n: number;
  macs: number;
  expectedFile: string;
  /** The dequantized output [m x n] as float32 .npy, original channel order (when written). */
  dequantizedFile?: string;
  error?: ErrorFigures;
  seconds: number;
}

/** Runs the golden model over every layer of an image folder; writes <layer>.expected.hex. */
export function runGolden(dir: string, man: Manifest, opts: { write?: boolean; error?: boolean } = {}): GoldenLayerResult[] {
  const results: GoldenLayerResult[] = [];
  for (const l of man.layers) {
    const t0 = performance.now();
    const { a, w } = readOperands(dir, man, l);
    const y = matmulMod32(a, w, l.m, l.paddedK, l.paddedN);
    const block = outputBlock(man, l, y);
    const expectedFile = `${l.name}.expected.hex`;
    let dequantizedFile: string | undefined;
    if (opts.write !== false) {
      writeFileAtomic(path.join(dir, expectedFile), block.toHex());
      // Beside the float reference: what the accelerator's output means, in real numbers.
      dequantizedFile = `${l.name}.deq.npy`;
      writeNpy(path.join(dir, dequantizedFile), { shape: [l.m, l.n], data: dequantize(y, l.m, l.n, l.paddedN, layerActScale(l), l.weightScales) });
      recordOwned(dir, [expectedFile, dequantizedFile]);
    }
    const seconds = (performance.now() - t0) / 1000;
    let error: ErrorFigures | undefined;
    if (opts.error !== false && l.reference) {
      const { x, w: wf } = readReference(dir, l);
      error = quantError(x.data, wf.data, l.m, l.k, l.n, y, l.paddedN, layerActScale(l), l.weightScales);
    }
    results.push({ name: l.name, m: l.m, k: l.k, n: l.n, macs: l.m * l.k * l.n, expectedFile, ...(dequantizedFile ? { dequantizedFile } : {}), error, seconds });
  }
  return results;
}

export interface Mismatch {
  layer: string;
  token: number;
  channel: number;
  expected: number;
  actual: number;
}

/** Compares two output images of a layer element by element; returns up to `limit` mismatches and the total count. */
export function compareOutputs(man: Manifest, l: ManifestLayer, expected: Block, actual: Block, limit = 10): { count: number; first: Mismatch[] } {
  const e = readOutputBlock(man, l, expected);
  const a = readOutputBlock(man, l, actual);
  let count = 0;
  const first: Mismatch[] = [];
  for (let r = 0; r < l.m; r++) {
    for (let c = 0; c < l.n; c++) {
      const i = r * l.paddedN + c;
      if (e[i] !== a[i]) {
        count++;
        if (first.length < limit) first.push({ layer: l.name, token: r, channel: c, expected: e[i], actual: a[i] });
      }
    }
  }
  return { count, first };
}


/**
 * A layer's stored float reference, checked against the manifest (sha256 and shapes): what
 * the golden model and the run report read, never an edited or damaged file.
 */
export function readReference(dir: string, l: ManifestLayer): { x: Tensor; w: Tensor } {
  const ref = l.reference;
  if (!ref) throw new UserError(`${dir}: layer ${l.name} has no stored float reference`);
  for (const [file, sha] of [[ref.x, ref.xSha256], [ref.w, ref.wSha256]] as const) {
    if (sha !== undefined && sha256(fs.readFileSync(path.join(dir, file))) !== sha) {
      throw new UserError(`${dir}/${file}: sha256 does not match the manifest: the float reference was changed or damaged`);
    }
  }
  const x = readTensorFile(path.join(dir, ref.x));
  const w = readTensorFile(path.join(dir, ref.w));
  if (x.shape[0] !== l.m || x.shape[1] !== l.k || w.shape[0] !== l.k || w.shape[1] !== l.n) {
    throw new UserError(`${dir}: reference tensors of layer ${l.name} do not have the manifest's shapes`);
  }
  return { x, w };
}
