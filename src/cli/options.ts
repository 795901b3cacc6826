/**
 * Options shared by several commands: the design flags (--preset, --config, one flag per
 * parameter) and the layer sources (--layer, --block, --x/--w, --budget), turned into an
 * elaborated design and quantizer inputs.
 */
import { ARCH_NAMES, ARCHS, DECODER_KINDS, parseGridFlag, PE_KINDS } from "../hw/parts.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import YAML from "yaml";
import { UserError } from "../core/errors.js";
import type { SalientKind } from "../core/formats.js";
import type { Tensor } from "../core/tensor.js";
import { generateActivations, type ActivationModel, type WeightModel } from "../data/synthetic.js";
import { readLayerList } from "../data/layerlist.js";
import { readTensorFile } from "../data/tensorio.js";
import { blockLayers } from "../flows/block.js";
import { parseLayerSpec, synthLayers } from "../flows/quantize.js";
import { DEFAULT_CONFIG, elaborate, PARAMS, PRESETS, resolveConfig, type ArchConfig, type DesignInput, type ElaboratedDesign } from "../hw/design.js";
import { chooseModelPlan, formatPlanTable } from "../quant/adaptive.js";
import { IDEAL_MEMORY, type MemoryModel } from "../sim/driver.js";
import { traceFormatOf, type Simulator } from "../sim/build.js";
import { DEFAULT_PLAN, type ActScaling, type LayerInput, type LayerPlan } from "../quant/quantizer.js";
import type { WeightQuant } from "../quant/gptq.js";
import { rotateLayer } from "../quant/rotation.js";
import { layerName } from "../image/manifest.js";
import { loadModel } from "./plan.js";

import { log } from "../core/console.js";
export { detail, log, setVerbosity } from "../core/console.js";

