/**
 * The end-to-end flows the CLI exposes, one function each, so tests and benchmarks drive
 * exactly what users run: generate a design folder, quantize into an image folder,
 * simulate an image folder on a design folder, and verify (all of them, then compare).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { designFromJson, type ElaboratedDesign } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { compareOutputs, runGolden, type GoldenLayerResult, type Mismatch } from "../golden.js";
import { Block, writeDirAtomic, writeFileAtomic, writeFiles } from "../image/block.js";
import { loadManifest, type Manifest } from "../image/manifest.js";
import { buildImageSet, calibrate, quantizeLayer, type ImageSet, type LayerInput, type LayerPlan } from "../quant/quantizer.js";
import { foldReorders, type FoldResult } from "../dataflow/fold.js";
import type { Graph } from "../dataflow/graph.js";
import { linearOperands } from "../dataflow/operands.js";
import type { Tensor } from "../core/tensor.js";
import { layerLayout } from "../quant/tobe.js";
import { generateRtl, type GeneratedRtl } from "../hw/generate.js";
import { buildSim, layerOutput, memAddrBitsFor, runSim, watchdogCycles, type Simulator } from "../sim/driver.js";
import { generateLayer, LAYER_TYPES, type LayerType } from "../data/synthetic.js";
import type { SalientKind } from "../quant/tobe.js";
import { writeNpy } from "../data/tensorio.js";

// ------------------------------------------------------------------ designs

/** Writes the RTL, testbench and design.json into `dir` (atomically). */
export function writeDesign(dir: string, d: ElaboratedDesign): GeneratedRtl {
  const rtl = generateRtl(d);
  writeDirAtomic(dir, (tmp) => {
    writeFiles(tmp, { ...rtl.sources, ...rtl.testbench, ...rtl.header });
    writeFiles(tmp, {
      "design.json": JSON.stringify({ ...d, rtl: { top: rtl.top, tbTop: rtl.tbTop, sources: Object.keys(rtl.sources), testbench: Object.keys(rtl.testbench) } }, null, 1) + "\n",
    });
  });
  return rtl;
}

export function loadDesign(dir: string): ElaboratedDesign {
  const p = path.join(dir, "design.json");
  if (!fs.existsSync(p)) throw new UserError(`${dir}: no design.json (generate one with 'oltron generate --out ${dir}')`);
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(p, "utf8"));
  } catch (e) {
    throw new UserError(`${p}: not valid JSON (${(e as Error).message})`);
  }
  return designFromJson(obj, p);
}

/**
 * The RTL of a design folder, read from disk (what the user may have inspected), checked
 * against a fresh generation so a hand-edited file is noticed rather than silently simulated.
 */
export function loadRtl(dir: string, d: ElaboratedDesign): GeneratedRtl {
  const fresh = generateRtl(d);
  for (const [name, text] of Object.entries({ ...fresh.sources, ...fresh.testbench, ...fresh.header })) {
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) throw new UserError(`${p}: missing; regenerate the design with 'oltron generate'`);
    if (fs.readFileSync(p, "utf8") !== text) {
      throw new UserError(`${p}: differs from what generator ${d.generator.version} produces for this design; regenerate it`);
    }
  }
  return fresh;
}

// ------------------------------------------------------------------ layers

/** A synthetic layer spec: <type>:<M>x<K>x<N>[:<fp8|fp12|none>[:<threshold>|r<ratio>]] */
export interface LayerSpec {
  name: string;
  type: LayerType;
  m: number;
  k: number;
  n: number;
  plan: LayerPlan;
}

