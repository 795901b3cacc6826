/**
 * Layers into image folders: synthetic layer specs, and quantizing layers for a design into
 * an image folder written atomically (images, manifest, float reference tensors).
 */
import { LOSS_WARNING } from "./utilization.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { sha256, writeDirAtomic, writeFiles } from "../core/files.js";
import type { SalientKind } from "../core/formats.js";
import { generateLayer, LAYER_TYPES, type LayerType, type ActivationModel, type WeightModel } from "../data/synthetic.js";
import { writeNpy } from "../data/tensorio.js";
import type { ElaboratedDesign } from "../hw/design.js";
import { buildImageSet, type ImageSet } from "../image/build.js";
import { manifestText, type Manifest } from "../image/manifest.js";
import type { TileGeometry } from "../quant/tobe.js";
import { quantizeLayer, type LayerInput, type LayerPlan } from "../quant/quantizer.js";

/** A synthetic layer spec: <type>:<M>x<K>x<N>[:<fp8|fp12|none>[:<threshold>|r<ratio>]] */
export interface LayerSpec {
  name: string;
  type: LayerType;
  m: number;
  k: number;
  n: number;
  plan: LayerPlan;
}

/** The most elements one matrix of a synthetic layer may have (2^27: 512 MiB as float32). */
export const MAX_LAYER_ELEMENTS = 2 ** 27;

/** `defaultType` is the salient type of a spec that names none (fp8; none on architectures without salient lanes). */
export function parseLayerSpec(spec: string, index: number, defaultType: SalientKind = "fp8"): LayerSpec {
  const parts = spec.split(":");
  const bad = (why: string) =>
    new UserError(`invalid --layer '${spec}': ${why}; expected <type>:<M>x<K>x<N>[:<fp8|fp12|none>[:<threshold>|r<ratio>]] with type one of ${LAYER_TYPES.join(", ")}`);
  if (parts.length < 2 || parts.length > 4) throw bad("wrong number of ':' fields");
  const type = parts[0] as LayerType;
  if (!LAYER_TYPES.includes(type)) throw bad(`unknown layer type '${parts[0]}'`);
  const dims = parts[1].split("x").map(Number);
  if (dims.length !== 3 || dims.some((v) => !Number.isInteger(v) || v < 1 || v > 65536)) throw bad(`shape '${parts[1]}' must be three integers in 1..65536`);
  // Bounded before anything is allocated: each generated matrix (activations M x K, weights
  // K x N, outputs M x N) stays within MAX_LAYER_ELEMENTS, a few GB of working memory at most.
  const [m, k, n] = dims;
  for (const [what, count] of [["M x K", m * k], ["K x N", k * n], ["M x N", m * n]] as const) {
    if (count > MAX_LAYER_ELEMENTS) throw bad(`${what} = ${count} elements is more than the ${MAX_LAYER_ELEMENTS} a synthetic layer may have`);
  }
  const salientType = (parts[2] ?? defaultType) as SalientKind;
  if (!["fp8", "fp12", "none"].includes(salientType)) throw bad(`salient type '${parts[2]}'`);
  const plan: LayerPlan = { salientType };
  if (salientType === "none" && parts[3] !== undefined) throw bad(`a salient selector ('${parts[3]}') makes no sense with 'none'`);
  if (salientType !== "none") {
    const sel = parts[3];
    if (sel === undefined) plan.threshold = 4;
    else if (sel === "" || sel === "r") throw bad("empty salient selector");
    else if (sel.startsWith("r")) {
      plan.ratio = Number(sel.slice(1));
      if (!(plan.ratio >= 0 && plan.ratio <= 1)) throw bad(`ratio '${sel}' must be r0..r1`);
    } else {
      plan.threshold = Number(sel);
      if (!(plan.threshold > 0)) throw bad(`threshold '${sel}' must be a positive number`);
    }
  }
  return { name: `L${index}_${type}`, type, m: dims[0], k: dims[1], n: dims[2], plan };
}

export function synthLayers(specs: LayerSpec[], seed: number, weights: WeightModel = "gaussian", activations: ActivationModel = "profile"): LayerInput[] {
  return specs.map((s, i) => {
    const g = generateLayer({ type: s.type, m: s.m, k: s.k, n: s.n, seed: seed + 7919 * i, weights, activations });
    return { name: s.name, x: g.x, w: g.w, plan: s.plan, layerType: s.type };
  });
}

/** Quantizes layers for a design and writes the image folder (atomically). */
export function quantizeToDir(
  d: ElaboratedDesign,
  layers: LayerInput[],
  outDir: string,
  opts: { reference?: boolean; log?: (s: string) => void } = {},
): Manifest {
  let man: Manifest | undefined;
  writeDirAtomic(outDir, (tmp) => {
    man = quantizeInto(d, layers, tmp, opts);
  });
  return man!;
}