export function intArg(name: string, lo: number, hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be an integer in ${lo}..${hi}, got '${v}'`);
    return n;
  };
}

export function numArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

// ------------------------------------------------------------------ design options

const DESIGN_FLAG_KEYS: Record<string, keyof ArchConfig> = {
  arch: "arch", rows: "rows", cols: "cols", flexLines: "flexLines", psumBits: "psumBits", memWordBits: "memWordBits", bufferTokens: "bufferTokens",
  axiIdBits: "axiIdBits", axiMaxBurst: "axiMaxBurst", axiMaxReads: "axiMaxReads", loadSlots: "loadSlots", statsDepth: "statsDepth",
};

export function addDesignOptions(cmd: Command): Command {
  cmd.option("--preset <name>", `named configuration: ${Object.keys(PRESETS).join(", ")}`, "default");
  cmd.option("--config <file>", "design configuration file (JSON or YAML) with the keys below");
  for (const p of PARAMS) {
    if (p.key === "arch") {
      cmd.addOption(new Option(`${p.flag} <name>`, `${p.doc} (default ${DEFAULT_CONFIG.arch})`).choices(ARCH_NAMES));
      continue;
    }
    if (p.key === "salientTypes") {
      cmd.option(`${p.flag} <list>`, `${p.doc}: comma list of fp8,fp12 or 'none' (default ${DEFAULT_CONFIG.salientTypes.join(",")})`);
      continue;
    }
    cmd.addOption(new Option(`${p.flag} <n>`, `${p.doc}, ${p.range} (default ${DEFAULT_CONFIG[p.key]})`).argParser(numArg(p.flag)));
  }
  cmd.option("--grid <groups>", `the design by its parts instead of --arch/--rows/--flex-lines: row groups <pe>:<rows>, top row first, e.g. eff:14,flex:2 (PE kinds ${Object.keys(PE_KINDS).join(", ")})`);
  cmd.addOption(new Option("--decoder <kind>", "decoder kind of a --grid design (default: the one its PE kinds take)").choices(Object.keys(DECODER_KINDS)));
  return cmd;
}

function readConfigFile(file: string): DesignInput {
  if (!fs.existsSync(file)) throw new UserError(`${file}: configuration file does not exist`);
  if (!fs.statSync(file).isFile()) throw new UserError(`${file}: is not a file (give a JSON or YAML configuration file)`);
  const text = fs.readFileSync(file, "utf8");
  try {
    const v = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("expected an object of design parameters");
    return v as DesignInput;
  } catch (e) {
    throw new UserError(`${file}: cannot parse configuration (${(e as Error).message})`);
  }
}

export function designFromOptions(o: Record<string, unknown>): ElaboratedDesign {
  const partial: DesignInput = o.config ? readConfigFile(String(o.config)) : {};
  let partsSource = o.config ? String(o.config) : "design parts";
  if (o.grid !== undefined || o.decoder !== undefined) {
    // Flags override the file: --grid replaces the file's grid, --decoder its decoder.
    const fileParts = partial.parts && typeof partial.parts === "object" ? (partial.parts as Record<string, unknown>) : undefined;
    const grid = o.grid !== undefined ? parseGridFlag(String(o.grid)) : fileParts?.grid;
    if (grid === undefined) throw new UserError("--decoder needs --grid (or parts.grid in the --config file): the decoder alone does not say which PEs it feeds");
    partial.parts = { ...fileParts, grid, ...(o.decoder !== undefined ? { decoder: o.decoder } : {}) };
    partsSource = o.config ? `${o.config} with --grid/--decoder` : "--grid/--decoder";
  }
  for (const [flag, key] of Object.entries(DESIGN_FLAG_KEYS)) {
    if (o[flag] !== undefined) (partial as Record<string, unknown>)[key] = o[flag];
  }
  if (o.salientTypes !== undefined) {
    const s = String(o.salientTypes);
    partial.salientTypes = s === "none" ? [] : (s.split(",").map((t) => t.trim()) as ArchConfig["salientTypes"]);
  }
  return elaborate(resolveConfig(partial, String(o.preset ?? "default"), partsSource));
}

// ------------------------------------------------------------------ layer options

export function addLayerOptions(cmd: Command): Command {
  return cmd
    .option("--layer <spec...>", "synthetic LLaMA-like layer(s): <type>:<M>x<K>x<N>[:<fp8|fp12|none>[:<threshold>|r<ratio>]], type qkv|o_proj|up_gate|down")
    .option("--block <file|example>", "every linear layer of a transformer block (a JSON file, docs/dataflow.md, or an example name: llama7b, opt6.7b, or a file of examples/blocks such as tiny-llama) after folding its TOBE reorders away")
    .addOption(new Option("--tokens <n>", "tokens fed through --block").argParser(intArg("--tokens", 1, 65536)).default(16))
    .option("--layers <file>", "several layers of your own tensors: a YAML or CSV layer list (docs/data.md: name, x, w, x_name, w_name, w_layout, salient_type, threshold | ratio)")
    .option("--x <file>", "activations [..., K] from .npy or .safetensors (instead of --layer)")
    .option("--w <file>", "weights [K x N] from .npy or .safetensors")
    .option("--x-name <name>", "tensor name inside a .safetensors --x file")
    .option("--w-name <name>", "tensor name inside a .safetensors --w file")
    .addOption(new Option("--w-layout <layout>", "layout of --w: kn = [in x out]; nk = [out x in], as PyTorch's nn.Linear.weight").choices(["kn", "nk"]).default("kn"))
    .option("--salient-type <t>", "salient type for --x/--w: fp8, fp12 or none", "fp8")
    .addOption(new Option("--threshold <t>", "salient if channel max |x| > t x median channel max (default 4)").argParser(numArg("--threshold")))
    .addOption(new Option("--ratio <r>", "salient fraction of channels, 0..1 (instead of --threshold)").argParser(numArg("--ratio")))
    .addOption(new Option("--seed <n>", "seed of the synthetic data, and of the randomised Hadamard rotation of --rotate").argParser(intArg("--seed", 0, 2 ** 32 - 1)).default(1))
    .addOption(new Option("--act-scaling <s>", "activation scale of every layer: tensor = one static scale per layer; token = one per token row, computed at run time (default: tensor; token on --arch int4 and w4a8)").choices(["tensor", "token"]))
    .addOption(new Option("--act-clip <f>", "fixed clip factor of per-token scales, in (0, 1] (default: calibrated per layer; QuaRot uses 0.9)").argParser(numArg("--act-clip")))
    .addOption(new Option("--weight-model <m>", "weights of the synthetic layers (--layer and the default layers): gaussian, or heavy = Student-t(6) entries with per-row and per-column scale spreads, as real checkpoints (docs/data.md)").choices(["gaussian", "heavy"]).default("gaussian"))
    .addOption(new Option("--activation-model <m>", "activations of the synthetic layers: profile (each type's measured channel profile), or mechanistic = built as the model builds them: RMSNorm'd residual with sink tokens, attention output, SwiGLU output with massive channels (docs/data.md)").choices(["profile", "mechanistic"]).default("profile"))
    .option("--rotate", "rotate every layer by a seeded randomised Hadamard matrix first (X Q, Q^T W; QuaRot), so outliers spread over all channels")
    .addOption(new Option("--weights <q>", "int4 weights of every layer: rtn = round to nearest; gptq = GPTQ error compensation on the layer's activations").choices(["rtn", "gptq"]).default("rtn"))
    .option("--w-clip", "clip each output channel's weight scale by an error search (QuaRot's --w_clip) instead of max/7, with rtn or gptq")
    .addOption(new Option("--budget <bits>", "adaptive plan: average activation bits over all layers, in (4, 16], e.g. 4.1 (overrides each layer's salient choice)").argParser(numArg("--budget")))
    .addOption(new Option("--max-tile-overhead <x>", "with --budget: a layer may use at most minTiles x (1 + x) tiles, so cycles stay within that factor (0: no extra tiles)").argParser(numArg("--max-tile-overhead")))
    .addOption(new Option("--max-image-bits <b>", "with --budget: a layer may store at most b bits per activation in the memory image (tile rows with their flexible lanes)").argParser(numArg("--max-image-bits")))
    .option("--prefer-simpler", "with --budget: give way to a layer's simplest plan whose loss against the chosen one is inside the noise of the tokens' two halves (docs/quantization.md 3.1)");
}

/** Applies the adaptive per-layer plan when --budget is given; prints the chosen plan. */
export function applyBudget(d: ElaboratedDesign, layers: LayerInput[], o: Record<string, unknown>, print: (s: string) => void = console.log): LayerInput[] {
  const limits = {
    ...(o.maxTileOverhead !== undefined ? { maxTileOverhead: o.maxTileOverhead as number } : {}),
    ...(o.maxImageBits !== undefined ? { maxImageBits: o.maxImageBits as number } : {}),
    ...(o.preferSimpler ? { preferSimpler: true } : {}),
  };
  if (o.budget === undefined) {
    if (Object.keys(limits).length) throw new UserError("--max-tile-overhead, --max-image-bits and --prefer-simpler steer the adaptive plan: give --budget too");
    return layers;
  }
  for (const [flag, v] of [["--max-tile-overhead", limits.maxTileOverhead], ["--max-image-bits", limits.maxImageBits]] as const) {
    if (v !== undefined && !(v >= 0)) throw new UserError(`invalid ${flag} = ${v}: must be a number >= 0`);
  }
  log(`adaptive: searching per-layer plans for an average of ${o.budget} activation bits${limits.maxTileOverhead !== undefined ? `, at most ${limits.maxTileOverhead} extra tiles per tile` : ""}${limits.maxImageBits !== undefined ? `, at most ${limits.maxImageBits} image bits per activation` : ""}${limits.preferSimpler ? ", the simplest plan inside the noise" : ""}...`);
  const plan = chooseModelPlan(d, layers, o.budget as number, limits);
  // Under --json stdout carries the one JSON document only.
  (o.json ? log : print)(formatPlanTable(plan));
  return layers.map((l, i) => ({
    ...l,
    plan: {
      ...plan.layers[i].plan, ...(l.plan?.scaling ? { scaling: l.plan.scaling } : {}), ...(l.plan?.clip !== undefined ? { clip: l.plan.clip } : {}),
      ...(l.plan?.weights ? { weights: l.plan.weights } : {}), ...(l.plan?.wClip ? { wClip: true } : {}),
    },
  }));
}

export const DEFAULT_LAYERS = ["qkv:64x256x64:fp8", "o_proj:64x256x64:fp12", "down:64x512x64:fp12:r0.05"];

/** The plan users choose with --salient-type / --threshold / --ratio. */
function planFromOptions(o: Record<string, unknown>): LayerPlan {
  const salientType = String(o.salientType) as SalientKind;
  if (!["fp8", "fp12", "none"].includes(salientType)) throw new UserError(`--salient-type '${salientType}' must be fp8, fp12 or none`);
  if (o.ratio !== undefined && o.threshold !== undefined) throw new UserError("give --ratio or --threshold, not both");
  const plan: LayerPlan = { salientType };
  if (salientType !== "none") {
    if (o.ratio !== undefined) plan.ratio = o.ratio as number;
    else plan.threshold = (o.threshold as number | undefined) ?? 4;
  }
  return plan;
}

/** The linear layers of a block, its TOBE reorders folded away (flows/block.ts). */
function layersOfBlock(o: Record<string, unknown>, d: ElaboratedDesign): LayerInput[] {
  const model = loadModel(String(o.block));
  const x = generateActivations("qkv", o.tokens as number, model.graph.input.channels, o.seed as number);
  // Without salient lanes there is no TOBE permutation to fold: every linear keeps its channel order.
  const { layers, fold } = blockLayers(d, model.graph, x, ARCHS[d.arch].salient ? planFromOptions(o) : { salientType: "none" });
  log(`block: ${model.graph.name}: ${fold.plan.length} linear(s), ${fold.explicitReorders} explicit reorder(s) left after folding the quantizer's TOBE permutations`);
  for (const e of fold.plan.filter((p) => p.placement === "explicit")) log(`block:   ${e.linear} keeps an explicit reorder: ${e.refusal?.reason ?? ""}`);
  return layers;
}