export function parseLayerSpec(spec: string, index: number): LayerSpec {
  const parts = spec.split(":");
  const bad = (why: string) =>
    new UserError(`invalid --layer '${spec}': ${why}; expected <type>:<M>x<K>x<N>[:<fp8|fp12|none>[:<threshold>|r<ratio>]] with type one of ${LAYER_TYPES.join(", ")}`);
  if (parts.length < 2 || parts.length > 4) throw bad("wrong number of ':' fields");
  const type = parts[0] as LayerType;
  if (!LAYER_TYPES.includes(type)) throw bad(`unknown layer type '${parts[0]}'`);
  const dims = parts[1].split("x").map(Number);
  if (dims.length !== 3 || dims.some((v) => !Number.isInteger(v) || v < 1 || v > 65536)) throw bad(`shape '${parts[1]}' must be three integers in 1..65536`);
  const salientType = (parts[2] ?? "fp8") as SalientKind;
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

export function synthLayers(specs: LayerSpec[], seed: number): LayerInput[] {
  return specs.map((s, i) => {
    const g = generateLayer({ type: s.type, m: s.m, k: s.k, n: s.n, seed: seed + 7919 * i });
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
  const quantized = layers.map((l, i) => {
    opts.log?.(`quantize: layer ${i + 1}/${layers.length} ${l.name} (${l.x.shape.join("x")} x ${l.w.shape[1]})`);
    return quantizeLayer(d, l);
  });
  const set = buildImageSet(d, quantized);
  return writeImageDir(outDir, set, opts.reference === false ? undefined : layers);
}

/** Writes an image set (and, given the float layers, their reference tensors) atomically. */
export function writeImageDir(outDir: string, set: ImageSet, reference?: LayerInput[]): Manifest {
  if (reference) {
    for (const l of set.manifest.layers) l.reference = { x: `${l.name}.x.npy`, w: `${l.name}.w.npy` };
    set.files["manifest.json"] = JSON.stringify(set.manifest, null, 1) + "\n";
  }
  writeDirAtomic(outDir, (tmp) => {
    writeFiles(tmp, set.files);
    for (const l of reference ?? []) {
      writeNpy(path.join(tmp, `${l.name}.x.npy`), l.x);
      writeNpy(path.join(tmp, `${l.name}.w.npy`), l.w);
    }
  });
  return set.manifest;
}

// ------------------------------------------------------------------ blocks

export interface BlockLayers {
  layers: LayerInput[];
  fold: FoldResult;
}

/**
 * The linear layers of a transformer block, with the quantizer's own TOBE permutations
 * folded into the graph: each linear is calibrated on its real input, its TOBE layout is
 * computed for the design, that permutation is folded (into producer columns or norm
 * addressing), and the folded operands are quantized with the layout that keeps their
 * order. A folded layer's manifest permutation is therefore monotone: no reorder runs at
 * inference, only zero padding. A permutation the pass must refuse stays an explicit
 * reorder and is reported in `fold.plan`.
 */
export function blockLayers(d: ElaboratedDesign, graph: Graph, x: Tensor, plan: LayerPlan): BlockLayers {
  const layouts = new Map<string, { perm: Int32Array; channels: number[]; groups: number }>();
  const perms = new Map<string, number[]>();
  const heads = new Map<string, number>();
  for (const n of graph.nodes) if (n.op === "attention") heads.set(n.name, n.heads);
  const groupsOf = new Map<string, number>();
  for (const n of graph.nodes) if (n.op === "linear") groupsOf.set(n.name, heads.get(n.inputs[0]) ?? 1);
  for (const op of linearOperands(graph, x)) {
    // A linear fed by attention (o_proj) gets head-aware TOBE, so its permutation can fold.
    const groups = plan.salientType === "none" ? 1 : groupsOf.get(op.name) ?? 1;
    const cal = calibrate(op.x, plan, op.name);
    const { geometry: g, perm } = layerLayout(d, op.x.shape[1], cal.salient, cal.order, plan.salientType, groups);
    const order = Array.from(perm).filter((c) => c >= 0);
    perms.set(op.name, order);
    const position = new Int32Array(order.length);
    order.forEach((c, i) => (position[c] = i));
    // The same layout in the folded operand's own channel order.
    const layout = perm.map((c) => (c < 0 ? -1 : position[c]));
    const channels: number[] = [];
    for (let i = 0; i < layout.length; i++) if (i % g.tileChannels < g.s && layout[i] >= 0) channels.push(layout[i]);
    layouts.set(op.name, { perm: layout, channels, groups });
  }
  const fold = foldReorders(graph, perms);
  const layers = linearOperands(fold.graph, x).map((op) => {
    const l = layouts.get(op.name)!;
    return {
      name: op.name.replace(/[^A-Za-z0-9_.-]/g, "_"), x: op.x, w: op.w, layout: l.perm,
      plan: plan.salientType === "none" ? plan : { salientType: plan.salientType, channels: l.channels, ...(l.groups > 1 ? { groups: l.groups } : {}) },
    };
  });
  return { layers, fold };
}

// ------------------------------------------------------------------ simulation

export interface SimResult {
  design: string;
  simulator: Simulator;
  status: "done" | "timeout" | "bad_address";
  pass: boolean;
  cycles: { total: number; busy: number; stall: number; watchdog: number };
  words: { read: number; written: number };
  macs: number;
  utilization: number;
  idealCycles: number;
  build: { key: string; cached: boolean; seconds: number };
  wallSeconds: number;
  simCyclesPerSecond: number;
  macsPerSecond: number;
  layers: { name: string; m: number; k: number; n: number; salientType: string; s: number; tiles: number; minTiles: number; mismatches: number }[];
  mismatches: number;
  firstMismatches: Mismatch[];
}

export interface SimOptions {
  simulator?: Simulator;
  trace?: { file: string; from?: number; to?: number };
  log?: (s: string) => void;
  /** Skip the comparison (for timing-only runs). */
  compare?: boolean;
}

/** Runs one image folder on one design; compares every layer against the golden model. */
export async function simulate(designDir: string, imagesDir: string, opts: SimOptions = {}): Promise<SimResult> {
  const d = loadDesign(designDir);
  const rtl = loadRtl(designDir, d);
  return simulateDesign(d, rtl, imagesDir, opts);
}

export async function simulateDesign(d: ElaboratedDesign, rtl: GeneratedRtl, imagesDir: string, opts: SimOptions = {}): Promise<SimResult> {
  const simulator = opts.simulator ?? "verilator";
  const man = loadManifest(imagesDir);
  if (man.design.hash !== d.hash) {
    throw new UserError(
      `${imagesDir}: images were quantized for design ${man.design.name} (hash ${man.design.hash}), not ${d.name}; re-run 'oltron quantize --design' with this design`,
    );
  }
  const geometry: [string, number, number][] = [
    ["memWordBits", man.design.memWordBits, d.config.memWordBits], ["bufferTokens", man.design.bufferTokens, d.config.bufferTokens],
    ["cols", man.design.cols, d.cols], ["actStrideBits", man.design.actStrideBits, d.act.strideBits],
    ["wgtStrideBits", man.design.wgtStrideBits, d.wgt.strideBits], ["outStrideBits", man.design.outStrideBits, d.out.strideBits],
    ["descriptorWords", man.design.descriptorWords, d.descriptorWords],
  ];
  for (const [what, got, want] of geometry) {
    if (got !== want) throw new UserError(`${imagesDir}/manifest.json: design.${what} is ${got}, but design ${d.name} has ${want}; the manifest was edited`);
  }
  const build = await buildSim(rtl, { simulator, memAddrBits: memAddrBitsFor(man), trace: !!opts.trace, log: opts.log });
  const watchdog = watchdogCycles(d, man);
  const run = await runSim(build, imagesDir, man, { maxCycles: watchdog, trace: opts.trace, log: opts.log });
  const macs = man.layers.reduce((a, l) => a + l.m * l.k * l.n, 0);
  const layers: SimResult["layers"] = [];
  const firstMismatches: Mismatch[] = [];
  let mismatches = 0;
  const compare = opts.compare !== false && run.status === "done";
  // Recomputed every run (it is fast): a stale or edited expected file is never trusted.
  if (compare) runGolden(imagesDir, man, { error: false });
  for (const l of man.layers) {
    let count = 0;
    if (compare) {
      const actual = layerOutput(run, man, l.name);
      writeFileAtomic(path.join(imagesDir, l.out.file), actual.toHex());
      const expected = Block.fromHex(fs.readFileSync(path.join(imagesDir, `${l.name}.expected.hex`), "utf8"), man.memWordBits, `${l.name}.expected.hex`);
      const c = compareOutputs(man, l, expected, actual, 10 - firstMismatches.length);
      count = c.count;
      firstMismatches.push(...c.first);
    }
    mismatches += count;
    layers.push({ name: l.name, m: l.m, k: l.k, n: l.n, salientType: l.salientType, s: l.s, tiles: l.tiles, minTiles: l.minTiles, mismatches: count });
  }
  const total = run.cyclesTotal;
  return {
    design: d.name,
    simulator,
    status: run.status,
    pass: run.status === "done" && (!compare || mismatches === 0) && opts.compare !== false,
    cycles: { total, busy: run.cyclesBusy, stall: run.cyclesStall, watchdog },
    words: { read: run.wordsRead, written: run.wordsWritten },
    macs,
    utilization: total > 0 ? macs / (d.pes.total * total) : 0,
    idealCycles: macs / d.pes.total,
    build: { key: build.key, cached: build.cached, seconds: build.buildSeconds },
    wallSeconds: run.wallSeconds,
    simCyclesPerSecond: total / Math.max(run.wallSeconds, 1e-9),
    macsPerSecond: macs / Math.max(run.wallSeconds, 1e-9),
    layers,
    mismatches,
    firstMismatches,
  };
}

export function summarize(r: SimResult): string {
  const verdict = r.status !== "done" ? `FAIL (${r.status === "timeout" ? `hang: still busy after ${r.cycles.watchdog} cycles` : "address out of range"})`
    : r.pass ? "PASS (bit-exact)" : `FAIL (${r.mismatches} mismatching outputs)`;
  return `${verdict}: ${r.design} on ${r.simulator}, ${r.layers.length} layer(s), ${r.macs} MACs in ${r.cycles.total} cycles ` +
    `(ideal ${Math.ceil(r.idealCycles)}), utilization ${(100 * r.utilization).toFixed(1)}%, stalls ${r.cycles.stall}`;
}

export type { GoldenLayerResult };
