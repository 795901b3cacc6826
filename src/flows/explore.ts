/**
 * `oltron explore`: architectures x sizes x flexible lines x salient types x bit budgets x
 * layers, each point priced from one flow:
 * - accuracy: the architecture's own quantizer (the one that writes the images the RTL runs)
 *   on a synthetic LLaMA-like layer, calibrated on calibration tokens and scored by the golden
 *   model (bit-exact with the RTL) on held-out tokens against the float product;
 * - cycles: the cycle model (image/cycles.ts, exact against the RTL at fixed memory latency);
 * - events: the array's activity read from the sample's images (image/activity.ts, equal to
 *   the RTL monitors), scaled to the full layer; RAM and DRAM accesses from the layout;
 * - area, Fmax, energy per event: the silicon flow (Yosys, OpenSTA, RAM table, DRAM pJ/bit).
 * Results are kept per point under <out>/points, keyed by a hash of the point's inputs and the
 * generator version: a finished point is never recomputed, a killed run resumes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trackTemp } from "../core/children.js";
import { sha256, writeFileAtomic } from "../core/files.js";
import { generateLayer, type LayerType } from "../data/synthetic.js";
import type { Tensor } from "../core/tensor.js";
import { elaborate, GENERATOR_VERSION, resolveConfig, type ElaboratedDesign } from "../hw/design.js";
import { ARCHS, type ArchName } from "../hw/parts.js";
import { siliconReport, type SiliconReport } from "../hw/silicon.js";
import { imageActivity } from "../image/activity.js";
import { predictCycles } from "../image/cycles.js";
import { chooseLayerPlan } from "../quant/adaptive.js";
import type { LayerPlan } from "../quant/quantizer.js";
import { hadamardRotation, rotateActivations, rotateWeights } from "../quant/rotation.js";
import { generateRtl } from "../hw/generate.js";
import { layerEvents } from "./events.js";
import { simulateDesign } from "./simulate.js";
import { layerEnergy, type CostScales, type LayerEnergy, UNIT_SCALES } from "./energy.js";
import type { ExploreConfig, ExploreLayer } from "./explore-config.js";
import { runGolden } from "./golden.js";
import { quantizeToDir } from "./quantize.js";

export interface DesignPoint {
  arch: ArchName;
  size: number;
  flexLines?: number;
  salientType?: "fp8" | "fp12";
}

export interface ExplorePoint extends DesignPoint {
  budget?: number;
  /** Oltron: whether the plan may add tiles (flows/explore-config.ts, oltronPlans). */
  plan?: "budget" | "equal-tiles";
  layer: ExploreLayer;
  seed: number;
}

export interface PointResult {
  key: string;
  point: ExplorePoint;
  design: string;
  /** Held-out SQNR of the layer's output (dB): quantizer + golden model, sample of the layer. */
  sqnrDb: number;
  /** Activation bits stored per activation in the images (rows of every tile, salient overflow included). */
  actBits: number;
  tiles: number;
  minTiles: number;
  cycles: number;
  cyclesSource: "model";
  /** Activity figures and outlier share of the sample, which scale the full layer's events. */
  activity: number;
  psumActivity: number;
  energy: LayerEnergy;
  eventsSource: "images + manifest";
  /** Per cost source varied alone (x0.5, x2): the layer's energy in pJ. */
  sensitivity: Record<keyof CostScales, [number, number]>;
  /** With --rtl-sample: the accuracy sample's images co-simulated (Verilator), beside the model's figures for the same shape. */
  rtlSample?: RtlSample;
}

/** The design of a point: the size's preset for the architecture (tiny and small8 below 16), Oltron's lines and type set. */
export function pointDesign(p: DesignPoint): ElaboratedDesign {
  const preset = p.size === 4 ? "tiny" : p.size === 8 ? "small8" : `${p.arch}-${p.size}x${p.size}`;
  const over = ARCHS[p.arch].salient ? { ...(p.flexLines !== undefined ? { flexLines: p.flexLines } : {}), salientTypes: [p.salientType ?? "fp8"] } : {};
  return elaborate(resolveConfig({ arch: p.arch, ...over }, preset));
}

