/**
 * The way back to a real model: for every layer of an image folder, the fake-quantized
 * activations and the dequantized weights in the original channel order, read from the images
 * themselves (so they are what the hardware multiplies), as .npy files and one .safetensors
 * file. X_fq x W_dq equals the golden model's dequantized output up to float rounding, so
 * swapping them into a model's forward pass measures exactly this quantization
 * (docs/quantization.md, "Taking a plan back to PyTorch").
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeDirAtomic } from "../core/files.js";
import { rowScale } from "../core/tensor.js";
import { writeNpy, writeSafetensors } from "../data/tensorio.js";
import { layerActScale, loadManifest, type ManifestLayer } from "../image/manifest.js";
import { readActivations, readWeights } from "../image/read.js";
import type { Tensor } from "../core/tensor.js";

export interface ExportedLayer {
  name: string;
  /** Fake-quantized activations [M x K], float32, original channel order. */
  x: Tensor;
  /** Dequantized weights [K x N], float32, original row order. */
  w: Tensor;
}

/** Fake-quantized activations and dequantized weights of one layer, from its images. */
export function exportLayer(imagesDir: string, man: ReturnType<typeof loadManifest>, l: ManifestLayer): ExportedLayer {
  const a = readActivations(imagesDir, man, l, "exact");
  const wq = readWeights(imagesDir, man, l);
  const scale = layerActScale(l);
  const x = new Float32Array(l.m * l.k);
  const w = new Float32Array(l.k * l.n);
  for (let i = 0; i < l.paddedK; i++) {
    const c = l.permutation[i];
    if (c < 0) continue;
    for (let r = 0; r < l.m; r++) x[r * l.k + c] = a[r * l.paddedK + i] * rowScale(scale, r);
    for (let j = 0; j < l.n; j++) w[c * l.n + j] = wq[i * l.paddedN + j] * l.weightScales[j];
  }
  return { name: l.name, x: { shape: [l.m, l.k], data: x }, w: { shape: [l.k, l.n], data: w } };
}

/**
 * Writes <out>/<layer>.x_fq.npy, <layer>.w_dq.npy, export.safetensors (tensors
 * "<layer>.x_fq" and "<layer>.w_dq") and export.json (what each file holds). `recordAs`: the
 * image folder's name in export.json, when `imagesDir` is the temporary folder it is written in.
 */
export function exportImages(imagesDir: string, outDir: string, recordAs = imagesDir): { dir: string; files: string[] } {
  const man = loadManifest(imagesDir);
  const layers = man.layers.map((l) => exportLayer(imagesDir, man, l));
  const files: string[] = [];
  writeDirAtomic(outDir, (tmp) => {
    const tensors: Record<string, Tensor> = {};
    for (const e of layers) {
      writeNpy(path.join(tmp, `${e.name}.x_fq.npy`), e.x);
      writeNpy(path.join(tmp, `${e.name}.w_dq.npy`), e.w);
      files.push(`${e.name}.x_fq.npy`, `${e.name}.w_dq.npy`);
      tensors[`${e.name}.x_fq`] = e.x;
      tensors[`${e.name}.w_dq`] = e.w;
    }
    writeSafetensors(path.join(tmp, "export.safetensors"), tensors);
    const info = {
      format: "oltron-export",
      version: 1,
      images: path.resolve(recordAs),
      design: man.design.name,
      layers: man.layers.map((l) => ({
        name: l.name, m: l.m, k: l.k, n: l.n, salientType: l.salientType, salientChannels: l.salientChannels,
        actScaling: l.actScales ? "token" : "tensor", weights: l.plan.weights ?? "rtn",
        ...(l.plan.rotation ? { rotation: l.plan.rotation } : {}),
        x_fq: {
          file: `${l.name}.x_fq.npy`, shape: [l.m, l.k],
          meaning: l.plan.rotation
            ? `fake-quantized rotated activations X Q (randomized Hadamard, seed ${l.plan.rotation.seed}${l.plan.rotation.size !== l.plan.rotation.originalK ? `, K zero-padded from ${l.plan.rotation.originalK} to ${l.plan.rotation.size}` : ""}): the rotated basis, not the original channels; x_fq @ w_dq is the layer's output`
            : "fake-quantized activations, original channel order",
        },
        w_dq: {
          file: `${l.name}.w_dq.npy`, shape: [l.k, l.n],
          meaning: l.plan.rotation
            ? "dequantized int4 rotated weights Q^T W [in x out], in the rotated basis; nn.Linear.weight is its transpose"
            : "dequantized int4 weights [in x out]; nn.Linear.weight is its transpose",
        },
      })),
    };
    fs.writeFileSync(path.join(tmp, "export.json"), JSON.stringify(info, null, 1) + "\n");
    files.push("export.safetensors", "export.json");
  });
  return { dir: outDir, files };
}