export function layersFromOptions(o: Record<string, unknown>, d: ElaboratedDesign, fallback: string[] = DEFAULT_LAYERS): LayerInput[] {
  const arch = ARCHS[d.arch];
  const scaling = (o.actScaling ?? arch.defaultScaling) as ActScaling;
  const weights = (o.weights ?? "rtn") as WeightQuant;
  if (o.actClip !== undefined && scaling !== "token") throw new UserError("--act-clip applies to per-token scales: give --act-scaling token too");
  if (o.rotate && o.block !== undefined) throw new UserError("--rotate does not apply to --block (its layers' channel order is folded through the graph)");
  // The default layers' salient choices are Oltron's: other architectures take the shapes
  // alone, and a design without one of their salient types takes one it has.
  let layers = layerSources(o, d, arch.salient ? fitDefaultTypes(fallback, d) : fallback.map((s) => s.split(":").slice(0, 2).join(":")));
  // A salient type the design has no lanes for is refused here, before anything is quantized or written.
  if (arch.salient) {
    const have = d.config.salientTypes as string[];
    const bad = layers.filter((l) => { const t = (l.plan ?? DEFAULT_PLAN).salientType; return t !== "none" && !have.includes(t); });
    if (bad.length) {
      const t = (bad[0].plan ?? DEFAULT_PLAN).salientType;
      throw new UserError(
        `layer(s) ${bad.map((l) => `${l.name} (${(l.plan ?? DEFAULT_PLAN).salientType})`).join(", ")}: salient type ${t} is not supported by design ${d.name} (supports: ${have.join(", ") || "none"}); ` +
          `give the layers ${have.length ? have.join(" or ") : "none"} as their salient type, or a design with ${t} (--salient-types ${[...new Set([...have, t])].join(",")})`,
        { field: "salientType", value: t, hint: `use ${have.join(" or ") || "none"}, or --salient-types ${[...new Set([...have, t])].join(",")}` },
      );
    }
  }
  // What rotated each layer, recorded in its plan (so the manifest and export say so).
  const rotations = new Map<string, NonNullable<LayerPlan["rotation"]>>();
  if (o.rotate) {
    layers = layers.map((l) => {
      const seed = (o.seed as number | undefined) ?? 0;
      const r = rotateLayer(l.x, l.w, seed);
      if (r.paddedFrom) log(`rotate: layer ${l.name}: K = ${r.paddedFrom} is not a power of two; zero-padded to ${r.rotation.size} channels`);
      rotations.set(l.name, { kind: "randomized-hadamard", seed, size: r.rotation.size, originalK: l.x.shape[1] });
      return { ...l, x: r.x, w: r.w };
    });
  }
  // One layer set runs on every architecture: a salient choice is Oltron's plan, and the
  // architectures without salient lanes quantize those layers in their own format.
  const salientPlans = arch.salient ? [] : layers.filter((l) => (l.plan ?? DEFAULT_PLAN).salientType !== "none").map((l) => l.name);
  if (salientPlans.length) {
    log(`arch ${d.arch}: no salient lanes; layer(s) ${salientPlans.join(", ")} are quantized as ${ARCH_FORMAT_NOTE[d.arch]} instead of their salient plan`);
  }
  return layers.map((l) => ({
    ...l,
    plan: {
      ...(arch.salient ? (l.plan ?? DEFAULT_PLAN) : { salientType: "none" as const }),
      ...(scaling !== "tensor" ? { scaling } : {}), ...(o.actClip !== undefined ? { clip: o.actClip as number } : {}),
      ...(weights !== "rtn" ? { weights } : {}),
      ...(o.wClip ? { wClip: true } : {}),
      ...(rotations.has(l.name) ? { rotation: rotations.get(l.name)! } : {}),
    },
  }));
}

