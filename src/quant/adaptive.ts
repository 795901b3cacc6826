/**
 * Adaptive per-layer quantization (SPEC section 1): per layer, choose how many input channels
 * are salient and whether they are fp8 or fp12, minimising the layer's output error under an
 * average activation bit budget; and, for a whole model, distribute the bits over the layers.
 *
 * Bit accounting (docs/quantization.md): a layer with K channels whose TOBE geometry has
 * `tiles` tiles of S salient slots puts slots = min(tiles * S, K) real channels in a float
 * format (the P chosen ones plus the promoted ones that fill the spare slots), the rest in
 * int4. Its average is (slots * b + (K - slots) * 4) / K with b the salient type's
 * *information* bits (fp8 8, fp12 12): that is what the budget constrains. The *storage* bits
 * (fp12 occupies 16 bits in the images) are reported next to it.
 *
 * Every candidate is evaluated exactly: the activations are those quantizeLayer() emits for the
 * plan (baselines.tobeQuantize), the output is the exact integer sum with the int4 weights,
 * dequantized as Y * actScale * weightScales[n] and compared with the float X x W in the same
 * operation order as golden.quantError, so the SQNR of a chosen plan is what `oltron golden`
 * reports for its images.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { SALIENT_TYPES, type SalientType } from "../core/formats.js";
import { ACT_SCALINGS, calibrate, type ActScaling, type LayerPlan } from "./quantizer.js";
import type { ActScale, Tensor } from "../core/tensor.js";
import { tileGeometry, type TileGeometry } from "./tobe.js";
import { type SalientKind } from "../core/formats.js";
import {
  estimateCycles, INFO_BITS, onTokens, outputError, prepareLayer, salientSlots, tobeBits, tobeQuantize,
  type OutputError, type PreparedLayer,
} from "./baselines.js";

/** Budgets are average information bits per activation: above int4, at most all-fp12 storage. */
export const MIN_BUDGET_EXCLUSIVE = 4;
export const MAX_BUDGET = 16;

/** Candidate salient fractions (each is rounded up to fill its TOBE slots). */
export const DEFAULT_RATIO_GRID: readonly number[] = [
  0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.0625, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1,
];
/** Candidate thresholds: the channels whose max |x| exceeds t x the median channel max. */
export const DEFAULT_THRESHOLDS: readonly number[] = [2, 3, 4, 6, 8, 16];

const BITS_EPS = 1e-12;

export interface AdaptiveOptions {
  /** Salient types to consider (default: every type the design supports). */
  types?: SalientType[];
  /** Candidate salient fractions (default DEFAULT_RATIO_GRID). */
  ratios?: readonly number[];
  /** Candidate median-multiple thresholds (default DEFAULT_THRESHOLDS). */
  thresholds?: readonly number[];
  /** Extra candidate salient counts. */
  counts?: readonly number[];
  /**
   * Speed constraint: a plan may use at most minTiles * (1 + maxTileOverhead) tiles
   * (0: never more tiles than without salient channels). Default: unconstrained.
   */
  maxTileOverhead?: number;
  /**
   * Memory constraint: a plan may store at most this many bits per activation in the memory
   * image (PlanCandidate.imageBits: tile rows at the design's stride, flexible lanes included).
   * Default: unconstrained.
   */
  maxImageBits?: number;
  /** Activation scalings to consider (default ["tensor"]; ["tensor", "token"] lets the search choose per-token scales). */
  scalings?: readonly ActScaling[];
  /**
   * Generalisation rule: every candidate is also scored on the two halves of the tokens it is
   * chosen on, and the chosen plan gives way to the simplest one (fewest bits, then tiles) whose
   * gain against it is inside the noise: the mean of the two halves' SQNR differences at most
   * their standard deviation. A plan whose extra bits do not pay on both halves is not chosen.
   */
  preferSimpler?: boolean;
}

/** One evaluated plan for a layer. */
export interface PlanCandidate {
  plan: LayerPlan;
  salientType: SalientKind;
  /** P: salient channels chosen (the plan's count). */
  salientChannels: number;
  /** Channels in salient slots after balancing: min(tiles * S, K). Equal to P for our candidates. */
  salientSlots: number;
  bits: number;
  storageBits: number;
  tiles: number;
  minTiles: number;
  tileChannels: number;
  s: number;
  /** Steady-state cycle estimate (baselines.estimateCycles). */
  estCycles: number;
  /**
   * Bits per activation the memory image occupies: tiles x the activation row stride / K. Each
   * tile row is stored at a power-of-two stride whatever its content, so this grows with tiles.
   */
  imageBits: number;
  actScale: ActScale;
  mse: number;
  sqnrDb: number;
  nsr: number;
  /** An exact sum would leave int32: the quantizer refuses this plan, the search skips it. */
  overflow: boolean;
  /** SQNR on the first and the second half of the tokens (with AdaptiveOptions.preferSimpler). */
  halfSqnrDb?: [number, number];
}