/** Every point of a sweep, in a stable order. */
export function explorePoints(cfg: ExploreConfig): ExplorePoint[] {
  const out: ExplorePoint[] = [];
  for (const size of cfg.sizes) {
    for (const arch of cfg.archs) {
      const salient = ARCHS[arch].salient;
      const designs: DesignPoint[] = salient
        ? (cfg.flexLines ?? [undefined]).flatMap((f) => cfg.salientTypes.map((t) => ({ arch, size, ...(f !== undefined ? { flexLines: f } : {}), salientType: t })))
        : [{ arch, size }];
      for (const dp of designs) {
        for (const budget of salient ? cfg.budgets : [undefined]) {
          for (const plan of salient ? cfg.oltronPlans : [undefined]) {
            for (const layer of cfg.layers) {
              for (const seed of cfg.seeds) out.push({ ...dp, ...(budget !== undefined ? { budget } : {}), ...(plan ? { plan } : {}), layer, seed });
            }
          }
        }
      }
    }
  }
  return out;
}

export function pointKey(p: ExplorePoint, cfg: ExploreConfig, d: ElaboratedDesign, rtl = false): string {
  return sha256(JSON.stringify({ v: GENERATOR_VERSION, p, d: d.hash, tokens: cfg.tokens, e: cfg.evalTokens, c: cfg.calibTokens, n: cfg.sampleN, ...(rtl ? { rtl } : {}) })).slice(0, 16);
}

function rowsOf(x: Tensor, r0: number, r1: number): Tensor {
  const k = x.shape[1];
  return { shape: [r1 - r0, k], data: x.data.slice(r0 * k, r1 * k) };
}

type Sample = { calib: Tensor; x: Tensor; w: Tensor };
/** Every design of a sweep scores the same sample of a layer: made once per process. */
const samples = new Map<string, Sample>();

/** The synthetic layer sample of a point: calibration and held-out tokens, sampled outputs. */
function sample(layer: ExploreLayer, seed: number, cfg: ExploreConfig): Sample {
  const n = Math.min(cfg.sampleN, layer.n);
  const key = JSON.stringify([layer.type, layer.k, n, seed, cfg.calibTokens, cfg.evalTokens]);
  let s = samples.get(key);
  if (!s) {
    const g = generateLayer({ type: layer.type as LayerType, m: cfg.calibTokens + cfg.evalTokens, k: layer.k, n, seed, variation: true });
    s = { calib: rowsOf(g.x, 0, cfg.calibTokens), x: rowsOf(g.x, cfg.calibTokens, cfg.calibTokens + cfg.evalTokens), w: g.w };
    samples.set(key, s);
  }
  return s;
}

/** The plan each architecture runs: Oltron's adaptive plan at the budget, the others' defaults. */
function planFor(d: ElaboratedDesign, p: ExplorePoint, s: { calib: Tensor; w: Tensor }): LayerPlan | undefined {
  if (!ARCHS[d.arch].salient) return d.arch === "int4" ? { salientType: "none", scaling: "token" } : undefined;
  return chooseLayerPlan(d, s.calib, s.w, p.budget ?? 4.25, { name: p.layer.type, ...(p.plan === "equal-tiles" ? { maxTileOverhead: 0 } : {}) }).plan;
}

/** The point's accuracy sample co-simulated: RTL against the model and the images, where both can be had. */
export interface RtlSample {
  pass: boolean;
  shape: { m: number; k: number; n: number };
  cycles: { rtl: number; model: number };
  toggles: { rtl: number; images: number };
  outlierPairs: { rtl: number; images: number };
}