/** The default layer specs with each salient type the design lacks replaced by one it has (or none). */
function fitDefaultTypes(specs: string[], d: ElaboratedDesign): string[] {
  const have = d.config.salientTypes;
  const fit = (t: string) => (t === "none" || (have as string[]).includes(t) ? t : have[0] ?? "none");
  return specs.map((spec) => {
    const f = spec.split(":");
    return f.length > 2 ? [f[0], f[1], fit(f[2]), ...f.slice(3)].join(":") : spec;
  });
}

const ARCH_FORMAT_NOTE: Record<string, string> = { int4: "int4", w4a8: "int8", olive: "OliVe outlier-victim pairs" };

function layerSources(o: Record<string, unknown>, d: ElaboratedDesign, fallback: string[]): LayerInput[] {
  const sources = [o.block !== undefined, o.layer !== undefined, o.x !== undefined || o.w !== undefined, o.layers !== undefined].filter(Boolean).length;
  if (sources > 1) throw new UserError("give one source of layers: --layer, --block, --layers, or --x/--w");
  if (o.weightModel !== undefined && o.weightModel !== "gaussian" && (o.block !== undefined || o.x !== undefined || o.layers !== undefined)) {
    throw new UserError(`--weight-model ${String(o.weightModel)} applies to synthetic layers (--layer, or the default layers): --x/--w, --layers and --block bring their own weights`, { field: "--weight-model", value: String(o.weightModel) });
  }
  if (o.activationModel !== undefined && o.activationModel !== "profile" && (o.block !== undefined || o.x !== undefined || o.layers !== undefined)) {
    throw new UserError(`--activation-model ${String(o.activationModel)} applies to synthetic layers (--layer, or the default layers): --x/--w, --layers and --block bring their own activations`, { field: "--activation-model", value: String(o.activationModel) });
  }
  const given = (flag: string, key: string) => (o[key] !== undefined && o[key] !== defaults[key] ? [flag] : []);
  const defaults: Record<string, unknown> = { salientType: "fp8", tokens: 16, wLayout: "kn" };
  // Options that only some layer sources read: refuse them where they would be ignored.
  const perLayerPlan = [...given("--salient-type", "salientType"), ...given("--ratio", "ratio"), ...given("--threshold", "threshold")];
  if (o.layers !== undefined && (perLayerPlan.length || given("--x-name", "xName").length || given("--w-name", "wName").length || given("--w-layout", "wLayout").length)) {
    throw new UserError("with --layers, give each layer's salient type, threshold or ratio, tensor names and weight layout in the list file");
  }
  if (o.layers !== undefined) return layersOfList(String(o.layers));
  if (o.block === undefined && o.x === undefined && perLayerPlan.length) {
    throw new UserError(`${perLayerPlan.join(", ")} apply to --x/--w and --block; with --layer, give each layer's choice in its spec (<type>:<M>x<K>x<N>:<fp8|fp12|none>:<threshold>|r<ratio>)`);
  }
  const fileOnly = [...given("--x-name", "xName"), ...given("--w-name", "wName"), ...given("--w-layout", "wLayout")];
  if (o.x === undefined && fileOnly.length) throw new UserError(`${fileOnly.join(", ")} apply only to --x/--w`);
  if (o.block === undefined && o.tokens !== undefined && o.tokens !== defaults.tokens) throw new UserError("--tokens applies only to --block");
  if (o.block !== undefined) return layersOfBlock(o, d);
  if (o.x || o.w) {
    if (!o.x || !o.w) throw new UserError("--x and --w go together: give both the activations and the weights");
    const plan = planFromOptions(o);
    const { x, w } = layerTensors(
      { x: String(o.x), xName: o.xName as string | undefined, w: String(o.w), wName: o.wName as string | undefined, wLayout: o.wLayout === "nk" ? "nk" : "kn" },
      { x: "--x", w: "--w" },
    );
    const name = layerName(path.basename(String(o.x)).replace(/\.[^.]+$/, ""), "L0");
    return [{ name, x, w, plan }];
  }
  const specs = ((o.layer as string[] | undefined) ?? fallback).map((s, i) => parseLayerSpec(s, i, ARCHS[d.arch].salient ? "fp8" : "none"));
  return synthLayers(specs, o.seed as number, (o.weightModel ?? "gaussian") as WeightModel, (o.activationModel ?? "profile") as ActivationModel);
}