/** A layer's chosen plan. */
export interface AdaptiveLayer {
  name: string;
  m: number;
  k: number;
  n: number;
  plan: LayerPlan;
  salientType: SalientKind;
  salientChannels: number;
  salientSlots: number;
  bits: number;
  storageBits: number;
  sqnrDb: number;
  mse: number;
  nsr: number;
  tiles: number;
  minTiles: number;
  s: number;
  estCycles: number;
  /** Cycle estimate of the same layer without salient channels (minTiles tiles). */
  minCycles: number;
  /** Image bits per activation (see PlanCandidate.imageBits). */
  imageBits: number;
  actScale: ActScale;
  /** How many candidates were evaluated. */
  candidates: number;
}

export interface AdaptivePlan {
  design: string;
  budget: number;
  /** K-weighted average information bits over the layers (<= budget). */
  avgBits: number;
  avgStorageBits: number;
  estCycles: number;
  layers: AdaptiveLayer[];
}

export function checkBudget(budget: number, what = "budget"): void {
  if (typeof budget !== "number" || !Number.isFinite(budget) || !(budget > MIN_BUDGET_EXCLUSIVE && budget <= MAX_BUDGET)) {
    throw new UserError(
      `invalid ${what} ${String(budget)}: must be a number in (${MIN_BUDGET_EXCLUSIVE}, ${MAX_BUDGET}] ` +
        `(average activation bits; 4 is plain int4, salient channels cost more)`,
    );
  }
}

function checkOptions(d: ElaboratedDesign, opts: AdaptiveOptions): SalientType[] {
  const supported = SALIENT_TYPES.filter((t) => (d.maxSalientPerTile[t] ?? 0) > 0);
  if (opts.maxTileOverhead !== undefined && !(Number.isFinite(opts.maxTileOverhead) && opts.maxTileOverhead >= 0)) {
    throw new UserError(`invalid maxTileOverhead ${String(opts.maxTileOverhead)}: must be a number >= 0 (0 allows no extra tiles)`);
  }
  for (const r of opts.ratios ?? []) {
    if (!(r >= 0 && r <= 1)) throw new UserError(`invalid candidate ratio ${r}: must be in 0..1`);
  }
  for (const t of opts.thresholds ?? []) {
    if (!(t > 0 && Number.isFinite(t))) throw new UserError(`invalid candidate threshold ${t}: must be a positive number`);
  }
  if (!opts.types) return supported;
  for (const t of opts.types) {
    if (!(SALIENT_TYPES as readonly string[]).includes(t)) throw new UserError(`unknown salient type '${t}': expected fp8 or fp12`);
    if (!supported.includes(t)) {
      throw new UserError(`salient type ${t} is not available on design ${d.name} (it supports: ${supported.join(", ") || "none"})`);
    }
  }
  return [...opts.types];
}

