/**
 * `oltron bench accuracy`: adaptive TOBE against OliVe's OVP and uniform baselines, on the
 * same layers, with the same int4 weights. For every layer type (synthetic LLaMA-like data from
 * data/synthetic.ts, or the user's tensors) and budget it reports the layer-output SQNR of every method,
 * the activation-only SQNR (float weights: what the activation format alone costs), the bits
 * actually spent, and whether the adaptive plan meets the targets (beats OVP and per-tensor
 * int4; within 1 dB of int8 at B <= 4.5). Nothing is tuned to meet them: a miss is a row
 * marked "no" and listed under the failures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  describePlan, layerBitCap, layerCandidates, pickCandidate, planFromCandidates, checkBudget,
  type AdaptiveOptions, type LayerCandidates, type PlanCandidate,
} from "../quant/adaptive.js";
import {
  activationOnlyError, int4PerTensor, int8PerTensor, ovp, prepareLayer, tobeBits, tobeFixed, tobeQuantize,
  type MethodResult, type PreparedLayer,
} from "../quant/baselines.js";
import { elaborate, resolveConfig, type ElaboratedDesign } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { generateLayer, LAYER_TYPES, type LayerType } from "../data/synthetic.js";
import type { Tensor } from "../core/tensor.js";
import { tileGeometry } from "../quant/tobe.js";

export const DEFAULT_BUDGETS: readonly number[] = [4.05, 4.1, 4.25, 4.5];
export const DEFAULT_SIZES = { m: 64, k: 1024, n: 256 } as const;

/**
 * The designs the benchmark runs on by default: the published Oltron shape (64x64, one
 * flexible line, so fp8 only) and the same array with two flexible lines, where the adaptive
 * search can also choose fp12.
 */
export function defaultBenchDesigns(): ElaboratedDesign[] {
  return [
    elaborate(resolveConfig({}, "oltron64")),
    elaborate(resolveConfig({ flexLines: 2, salientTypes: ["fp8", "fp12"] }, "oltron64")),
  ];
}

/** The int8 reference is only a target for budgets up to this. */
export const INT8_TARGET_MAX_BUDGET = 4.5;
export const INT8_TARGET_DB = 1;

export interface AccuracyBenchOptions {
  budgets?: readonly number[];
  m?: number;
  k?: number;
  n?: number;
  seed?: number;
  /** One design or several (default: defaultBenchDesigns()). */
  design?: ElaboratedDesign | ElaboratedDesign[];
  /** Synthetic layer types (default all four). */
  layerTypes?: readonly LayerType[];
  /** The user's activations [M x K] and weights [K x N] instead of synthetic layers. */
  x?: Tensor;
  w?: Tensor;
  /** Name of the user's layer in the tables (default "user"). */
  name?: string;
  /** Candidate-search options passed to the adaptive search. */
  adaptive?: AdaptiveOptions;
  /** Folder for accuracy.json and accuracy.md (written atomically); nothing is written without it. */
  out?: string;
  log?: (s: string) => void;
}

export interface MethodFigures {
  method: string;
  label: string;
  bits: number;
  storageBits: number;
  sqnrDb: number;
  actOnlySqnrDb: number;
  detail: Record<string, number | string | boolean>;
}

export interface AdaptiveRow {
  budget: number;
  /** The plan chosen with maxTileOverhead = 0 (no extra tiles) instead of unconstrained. */
  noExtraTiles: boolean;
  plan: PlanCandidate["plan"];
  planText: string;
  salientType: string;
  salientSlots: number;
  bits: number;
  storageBits: number;
  sqnrDb: number;
  actOnlySqnrDb: number;
  tiles: number;
  minTiles: number;
  estCycles: number;
  /** Bits per activation in the memory image (tile rows at a power-of-two stride). */
  imageBits: number;
  /** SQNR minus the baseline's (dB). */
  vsOvpDb: number;
  vsInt4Db: number;
  vsInt8Db: number;
  beatsOvp: boolean;
  beatsInt4: boolean;
  /** Within 1 dB of int8 (or better); null when the budget is above 4.5 (no target). */
  nearInt8: boolean | null;
  targetMet: boolean;
}

export interface LayerBench {
  layer: string;
  source: "synthetic" | "user";
  design: string;
  m: number;
  k: number;
  n: number;
  baselines: MethodFigures[];
  adaptive: AdaptiveRow[];
  candidates: number;
}