/** The layers of a layer-list file (data/layerlist.ts), read like --x/--w, one by one. */
function layersOfList(file: string): LayerInput[] {
  const entries = readLayerList(file);
  const names = new Set<string>();
  return entries.map((e, i) => {
    const name = layerName(e.name, `L${i}`);
    if (names.has(name)) throw new UserError(`--layers ${file}: layer names '${e.name}' and another both become '${name}' as file names`);
    // Names become file names: say so when one had to change, rather than rename it silently.
    if (name !== e.name) log(`layers: layer '${e.name}' is named '${name}' (layer names become file names: letters, digits, '_', '.', '-', not starting with '.' or '_')`);
    names.add(name);
    for (const f of [e.x, e.w]) if (!fs.existsSync(f)) throw new UserError(`--layers ${file}: layer ${e.name}: ${f} does not exist`);
    const { x, w } = layerTensors(e, { x: `${e.name}.x`, w: `${e.name}.w` });
    const plan: LayerPlan = { salientType: e.salientType };
    if (e.salientType !== "none") {
      if (e.ratio !== undefined) plan.ratio = e.ratio;
      else plan.threshold = e.threshold ?? 4;
    }
    return { name, x, w, plan };
  });
}

/** A layer's activations (as tokens) and weights (as [K x N]) from files, with a note for float64. */
function layerTensors(
  src: { x: string; xName?: string; w: string; wName?: string; wLayout: "kn" | "nk" },
  flags: { x: string; w: string },
): { x: Tensor; w: Tensor } {
  const xRaw = readTensorFile(src.x, src.xName);
  const wRaw = readTensorFile(src.w, src.wName);
  for (const [flag, file, t] of [[flags.x, src.x, xRaw], [flags.w, src.w, wRaw]] as const) {
    if (t.sourceDtype === "float64") log(`note: ${flag} ${file} is float64; its values are rounded to float32, the precision oltron quantizes in`);
  }
  return { x: tokensOf(xRaw, src.x), w: src.wLayout === "nk" ? transpose2d(wRaw, src.w) : wRaw };
}