/** Quantizes layers for a design into `dir` (a fresh folder that a caller publishes). */
export function quantizeInto(d: ElaboratedDesign, layers: LayerInput[], dir: string, opts: { reference?: boolean; log?: (s: string) => void } = {}): Manifest {
  const quantized = layers.map((l, i) => {
    opts.log?.(`quantize: layer ${i + 1}/${layers.length} ${l.name} (${l.x.shape.join("x")} x ${l.w.shape[1]})`);
    const q = quantizeLayer(d, l);
    if (q.plan.salientType !== "none" && q.trueSalient === 0) {
      const how = q.plan.ratio !== undefined ? `ratio ${q.plan.ratio}` : q.plan.threshold !== undefined ? `threshold ${q.plan.threshold} x the median channel max` : "the plan";
      opts.log?.(
        `quantize: warning: layer ${l.name}: ${q.plan.salientType} was requested but no channel was selected by ${how}; ` +
        "the layer runs int4 only (lower --threshold or give --ratio to choose salient channels)",
      );
    }
    const cliff = tileCliff(d, l.name, q.geometry, q.trueSalient);
    if (cliff) opts.log?.(cliff);
    return q;
  });
  const set = buildImageSet(d, quantized);
  return fillImageDir(dir, set, opts.reference === false ? undefined : layers);
}

/**
 * A warning when salient channels add more than 10% to a layer's tiles (so its passes and cycles):
 * the tool knows why (the salient slots a tile needs beyond what its flexible lines hold) and
 * what would help, so it says so instead of letting the layer run at a fraction of the array.
 */
export function tileCliff(d: ElaboratedDesign, name: string, g: TileGeometry, salient: number): string | undefined {
  if (g.minTiles / g.tiles >= 1 - LOSS_WARNING) return undefined;
  const useful = (100 * g.minTiles) / g.tiles;
  const lanes = g.salientType === "fp12" ? 2 : 1;
  const perTile = Math.max(1, Math.floor(d.flexLines / lanes));
  return (
    `quantize: warning: layer ${name} needs ${g.tiles} tiles against ${g.minTiles} without salient channels (${useful.toFixed(1)}% of the passes do the work of a plain int4 layer): ` +
    `a tile holds at most ${perTile} ${g.salientType} salient channel(s) (${d.flexLines} flexible lane(s), ${lanes} per ${g.salientType} channel), so its ${salient} salient channels need ${Math.ceil(salient / perTile)} tiles, and each tile carries ${g.tileChannels} of the ${d.rows} channels a plain int4 tile would. ` +
    // When the count alone would fit the plain tiles, the second lane of every fp12 channel is the cause: more lines would not help.
    (Math.ceil(salient / perTile) >= g.tiles
      ? `Fewer salient channels (--ratio or --threshold), a bit budget that weighs tiles (--budget)${g.salientType === "fp12" ? ", fp8 instead of fp12" : ""} or more flexible lines (--flex-lines) cut them`
      : "The count alone fits: the second lane each fp12 channel takes costs the tiles. fp8 instead of fp12, or a bit budget that weighs tiles (--budget), cut them")
  );
}

/** Writes an image set (and, given the float layers, their reference tensors) atomically. */
export function writeImageDir(outDir: string, set: ImageSet, reference?: LayerInput[]): Manifest {
  writeDirAtomic(outDir, (tmp) => fillImageDir(tmp, set, reference));
  return set.manifest;
}

function fillImageDir(tmp: string, set: ImageSet, reference?: LayerInput[]): Manifest {
  if (reference) {
    for (const l of set.manifest.layers) l.reference = { x: `${l.name}.x.npy`, w: `${l.name}.w.npy` };
    set.files["manifest.json"] = manifestText(set.manifest);
  }
  writeFiles(tmp, set.files);
  for (const l of reference ?? []) {
    writeNpy(path.join(tmp, `${l.name}.x.npy`), l.x);
    writeNpy(path.join(tmp, `${l.name}.w.npy`), l.w);
  }
  if (reference) {
    // The float reference is protected like the images: its sha256 is in the manifest.
    for (const l of set.manifest.layers) {
      if (!l.reference) continue;
      l.reference.xSha256 = sha256(fs.readFileSync(path.join(tmp, l.reference.x)));
      l.reference.wSha256 = sha256(fs.readFileSync(path.join(tmp, l.reference.w)));
    }
    fs.writeFileSync(path.join(tmp, "manifest.json"), manifestText(set.manifest));
  }
  return set.manifest;
}