export interface ModelBench {
  design: string;
  budget: number;
  avgBits: number;
  avgStorageBits: number;
  estCycles: number;
  minCycles: number;
  layers: { name: string; plan: string; bits: number; sqnrDb: number; tiles: number; minTiles: number }[];
}

export interface AccuracyBenchResult {
  generatedAt: string;
  machine: { cpus: number; node: string };
  seconds: number;
  setup: { m: number; k: number; n: number; seed: number | null; budgets: number[]; source: "synthetic" | "user"; weights: string };
  designs: { name: string; rows: number; cols: number; flexLines: number; salientTypes: string[]; granularityBits: Record<string, number> }[];
  layers: LayerBench[];
  model: ModelBench[];
  summary: { rows: number; targetMet: number; failures: string[] };
}

function checkSize(what: string, v: number, hi: number): number {
  if (!Number.isInteger(v) || v < 1 || v > hi) throw new UserError(`invalid ${what} ${String(v)}: must be an integer in 1..${hi}`);
  return v;
}

/** Validates, sorts and deduplicates budgets. */
export function normalizeBudgets(budgets: readonly number[]): number[] {
  if (budgets.length === 0) throw new UserError("no budgets given: expected a list like 4.05,4.1,4.25,4.5");
  for (const b of budgets) checkBudget(b);
  return [...new Set(budgets)].sort((a, b) => a - b);
}

function figures(p: PreparedLayer, r: MethodResult): MethodFigures {
  return {
    method: r.method, label: r.label, bits: r.bits, storageBits: r.storageBits, sqnrDb: r.error.sqnrDb,
    actOnlySqnrDb: (r.actOnly ?? activationOnlyError(p, r.aInt, r.actScale)).sqnrDb, detail: r.detail,
  };
}

function designSupports(d: ElaboratedDesign, t: "fp8" | "fp12"): boolean {
  return (d.maxSalientPerTile[t] ?? 0) > 0;
}

/**
 * Bits of the smallest non-empty TOBE plan for K channels on a design: one salient slot per
 * tile (fp12 needs one more lane per tile, so on a full-height tile it also needs more tiles).
 */
function granularity(d: ElaboratedDesign, k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ["fp8", "fp12"] as const) if (designSupports(d, t)) out[t] = tobeBits(tileGeometry(d, k, 1, t), k).bits;
  return out;
}

function adaptiveRow(
  d: ElaboratedDesign, p: PreparedLayer, c: PlanCandidate, budget: number, noExtraTiles: boolean, base: Map<string, MethodFigures>,
): AdaptiveRow {
  const q = tobeQuantize(d, p, c.plan);
  const act = activationOnlyError(p, q.aInt, q.actScale).sqnrDb;
  const ovpDb = base.get("ovp")!.sqnrDb;
  const int4Db = Math.max(base.get("int4_mse")!.sqnrDb, base.get("int4_max")!.sqnrDb);
  const int8Db = base.get("int8")!.sqnrDb;
  const beatsOvp = c.sqnrDb > ovpDb;
  const beatsInt4 = c.sqnrDb > int4Db;
  const nearInt8 = budget <= INT8_TARGET_MAX_BUDGET ? c.sqnrDb >= int8Db - INT8_TARGET_DB : null;
  return {
    budget, noExtraTiles, plan: c.plan, planText: describePlan(c.plan, p.k), salientType: c.salientType, salientSlots: c.salientSlots,
    bits: c.bits, storageBits: c.storageBits, sqnrDb: c.sqnrDb, actOnlySqnrDb: act,
    tiles: c.tiles, minTiles: c.minTiles, estCycles: c.estCycles, imageBits: c.imageBits,
    vsOvpDb: c.sqnrDb - ovpDb, vsInt4Db: c.sqnrDb - int4Db, vsInt8Db: c.sqnrDb - int8Db,
    beatsOvp, beatsInt4, nearInt8, targetMet: beatsOvp && beatsInt4 && nearInt8 !== false,
  };
}