/**
 * Activations of any rank [..., K] as tokens [M x K]: every leading axis (batch, sequence)
 * is flattened into tokens, as a linear layer sees them; a single vector [K] is one token.
 */
function tokensOf(t: Tensor, source: string): Tensor {
  if (t.shape.length === 2) return t;
  if (t.shape.length === 0) throw new UserError(`${source}: a scalar is not an activation tensor; expected [..., K]`);
  const k = t.shape[t.shape.length - 1];
  const m = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  log(`note: --x ${source} has shape [${t.shape.join(", ")}]: read as ${m} tokens x ${k} channels`);
  return { shape: [m, k], data: t.data };
}

/** [N x K] -> [K x N]: PyTorch stores linear weights output-major. */
function transpose2d(t: Tensor, source: string): Tensor {
  if (t.shape.length !== 2) throw new UserError(`${source}: --w-layout nk needs a 2-D tensor, got shape [${t.shape.join(", ")}]`);
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}

// ------------------------------------------------------------------ memory model options

/** A latency: one number of cycles or a range lo..hi drawn per burst; 1..100000. */
function latencyArg(name: string) {
  return (v: string): [number, number] => {
    const m = /^(\d+)(?:\.\.(\d+))?$/.exec(v.trim());
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    if (!m || lo < 1 || hi > 100000 || hi < lo) {
      throw new InvalidArgumentError(`${name} must be a cycle count or a range lo..hi with 1 <= lo <= hi <= 100000, got '${v}'`);
    }
    return [lo, hi];
  };
}