function median(values: Float64Array): number {
  const s = Float64Array.from(values).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

interface CandidateSpec {
  salientType: SalientKind;
  slots: number;
  g: TileGeometry;
  bits: number;
  storageBits: number;
}

/**
 * The plans worth evaluating, before any evaluation: no salient channel; and for each type,
 * every candidate count (ratio grid, median-threshold counts, 1, user counts) rounded up to
 * fill its geometry's tiles * S slots. Filling costs no bits (the slots are paid for either
 * way) and keeps the promoted channels out of the int4 scale calibration.
 */
function candidateSpecs(d: ElaboratedDesign, p: PreparedLayer, types: SalientType[], opts: AdaptiveOptions, maxBits: number): CandidateSpec[] {
  const k = p.k;
  const cal = calibrate(p.calib, { salientType: "none" }, p.name);
  const med = median(cal.channelMax);
  const counts = new Set<number>([1]);
  for (const r of opts.ratios ?? DEFAULT_RATIO_GRID) counts.add(Math.max(1, Math.round(r * k)));
  for (const t of opts.thresholds ?? DEFAULT_THRESHOLDS) {
    let c = 0;
    for (const v of cal.channelMax) if (v > t * med) c++;
    if (c > 0) counts.add(c);
  }
  for (const c of opts.counts ?? []) {
    if (!Number.isInteger(c) || c < 0 || c > k) throw new UserError(`invalid candidate salient count ${c}: must be an integer in 0..${k}`);
    if (c > 0) counts.add(c);
  }
  const none = tileGeometry(d, k, 0, "none");
  const specs: CandidateSpec[] = [{ salientType: "none", slots: 0, g: none, bits: 4, storageBits: 4 }];
  const maxTiles = opts.maxTileOverhead === undefined ? Infinity : none.minTiles * (1 + opts.maxTileOverhead) + 1e-9;
  for (const t of types) {
    const seen = new Set<number>();
    for (const c of [...counts].sort((a, b) => a - b)) {
      const g0 = tileGeometry(d, k, Math.min(c, k), t);
      const filled = salientSlots(g0, k);
      if (seen.has(filled)) continue;
      seen.add(filled);
      const g = tileGeometry(d, k, filled, t);
      const { bits, storageBits } = tobeBits(g, k);
      if (bits > maxBits + BITS_EPS || g.tiles > maxTiles) continue;
      specs.push({ salientType: t, slots: filled, g, bits, storageBits });
    }
  }
  return specs;
}

/** The plan that selects exactly the `count` largest channels in `type`. */
export function planForCount(type: SalientKind, count: number, k: number): LayerPlan {
  if (count === 0 || type === "none") return { salientType: "none" };
  const ratio = count / k;
  if (Math.round(ratio * k) !== count) throw new Error(`internal: ratio ${ratio} does not round back to ${count} of ${k}`);
  return { salientType: type, ratio };
}

/** Evaluates one plan exactly (the quantizer's activations, the hardware's integer sum). */
export function evaluatePlan(d: ElaboratedDesign, p: PreparedLayer, plan: LayerPlan): PlanCandidate {
  const q = tobeQuantize(d, p, plan);
  const e: OutputError = outputError(p, q.aInt, q.actScale);
  const g = q.geometry;
  const { bits, storageBits, slots } = tobeBits(g, p.k);
  return {
    plan, salientType: g.salientType, salientChannels: q.trueSalient, salientSlots: slots, bits, storageBits,
    tiles: g.tiles, minTiles: g.minTiles, tileChannels: g.tileChannels, s: g.s,
    estCycles: estimateCycles(d, g, p.m, p.n), imageBits: (g.tiles * d.act.strideBits) / p.k, actScale: q.actScale,
    mse: e.mse, sqnrDb: e.sqnrDb, nsr: e.nsr, overflow: e.overflow,
  };
}

/**
 * Every candidate plan of a layer with at most `maxBits` average information bits (default:
 * no limit), evaluated exactly; sorted by bits, then by error. The list is the layer's
 * accuracy / bits / cycles trade-off.
 */
export function layerCandidates(
  d: ElaboratedDesign, p: PreparedLayer, opts: AdaptiveOptions & { maxBits?: number } = {},
): PlanCandidate[] {
  const types = checkOptions(d, opts);
  const specs = candidateSpecs(d, p, types, opts, opts.maxBits ?? Infinity);
  const scalings = opts.scalings ?? ["tensor"];
  for (const s of scalings) if (!ACT_SCALINGS.includes(s)) throw new UserError(`invalid activation scaling '${String(s)}': expected ${ACT_SCALINGS.join(" or ")}`);
  // The halves share the layer's calibration and weights: only the scored tokens differ.
  const halves = opts.preferSimpler && p.m >= 8 ? ([[0, p.m >> 1], [p.m >> 1, p.m]] as const).map(([r0, r1]) => tokenRows(p, r0, r1)) : undefined;
  const out = specs.flatMap((s) => scalings.map((scaling) => {
    const plan0 = planForCount(s.salientType, s.slots, p.k);
    const plan = scaling === "token" ? { ...plan0, scaling } : plan0;
    const c = evaluatePlan(d, p, plan);
    return halves ? { ...c, halfSqnrDb: [evaluatePlan(d, halves[0], plan).sqnrDb, evaluatePlan(d, halves[1], plan).sqnrDb] as [number, number] } : c;
  }));
  return out.sort((a, b) => a.bits - b.bits || a.mse - b.mse || a.estCycles - b.estCycles);
}

/** Rows r0..r1 of the layer's scored tokens, with its calibration and its weights. */
function tokenRows(p: PreparedLayer, r0: number, r1: number): PreparedLayer {
  return onTokens(p, { shape: [r1 - r0, p.k], data: p.x.data.slice(r0 * p.k, r1 * p.k) });
}

/**
 * The simplest feasible candidate (fewest bits, then fewest tiles, then least error) that does
 * not spend more than `chosen` and whose loss against it is inside the noise of the two token
 * halves (mean difference <= its standard deviation); `chosen` itself when none is.
 */
export function simplerWithinNoise(cands: readonly PlanCandidate[], chosen: PlanCandidate, opts: AdaptiveOptions = {}): PlanCandidate {
  if (!chosen.halfSqnrDb) return chosen;
  const [a0, a1] = chosen.halfSqnrDb;
  const simpler = cands
    .filter((c) => c.halfSqnrDb && feasible(c, opts) && c.bits <= chosen.bits + BITS_EPS && c.tiles <= chosen.tiles && c !== chosen)
    .filter((c) => {
      const d0 = a0 - c.halfSqnrDb![0];
      const d1 = a1 - c.halfSqnrDb![1];
      // Sample standard deviation of two values: |d0 - d1| / sqrt(2).
      return (d0 + d1) / 2 <= Math.abs(d0 - d1) / Math.SQRT2 + 1e-12;
    })
    .sort((x, y) => x.bits - y.bits || x.tiles - y.tiles || x.mse - y.mse);
  return simpler[0] !== undefined && (simpler[0].bits < chosen.bits - BITS_EPS || simpler[0].tiles < chosen.tiles) ? simpler[0] : chosen;
}

function better(a: PlanCandidate, b: PlanCandidate): boolean {
  if (a.mse !== b.mse) return a.mse < b.mse;
  if (a.estCycles !== b.estCycles) return a.estCycles < b.estCycles;
  return a.bits < b.bits;
}

function feasible(c: PlanCandidate, opts: AdaptiveOptions): boolean {
  if (c.overflow) return false;
  if (opts.maxTileOverhead !== undefined && c.tiles > c.minTiles * (1 + opts.maxTileOverhead) + 1e-9) return false;
  if (opts.maxImageBits !== undefined && c.imageBits > opts.maxImageBits + 1e-9) return false;
  return true;
}

/** Why no candidate fits: the image-bit limit below what the design can store, or the budget. */
function noPlan(cands: readonly PlanCandidate[], budget: number, opts: AdaptiveOptions, layer?: string): UserError {
  const at = layer ? `layer ${layer}: ` : "";
  const least = Math.min(...cands.filter((c) => !c.overflow).map((c) => c.imageBits));
  if (opts.maxImageBits !== undefined && least > opts.maxImageBits + 1e-9) {
    return new UserError(`${at}no plan stores at most ${opts.maxImageBits} image bits per activation on this design: the fewest is ${least.toFixed(3)} (every tile row carries the flexible lanes, and there are ${cands[0]?.minTiles} tiles at least)`);
  }
  return new UserError(`${at}no candidate plan fits the budget of ${budget} bits${opts.maxTileOverhead !== undefined ? ` with at most ${opts.maxTileOverhead} extra tiles per tile` : ""}${opts.maxImageBits !== undefined ? ` and ${opts.maxImageBits} image bits` : ""}`);
}

/** The least-error feasible candidate within the budget (ties: fewer cycles, then fewer bits). */
export function pickCandidate(cands: readonly PlanCandidate[], budget: number, opts: AdaptiveOptions = {}): PlanCandidate {
  checkBudget(budget);
  let best: PlanCandidate | undefined;
  for (const c of cands) {
    if (c.bits > budget + BITS_EPS || !feasible(c, opts)) continue;
    if (!best || better(c, best)) best = c;
  }
  if (!best) throw noPlan(cands, budget, opts);
  return opts.preferSimpler ? simplerWithinNoise(cands, best, opts) : best;
}

function toLayer(d: ElaboratedDesign, p: PreparedLayer, c: PlanCandidate, count: number): AdaptiveLayer {
  const none = tileGeometry(d, p.k, 0, "none");
  return {
    name: p.name, m: p.m, k: p.k, n: p.n, plan: c.plan, salientType: c.salientType,
    salientChannels: c.salientChannels, salientSlots: c.salientSlots, bits: c.bits, storageBits: c.storageBits,
    sqnrDb: c.sqnrDb, mse: c.mse, nsr: c.nsr, tiles: c.tiles, minTiles: c.minTiles, s: c.s,
    estCycles: c.estCycles, minCycles: estimateCycles(d, none, p.m, p.n), imageBits: c.imageBits, actScale: c.actScale, candidates: count,
  };
}

/** The best plan for one layer (activations x [M x K], weights w [K x N]) under an average budget. */
export function chooseLayerPlan(
  d: ElaboratedDesign, x: Tensor, w: Tensor, budget: number, opts: AdaptiveOptions & { name?: string } = {},
): AdaptiveLayer {
  checkBudget(budget);
  const p = prepareLayer(x, w, opts.name ?? "layer");
  const cands = layerCandidates(d, p, { ...opts, maxBits: budget });
  return toLayer(d, p, pickCandidate(cands, budget, opts), cands.length);
}

/** Per-layer candidate lists, ready for allocation at several budgets. */
export interface LayerCandidates {
  layer: PreparedLayer;
  candidates: PlanCandidate[];
}

/**
 * The most bits a layer can take when all the others stay at int4 and the K-weighted average
 * still meets `budget`: the candidate cap of a model-wide search.
 */
export function layerBitCap(budget: number, k: number, totalK: number): number {
  return Math.min(MAX_BUDGET, 4 + ((budget - 4) * totalK) / k);
}

const DP_WORK_LIMIT = 2e7;

/**
 * Model-wide allocation: choose one candidate per layer minimising the sum of the layers'
 * noise-to-signal ratios (mse / refPower, scale-free, so no layer dominates by its units)
 * subject to the K-weighted average information bits <= budget. Exact: the extra bits of a
 * candidate are an integer number of 4-bit units (fp8 slot 1, fp12 slot 2), so this is a
 * multiple-choice knapsack solved by dynamic programming over units. Only for very large
 * models (layers x units x candidates > 2e7) are units grouped, rounding every cost up, which
 * keeps the budget met and may leave a few units unused.
 */
export function allocateBudget(layers: readonly LayerCandidates[], budget: number, opts: AdaptiveOptions = {}): PlanCandidate[] {
  checkBudget(budget);
  if (layers.length === 0) throw new UserError("no layers to plan");
  const totalK = layers.reduce((a, l) => a + l.layer.k, 0);
  const unitsOf = (c: PlanCandidate) => (c.salientType === "none" ? 0 : (c.salientSlots * (INFO_BITS[c.salientType] - 4)) / 4);
  const U = Math.floor(((budget - 4) * totalK) / 4 + 1e-9);
  const lists = layers.map((l) => l.candidates.filter((c) => feasible(c, opts) && unitsOf(c) <= U));
  lists.forEach((list, i) => {
    if (list.length === 0) throw noPlan(layers[i].candidates, budget, opts, layers[i].layer.name);
  });
  const C = Math.max(...lists.map((l) => l.length));
  const group = Math.max(1, Math.ceil((layers.length * (U + 1) * C) / DP_WORK_LIMIT));
  const cap = Math.floor(U / group);
  const cost = lists.map((list) => list.map((c) => Math.ceil(unitsOf(c) / group)));
  // best[j]: least summed NSR of the layers so far using at most j (grouped) units.
  let best = new Float64Array(cap + 1);
  const choice: Int32Array[] = [];
  for (let l = 0; l < lists.length; l++) {
    const next = new Float64Array(cap + 1).fill(Infinity);
    const pick = new Int32Array(cap + 1).fill(-1);
    for (let j = 0; j <= cap; j++) {
      for (let ci = 0; ci < lists[l].length; ci++) {
        const u = cost[l][ci];
        if (u > j) continue;
        const v = best[j - u] + lists[l][ci].nsr;
        const cur = pick[j] < 0 ? undefined : lists[l][pick[j]];
        if (v < next[j] || (v === next[j] && cur && better(lists[l][ci], cur))) {
          next[j] = v;
          pick[j] = ci;
        }
      }
    }
    choice.push(pick);
    best = next;
  }
  const out: PlanCandidate[] = new Array(lists.length);
  let j = cap;
  for (let l = lists.length - 1; l >= 0; l--) {
    const ci = choice[l][j];
    out[l] = lists[l][ci];
    j -= cost[l][ci];
  }
  // A simpler plan never spends more units, so the budget stays met.
  return opts.preferSimpler ? out.map((c, l) => simplerWithinNoise(lists[l], c, opts)) : out;
}

function planOf(d: ElaboratedDesign, layers: readonly LayerCandidates[], chosen: PlanCandidate[], budget: number): AdaptivePlan {
  const totalK = layers.reduce((a, l) => a + l.layer.k, 0);
  const out = layers.map((l, i) => toLayer(d, l.layer, chosen[i], l.candidates.length));
  return {
    design: d.name,
    budget,
    avgBits: out.reduce((a, l) => a + l.bits * l.k, 0) / totalK,
    avgStorageBits: out.reduce((a, l) => a + l.storageBits * l.k, 0) / totalK,
    estCycles: out.reduce((a, l) => a + l.estCycles, 0),
    layers: out,
  };
}

/** Evaluates every layer's candidates up to the largest bits any of `budgets` could give it. */
export function modelCandidates(
  d: ElaboratedDesign, layers: readonly { name: string; x: Tensor; w: Tensor }[], maxBudget: number, opts: AdaptiveOptions = {},
): LayerCandidates[] {
  checkBudget(maxBudget);
  if (layers.length === 0) throw new UserError("no layers to plan");
  const names = new Set<string>();
  for (const l of layers) {
    if (names.has(l.name)) throw new UserError(`duplicate layer name '${l.name}'`);
    names.add(l.name);
  }
  const prepared = layers.map((l) => prepareLayer(l.x, l.w, l.name));
  const totalK = prepared.reduce((a, p) => a + p.k, 0);
  return prepared.map((p) => ({ layer: p, candidates: layerCandidates(d, p, { ...opts, maxBits: layerBitCap(maxBudget, p.k, totalK) }) }));
}

/** Model-wide plan from precomputed candidates (see modelCandidates), for one budget. */
export function planFromCandidates(d: ElaboratedDesign, layers: readonly LayerCandidates[], budget: number, opts: AdaptiveOptions = {}): AdaptivePlan {
  return planOf(d, layers, allocateBudget(layers, budget, opts), budget);
}

/**
 * The adaptive plan of a model: per layer, the salient count and type, so that the K-weighted
 * average activation bits meet `budget` and the summed relative output error is least.
 * Outlier-rich layers get more bits because that is where bits buy the most error.
 */
export function chooseModelPlan(
  d: ElaboratedDesign, layers: readonly { name: string; x: Tensor; w: Tensor }[], budget: number, opts: AdaptiveOptions = {},
): AdaptivePlan {
  checkBudget(budget);
  return planFromCandidates(d, modelCandidates(d, layers, budget, opts), budget, opts);
}

export function describePlan(plan: LayerPlan, k: number): string {
  const scale = plan.scaling === "token" ? ", per-token" : "";
  if (plan.salientType === "none") return `int4 only${scale}`;
  if (plan.ratio !== undefined) return `${plan.salientType} x ${Math.round(plan.ratio * k)}${scale}`;
  if (plan.threshold !== undefined) return `${plan.salientType} >${plan.threshold}x median${scale}`;
  return `${plan.salientType} x ${plan.channels?.length ?? 0} listed${scale}`;
}

/** The plan as a markdown table. */
export function formatPlanTable(plan: AdaptivePlan): string {
  const lines = [
    `Adaptive plan on ${plan.design}, budget ${plan.budget} bits: average ${plan.avgBits.toFixed(4)} information bits ` +
      `(${plan.avgStorageBits.toFixed(4)} storage bits), est. ${plan.estCycles} cycles`,
    "",
    "| layer | M x K x N | plan | salient slots | bits | storage bits | image bits | SQNR (dB) | tiles (min) | est. cycles (no salient) |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const l of plan.layers) {
    lines.push(
      `| ${l.name} | ${l.m} x ${l.k} x ${l.n} | ${describePlan(l.plan, l.k)} | ${l.salientSlots} (${((100 * l.salientSlots) / l.k).toFixed(2)}%) | ` +
        `${l.bits.toFixed(4)} | ${l.storageBits.toFixed(4)} | ${l.imageBits.toFixed(2)} | ${l.sqnrDb.toFixed(2)} | ${l.tiles} (${l.minTiles}) | ${l.estCycles} (${l.minCycles}) |`,
    );
  }
  return lines.join("\n");
}