/** Runs the accuracy benchmark; writes accuracy.json and accuracy.md into `out` when given. */
export function runAccuracyBench(opts: AccuracyBenchOptions = {}): AccuracyBenchResult {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const budgets = normalizeBudgets(opts.budgets ?? DEFAULT_BUDGETS);
  const designs = opts.design === undefined ? defaultBenchDesigns() : Array.isArray(opts.design) ? opts.design : [opts.design];
  if (designs.length === 0) throw new UserError("no design to benchmark");
  const user = opts.x !== undefined || opts.w !== undefined;
  if (user && (!opts.x || !opts.w)) throw new UserError("give both the activations (x) and the weights (w) of the layer");
  if (user && opts.layerTypes) throw new UserError("give either synthetic layer types or your own x/w tensors, not both");
  const seed = opts.seed ?? 1;
  if (!user && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) throw new UserError(`invalid seed ${String(seed)}: must be an integer in 0..2^32-1`);

  // The layers: prepared once (float reference, int4 weights), shared by every method and design.
  const prepared: { p: PreparedLayer; source: "synthetic" | "user" }[] = [];
  if (user) {
    const name = opts.name ?? "user";
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new UserError(`layer name '${name}' must use only letters, digits, '_', '.', '-'`);
    prepared.push({ p: prepareLayer(opts.x!, opts.w!, name), source: "user" });
  } else {
    const m = checkSize("m (tokens)", opts.m ?? DEFAULT_SIZES.m, 1 << 16);
    const k = checkSize("k (input channels)", opts.k ?? DEFAULT_SIZES.k, 1 << 16);
    const n = checkSize("n (output channels)", opts.n ?? DEFAULT_SIZES.n, 1 << 16);
    const types = opts.layerTypes ?? LAYER_TYPES;
    if (types.length === 0) throw new UserError(`no layer types: expected some of ${LAYER_TYPES.join(", ")}`);
    for (const t of types) {
      if (!(LAYER_TYPES as readonly string[]).includes(t)) throw new UserError(`unknown layer type '${t}': expected one of ${LAYER_TYPES.join(", ")}`);
    }
    for (const type of types) {
      const g = generateLayer({ type, m, k, n, seed });
      prepared.push({ p: prepareLayer(g.x, g.w, type), source: "synthetic" });
    }
  }

  const baseFigures = new Map<string, MethodFigures[]>();
  for (const { p } of prepared) {
    log(`accuracy: ${p.name} ${p.m}x${p.k}x${p.n}: baselines (int4, OVP, int8)...`);
    baseFigures.set(p.name, [int4PerTensor(p, "max"), int4PerTensor(p, "mse"), ovp(p), int8PerTensor(p)].map((r) => figures(p, r)));
  }

  const maxBudget = budgets[budgets.length - 1];
  const totalK = prepared.reduce((a, x) => a + x.p.k, 0);
  const layers: LayerBench[] = [];
  const model: ModelBench[] = [];
  for (const d of designs) {
    const lc: LayerCandidates[] = [];
    for (const { p, source } of prepared) {
      log(`accuracy: ${d.name} ${p.name}: fixed TOBE and adaptive candidates...`);
      const baselines = [...baseFigures.get(p.name)!];
      for (const t of ["fp8", "fp12"] as const) if (designSupports(d, t)) baselines.push(figures(p, tobeFixed(d, p, t, 4)));
      const byMethod = new Map(baselines.map((b) => [b.method, b]));
      // One candidate list serves the per-layer choice and the model-wide allocation.
      const cands = layerCandidates(d, p, { ...opts.adaptive, maxBits: layerBitCap(maxBudget, p.k, totalK) });
      lc.push({ layer: p, candidates: cands });
      const adaptive: AdaptiveRow[] = [];
      for (const b of budgets) {
        adaptive.push(adaptiveRow(d, p, pickCandidate(cands, b, opts.adaptive), b, false, byMethod));
        adaptive.push(adaptiveRow(d, p, pickCandidate(cands, b, { ...opts.adaptive, maxTileOverhead: 0 }), b, true, byMethod));
      }
      layers.push({ layer: p.name, source, design: d.name, m: p.m, k: p.k, n: p.n, baselines, adaptive, candidates: cands.length });
    }
    if (prepared.length > 1) {
      for (const b of budgets) {
        const plan = planFromCandidates(d, lc, b, opts.adaptive);
        model.push({
          design: d.name, budget: b, avgBits: plan.avgBits, avgStorageBits: plan.avgStorageBits, estCycles: plan.estCycles,
          minCycles: plan.layers.reduce((a, l) => a + l.minCycles, 0),
          layers: plan.layers.map((l) => ({ name: l.name, plan: describePlan(l.plan, l.k), bits: l.bits, sqnrDb: l.sqnrDb, tiles: l.tiles, minTiles: l.minTiles })),
        });
      }
    }
  }

  const failures: string[] = [];
  let rows = 0;
  let met = 0;
  for (const l of layers) {
    for (const a of l.adaptive) {
      if (a.noExtraTiles) continue;
      rows++;
      if (a.targetMet) {
        met++;
        continue;
      }
      const why: string[] = [];
      if (!a.beatsOvp) why.push(`${a.vsOvpDb.toFixed(2)} dB vs OVP`);
      if (!a.beatsInt4) why.push(`${a.vsInt4Db.toFixed(2)} dB vs per-tensor int4`);
      if (a.nearInt8 === false) why.push(`${a.vsInt8Db.toFixed(2)} dB vs int8`);
      failures.push(`${l.design} ${l.layer} B=${a.budget}: ${a.planText} at ${a.bits.toFixed(4)} bits, ${why.join(", ")}`);
    }
  }
  const p0 = prepared[0].p;
  const result: AccuracyBenchResult = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    seconds: (performance.now() - t0) / 1000,
    setup: {
      m: p0.m, k: p0.k, n: p0.n, seed: user ? null : seed, budgets, source: user ? "user" : "synthetic",
      weights: "int4 per-output-channel symmetric (max/7), identical for every method",
    },
    designs: designs.map((d) => ({
      name: d.name, rows: d.rows, cols: d.cols, flexLines: d.flexLines, salientTypes: [...d.config.salientTypes], granularityBits: granularity(d, p0.k),
    })),
    layers,
    model,
    summary: { rows, targetMet: met, failures },
  };
  if (opts.out) {
    fs.mkdirSync(opts.out, { recursive: true });
    writeFileAtomic(path.join(opts.out, "accuracy.json"), JSON.stringify(result, null, 1) + "\n");
    writeFileAtomic(path.join(opts.out, "accuracy.md"), accuracyMarkdown(result));
  }
  return result;
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : String(v));
const sign = (v: number) => (v >= 0 ? "+" : "") + v.toFixed(2);