function fractionArg(name: string, lo: number, hi: number, loOpen = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n > hi || (loOpen ? n <= lo : n < lo)) {
      throw new InvalidArgumentError(`${name} must be a number in ${loOpen ? "(" : "["}${lo}, ${hi}], got '${v}'`);
    }
    return n;
  };
}

/** The testbench memory: latency, stalls, reordering, bandwidth (docs/architecture.md). */
export function addMemoryOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--mem-latency <cycles>", "read latency of the testbench memory: n or lo..hi, drawn per burst").argParser(latencyArg("--mem-latency")).default([1, 1], "1"))
    .addOption(new Option("--mem-write-latency <cycles>", "write-response latency: n or lo..hi (default: as --mem-latency)").argParser(latencyArg("--mem-write-latency")))
    .addOption(new Option("--mem-backpressure <p>", "chance per cycle that each AXI channel stalls, 0..0.95").argParser(fractionArg("--mem-backpressure", 0, 0.95)).default(0))
    .option("--mem-reorder", "read bursts with different IDs may return out of order and interleaved")
    .addOption(new Option("--mem-bandwidth <beats>", "cap on read plus write beats per cycle, in (0, 1] (default: no cap)").argParser(fractionArg("--mem-bandwidth", 0, 1, true)))
    .addOption(new Option("--mem-seed <n>", "seed of the memory model's random choices").argParser(intArg("--mem-seed", 0, 2 ** 31 - 1)).default(1))
    .addOption(new Option("--max-cycles <n>", "watchdog in cycles (default: 4x an estimate from the shapes and the memory model)").argParser(intArg("--max-cycles", 1, 2 ** 40)))
    .addOption(new Option("--max-seconds <n>", "wall-clock limit of the simulator run, and of any wait for another process building the same model (default: derived from the watchdog, far above any healthy run; waits: 4 h)").argParser(intArg("--max-seconds", 1, 7 * 24 * 3600)));
}