export async function evaluatePoint(
  p: ExplorePoint, cfg: ExploreConfig, d: ElaboratedDesign, si: SiliconReport, opts: { rtl?: boolean; log?: (s: string) => void } = {},
): Promise<PointResult> {
  let s = sample(p.layer, p.seed, cfg);
  if (d.arch === "int4") {
    // QuaRot-style: a randomized Hadamard on the input channels of activations and weights.
    const rot = hadamardRotation(1 << Math.ceil(Math.log2(p.layer.k)), p.seed);
    s = { calib: rotateActivations(s.calib, rot), x: rotateActivations(s.x, rot), w: rotateWeights(s.w, rot) };
  }
  const plan = planFor(d, p, s);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-explore-"));
  const untrack = trackTemp(dir);
  try {
    const man = quantizeToDir(d, [{ name: p.layer.type, x: s.x, w: s.w, calib: s.calib, ...(plan ? { plan } : {}) }], dir);
    const gl = runGolden(dir, man, { write: false })[0];
    const l = man.layers[0];
    const act = imageActivity(d, dir, man, l);
    // The full layer: the sample's tiles (K and the plan set them), all tokens and output channels.
    const M = cfg.tokens;
    const N = p.layer.n;
    const nTiles = Math.ceil(N / d.cols);
    const chunks = Math.ceil(M / d.config.bufferTokens);
    // Rotation pads K to a power of two for the accuracy sample; the cost is priced at the layer's own K.
    const tiles = d.arch === "int4" ? Math.ceil(p.layer.k / d.rows) : l.tiles;
    const full = { ...l, m: M, n: N, k: p.layer.k, nTiles, tiles, descriptors: { first: 0, count: chunks } };
    const tokens = M * tiles * nTiles;
    const per = (v: number) => (act.tokens > 0 ? (v / act.tokens) * tokens : 0);
    const counts = {
      tokens, salientLanes: tokens * l.salientLanes, secondMode: act.secondMode > 0 ? tokens : 0,
      outlierPairs: Math.round(per(act.outlierPairs)), toggles: Math.round(per(act.toggles)), psumToggles: Math.round(per(act.psumToggles)),
    };
    const ev = layerEvents(d, man, full, counts, "images + manifest");
    const cycles = predictCycles(d, [{ m: M, tiles, nTiles, tileChannels: l.tileChannels }]).total;
    const cost = { m: M, k: p.layer.k, n: N, cycles, events: ev };
    const energy = layerEnergy(d, si, cost);
    let rtlSample: RtlSample | undefined;
    if (opts.rtl) {
      const r = await simulateDesign(d, generateRtl(d), dir, { log: opts.log ?? (() => {}) });
      const ev = r.layers[0].events;
      rtlSample = {
        pass: r.pass, shape: { m: l.m, k: l.k, n: l.n },
        cycles: { rtl: r.cycles.total ?? NaN, model: predictCycles(d, [{ m: l.m, tiles: l.tiles, nTiles: l.nTiles, tileChannels: l.tileChannels }]).total },
        toggles: { rtl: ev?.toggles ?? NaN, images: act.toggles },
        outlierPairs: { rtl: ev ? (ev.macs["ovp/outlier"] ?? 0) / (2 * d.cols) : NaN, images: act.outlierPairs },
      };
    }
    const sensitivity = Object.fromEntries((Object.keys(UNIT_SCALES) as (keyof CostScales)[]).map((k) =>
      [k, [0.5, 2].map((f) => layerEnergy(d, si, cost, { ...UNIT_SCALES, [k]: f }).totalPj)])) as PointResult["sensitivity"];
    return {
      key: pointKey(p, cfg, d), point: p, design: d.name,
      sqnrDb: gl.error?.sqnrDb ?? NaN,
      actBits: (tiles * d.act.rowBits) / p.layer.k, tiles, minTiles: d.arch === "int4" ? tiles : l.minTiles,
      cycles, cyclesSource: "model", activity: ev.activity, psumActivity: ev.psumActivity, energy, eventsSource: "images + manifest", sensitivity,
      ...(rtlSample ? { rtlSample } : {}),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    untrack();
  }
}

/** A point's result from the results folder, if a finished one is there. */
export function storedPoint(outDir: string, key: string): PointResult | undefined {
  const f = path.join(outDir, "points", `${key}.json`);
  if (!fs.existsSync(f)) return undefined;
  try {
    const r = JSON.parse(fs.readFileSync(f, "utf8")) as PointResult;
    return r.key === key ? r : undefined;
  } catch {
    return undefined; // damaged: recomputed
  }
}

export function storePoint(outDir: string, r: PointResult): void {
  fs.mkdirSync(path.join(outDir, "points"), { recursive: true });
  writeFileAtomic(path.join(outDir, "points", `${r.key}.json`), JSON.stringify(r) + "\n");
}

/** A design's whole decoder block: its layers summed (energy, cycles), SQNR as the mean over layers. */
export interface BlockResult {
  arch: ArchName;
  size: number;
  design: string;
  flexLines?: number;
  salientType?: string;
  budget?: number;
  plan?: string;
  seed: number;
  label: string;
  sqnrDb: number;
  cycles: number;
  energyPj: number;
  energyPerTokenNj: number;
  parts: Record<string, number>;
  areaMm2: number;
  fmaxMHz: number;
  /** Tokens per second at Fmax through the whole block. */
  tokensPerSecond: number;
  topsPerW: number;
  topsPerMm2: number;
  actBits: number;
  sensitivity: Record<keyof CostScales, [number, number]>;
}

export function blockResults(points: PointResult[], si: Map<string, SiliconReport>, tokens: number): BlockResult[] {
  const groups = new Map<string, PointResult[]>();
  for (const r of points) {
    const p = r.point;
    const k = JSON.stringify([r.design, p.budget ?? null, p.plan ?? null, p.seed]);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  return [...groups.values()].map((rs) => {
    const p = rs[0].point;
    const s = si.get(rs[0].design)!;
    const energyPj = rs.reduce((a, r) => a + r.energy.totalPj, 0);
    const cycles = rs.reduce((a, r) => a + r.cycles, 0);
    const ops = rs.reduce((a, r) => a + 2 * tokens * r.point.layer.k * r.point.layer.n, 0);
    const seconds = cycles / (s.timing.fmaxMHz * 1e6);
    const parts: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.energy.parts)) parts[k] = (parts[k] ?? 0) + v;
    const sens = {} as Record<keyof CostScales, [number, number]>;
    for (const k of Object.keys(UNIT_SCALES) as (keyof CostScales)[]) sens[k] = [0, 1].map((i) => rs.reduce((a, r) => a + r.sensitivity[k][i], 0)) as [number, number];
    const kTotal = rs.reduce((a, r) => a + r.point.layer.k, 0);
    return {
      arch: p.arch, size: p.size, design: rs[0].design, ...(p.flexLines !== undefined ? { flexLines: p.flexLines } : {}),
      ...(p.salientType ? { salientType: p.salientType } : {}), ...(p.budget !== undefined ? { budget: p.budget } : {}), ...(p.plan ? { plan: p.plan } : {}), seed: p.seed,
      label: `${p.arch} ${p.size}x${p.size}${p.budget !== undefined ? ` B=${p.budget}` : ""}${p.plan === "equal-tiles" ? " equal tiles" : ""}`,
      sqnrDb: rs.reduce((a, r) => a + r.sqnrDb, 0) / rs.length,
      cycles, energyPj, energyPerTokenNj: energyPj / tokens / 1e3, parts,
      areaMm2: s.totalAreaUm2 / 1e6, fmaxMHz: s.timing.fmaxMHz, tokensPerSecond: tokens / seconds,
      topsPerW: ops / (energyPj * 1e-12) / 1e12, topsPerMm2: ops / seconds / 1e12 / (s.totalAreaUm2 / 1e6),
      actBits: rs.reduce((a, r) => a + r.actBits * r.point.layer.k, 0) / kTotal,
      sensitivity: sens,
    };
  });
}

/** Points no other point beats on both axes (higher `up`, lower `down`). */
export function pareto<T>(rows: T[], up: (r: T) => number, down: (r: T) => number): T[] {
  return rows.filter((a) => !rows.some((b) => b !== a && up(b) >= up(a) && down(b) <= down(a) && (up(b) > up(a) || down(b) < down(a))));
}

/**
 * The silicon of every design of a sweep, once each (the flow caches across runs), as many at
 * a time as there are cores: Yosys and OpenSTA each use one.
 */
export async function sweepSilicon(designs: ElaboratedDesign[], log: (s: string) => void, jobs = os.cpus().length): Promise<Map<string, SiliconReport>> {
  const out = new Map<string, SiliconReport>();
  const todo = [...new Map(designs.map((d) => [d.name, d])).values()];
  const worker = async () => {
    for (let d = todo.shift(); d; d = todo.shift()) out.set(d.name, await siliconReport(d, log));
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, todo.length)) }, worker));
  return out;
}