/** The results as markdown (the tables docs/quantization.md quotes). */
export function accuracyMarkdown(r: AccuracyBenchResult): string {
  const s = r.setup;
  const out: string[] = [
    "# Accuracy: adaptive TOBE vs OliVe OVP and uniform baselines",
    "",
    s.source === "synthetic"
      ? `Synthetic LLaMA-like layers (src/data/synthetic.ts), M=${s.m} tokens, K=${s.k}, N=${s.n}, seed ${s.seed}. `
      : `User layer, M=${s.m}, K=${s.k}, N=${s.n}. `,
    `Weights: ${s.weights}. SQNR = 10 log10(|XW|^2 / |XW - Y_deq|^2) of the layer output in dB. ` +
      `Bits = average information bits per activation (fp8 8, fp12 12; storage bits in brackets count fp12 as 16). ` +
      `OVP and per-tensor int4 spend 4 bits, int8 8. Target: adaptive beats OVP and the better per-tensor int4, ` +
      `and is within ${INT8_TARGET_DB} dB of int8 for B <= ${INT8_TARGET_MAX_BUDGET}.`,
    "",
  ];
  for (const d of r.designs) {
    const gran = Object.entries(d.granularityBits).map(([t, b]) => `${t} ${b.toFixed(4)}`).join(", ");
    out.push(
      `## ${d.name}: ${d.rows}x${d.cols}, ${d.flexLines} flexible line(s), salient ${d.salientTypes.join("/") || "none"}`,
      "",
      `Smallest plan with any salient channel (one salient slot per tile, K=${s.k}): ${gran} bits.`,
      "",
      "### Layer output SQNR (dB), int4 weights",
      "",
      "| layer | B | adaptive plan | bits (storage) | tiles (min) | **adaptive** | OVP | int4 MSE | int4 max | TOBE fp8 >4x | TOBE fp12 >4x | int8 | vs OVP | vs int8 | target |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    );
    const ls = r.layers.filter((l) => l.design === d.name);
    for (const l of ls) {
      const b = new Map(l.baselines.map((x) => [x.method, x]));
      const tobe = (m: string) => {
        const x = b.get(m);
        return x ? `${f2(x.sqnrDb)} @${x.bits.toFixed(3)}` : "n/a";
      };
      for (const a of l.adaptive.filter((x) => !x.noExtraTiles)) {
        out.push(
          `| ${l.layer} | ${a.budget} | ${a.planText} | ${a.bits.toFixed(4)} (${a.storageBits.toFixed(4)}) | ${a.tiles} (${a.minTiles}) | ` +
            `**${f2(a.sqnrDb)}** | ${f2(b.get("ovp")!.sqnrDb)} | ${f2(b.get("int4_mse")!.sqnrDb)} | ${f2(b.get("int4_max")!.sqnrDb)} | ` +
            `${tobe("tobe_fp8_t4")} | ${tobe("tobe_fp12_t4")} | ${f2(b.get("int8")!.sqnrDb)} | ${sign(a.vsOvpDb)} | ${sign(a.vsInt8Db)} | ${a.targetMet ? "yes" : "**no**"} |`,
        );
      }
    }
    out.push(
      "",
      "### Activation-only SQNR (dB): fake-quantized activations x float weights",
      "",
      "| layer | B | **adaptive** | OVP | int4 MSE | int4 max | TOBE fp8 >4x | TOBE fp12 >4x | int8 |",
      "|---|---|---|---|---|---|---|---|---|",
    );
    for (const l of ls) {
      const b = new Map(l.baselines.map((x) => [x.method, x]));
      const act = (m: string) => (b.has(m) ? f2(b.get(m)!.actOnlySqnrDb) : "n/a");
      for (const a of l.adaptive.filter((x) => !x.noExtraTiles)) {
        out.push(
          `| ${l.layer} | ${a.budget} | **${f2(a.actOnlySqnrDb)}** | ${act("ovp")} | ${act("int4_mse")} | ${act("int4_max")} | ` +
            `${act("tobe_fp8_t4")} | ${act("tobe_fp12_t4")} | ${act("int8")} |`,
        );
      }
    }
    out.push(
      "",
      "### Accuracy vs speed: unconstrained plan vs no extra tiles (maxTileOverhead 0)",
      "",
      "| layer | B | plan | bits | SQNR | est. cycles | image bits | plan, no extra tiles | bits | SQNR | est. cycles | image bits |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const l of ls) {
      for (const bud of r.setup.budgets) {
        const a = l.adaptive.find((x) => x.budget === bud && !x.noExtraTiles)!;
        const c = l.adaptive.find((x) => x.budget === bud && x.noExtraTiles)!;
        out.push(
          `| ${l.layer} | ${bud} | ${a.planText} | ${a.bits.toFixed(4)} | ${f2(a.sqnrDb)} | ${a.estCycles} | ${f2(a.imageBits)} | ` +
            `${c.planText} | ${c.bits.toFixed(4)} | ${f2(c.sqnrDb)} | ${c.estCycles} | ${f2(c.imageBits)} |`,
        );
      }
    }
    const ms = r.model.filter((m) => m.design === d.name);
    if (ms.length) {
      const names = ms[0].layers.map((l) => l.name);
      out.push(
        "",
        "### Model-wide allocation (K-weighted average <= B, least summed noise-to-signal ratio)",
        "",
        `| B | avg bits (storage) | est. cycles (no salient) | ${names.map((n) => `${n}: plan, bits, SQNR`).join(" | ")} |`,
        `|---|---|---|${names.map(() => "---").join("|")}|`,
      );
      for (const m of ms) {
        out.push(
          `| ${m.budget} | ${m.avgBits.toFixed(4)} (${m.avgStorageBits.toFixed(4)}) | ${m.estCycles} (${m.minCycles}) | ` +
            `${m.layers.map((l) => `${l.plan}, ${l.bits.toFixed(3)}, ${f2(l.sqnrDb)}`).join(" | ")} |`,
        );
      }
    }
    out.push("");
  }
  out.push(
    "## Summary",
    "",
    `Target met in ${r.summary.targetMet} of ${r.summary.rows} (design, layer, budget) rows.`,
  );
  if (r.summary.failures.length) {
    out.push("", "Not met:", "", ...r.summary.failures.map((f) => `- ${f}`));
  }
  out.push("", `Run: ${r.generatedAt}, ${r.seconds.toFixed(1)} s on ${r.machine.cpus} CPUs, Node ${r.machine.node}.`, "");
  return out.join("\n");
}