export function memoryFromOptions(o: Record<string, unknown>): MemoryModel {
  const read = (o.memLatency as [number, number] | undefined) ?? IDEAL_MEMORY.readLatency;
  const p = (o.memBackpressure as number | undefined) ?? 0;
  return {
    seed: (o.memSeed as number | undefined) ?? 1,
    readLatency: read,
    writeLatency: (o.memWriteLatency as [number, number] | undefined) ?? read,
    backpressure: { ar: p, r: p, aw: p, w: p, b: p },
    reorder: !!o.memReorder,
    ...(o.memBandwidth !== undefined ? { bandwidth: o.memBandwidth as number } : {}),
  };
}

/** Simulator build controls shared by sim, verify and demo. */
export function addBuildOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--simulator <s>", "simulator").choices(["verilator", "icarus"]).default("verilator"))
    .option("--rebuild", "build the simulator again even when the cache has a valid build")
    .addOption(new Option("--sim-threads <n>", "Verilator model threads: large arrays simulate faster on several cores (oltron bench measures the gain)").argParser(intArg("--sim-threads", 1, 64)).default(1))
    .option("--build-flag <flag>", "extra flag for verilator / iverilog, passed as given (repeatable, e.g. --build-flag=--threads --build-flag=2)", (v: string, prev: string[] = []) => [...prev, v]);
}

export function buildFromOptions(o: Record<string, unknown>): { simulator: Simulator; rebuild: boolean; buildFlags: string[]; threads: number } {
  return {
    simulator: (o.simulator as Simulator | undefined) ?? "verilator", rebuild: !!o.rebuild,
    buildFlags: (o.buildFlag as string[] | undefined) ?? [], threads: (o.simThreads as number | undefined) ?? 1,
  };
}

/** Waveform options shared by sim, verify and demo. */
export function addTraceOptions(cmd: Command): Command {
  return cmd
    .option("--trace <file>", "write a waveform; the format follows the extension: .fst or .vcd (both simulators)")
    .addOption(new Option("--trace-from <cycle>", "first traced cycle (counted from the end of reset)").argParser(intArg("--trace-from", 0, 2 ** 53)))
    .addOption(new Option("--trace-to <cycle>", "last traced cycle").argParser(intArg("--trace-to", 0, 2 ** 53)));
}

/** The waveform request, checked before anything runs: format, window, and a folder to write into. */
export function traceFromOptions(o: Record<string, unknown>): { file: string; from?: number; to?: number } | undefined {
  if (!o.trace) {
    if (o.traceFrom !== undefined || o.traceTo !== undefined) throw new UserError("--trace-from/--trace-to need --trace <file>");
    return undefined;
  }
  const trace = { file: path.resolve(String(o.trace)), from: o.traceFrom as number | undefined, to: o.traceTo as number | undefined };
  traceFormatOf(trace.file);
  if (trace.from !== undefined && trace.to !== undefined && trace.to < trace.from) throw new UserError(`--trace-to ${trace.to} is before --trace-from ${trace.from}`);
  if (fs.existsSync(trace.file) && !fs.statSync(trace.file).isFile()) throw new UserError(`--trace ${o.trace}: exists and is not a file`);
  if (!fs.existsSync(path.dirname(trace.file))) throw new UserError(`--trace ${o.trace}: folder ${path.dirname(String(o.trace))} does not exist`);
  // The simulator opens the file itself and says nothing when it cannot: try it first.
  const existed = fs.existsSync(trace.file);
  try {
    fs.closeSync(fs.openSync(trace.file, "a"));
    if (!existed) fs.rmSync(trace.file, { force: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "EACCES" || err.code === "EPERM" ? "permission denied" : err.code === "EROFS" ? "read-only file system" : err.code === "ENOSPC" ? "no space left" : err.message;
    throw new UserError(`--trace ${o.trace}: cannot be written (${why}); give a file in a writable folder`);
  }
  return trace;
}
/** A file output given by a flag: its folder exists, and it is not a folder itself. */
export function checkFileOutput(flag: string, file: string): void {
  if (fs.existsSync(file) && !fs.statSync(file).isFile()) throw new UserError(`${flag} ${file}: exists and is not a file; give a file name`);
  if (!fs.existsSync(path.dirname(path.resolve(file)))) throw new UserError(`${flag} ${file}: folder ${path.dirname(file)} does not exist`);
}
