/**
 * The `oltron` command line. Commands are thin: parse, call a flow, print. A UserError
 * prints its message and exits 1; anything else is a bug and exits 70 with its stack.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import YAML from "yaml";
import { chooseModelPlan, formatPlanTable } from "../quant/adaptive.js";
import { areaReport, formatArea } from "../hw/area.js";
import {
  DEFAULT_CONFIG, elaborate, GENERATOR_VERSION, PARAMS, PRESETS, resolveConfig,
  type ArchConfig, type ElaboratedDesign,
} from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { decodeTable, parseElemType, type TableRow } from "../core/formats.js";
import {
  blockLayers, loadDesign, parseLayerSpec, quantizeToDir, simulate, summarize, synthLayers, writeDesign, type SimResult,
} from "../flows/simulate.js";
import { runGolden } from "../golden.js";
import { writeFileAtomic } from "../image/block.js";
import { loadManifest } from "../image/manifest.js";
import type { LayerInput, LayerPlan } from "../quant/quantizer.js";
import type { SalientKind } from "../quant/tobe.js";
import type { Tensor } from "../core/tensor.js";
import { readTensorFile } from "../data/tensorio.js";
import { loadModel, registerPlanCommand } from "./plan.js";
import { generateActivations } from "../data/synthetic.js";
import { registerBenchCommands } from "../bench/perf.js";

const log = (s: string) => process.stderr.write(`${s}\n`);

function intArg(name: string, lo: number, hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be an integer in ${lo}..${hi}, got '${v}'`);
    return n;
  };
}

function numArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

// ------------------------------------------------------------------ design options

const DESIGN_FLAG_KEYS: Record<string, keyof ArchConfig> = {
  rows: "rows", cols: "cols", flexLines: "flexLines", psumBits: "psumBits", memWordBits: "memWordBits", bufferTokens: "bufferTokens",
};

function addDesignOptions(cmd: Command): Command {
  cmd.option("--preset <name>", `named configuration: ${Object.keys(PRESETS).join(", ")}`, "default");
  cmd.option("--config <file>", "design configuration file (JSON or YAML) with the keys below");
  for (const p of PARAMS) {
    if (p.key === "salientTypes") {
      cmd.option(`${p.flag} <list>`, `${p.doc}: comma list of fp8,fp12 or 'none' (default ${DEFAULT_CONFIG.salientTypes.join(",")})`);
      continue;
    }
    cmd.addOption(new Option(`${p.flag} <n>`, `${p.doc}, ${p.range} (default ${DEFAULT_CONFIG[p.key]})`).argParser(numArg(p.flag)));
  }
  return cmd;
}

function readConfigFile(file: string): Partial<ArchConfig> {
  if (!fs.existsSync(file)) throw new UserError(`${file}: configuration file does not exist`);
  const text = fs.readFileSync(file, "utf8");
  try {
    const v = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("expected an object of design parameters");
    return v as Partial<ArchConfig>;
  } catch (e) {
    throw new UserError(`${file}: cannot parse configuration (${(e as Error).message})`);
  }
}

function designFromOptions(o: Record<string, unknown>): ElaboratedDesign {
  const partial: Partial<ArchConfig> = o.config ? readConfigFile(String(o.config)) : {};
  for (const [flag, key] of Object.entries(DESIGN_FLAG_KEYS)) {
    if (o[flag] !== undefined) (partial as Record<string, unknown>)[key] = o[flag];
  }
  if (o.salientTypes !== undefined) {
    const s = String(o.salientTypes);
    partial.salientTypes = s === "none" ? [] : (s.split(",").map((t) => t.trim()) as ArchConfig["salientTypes"]);
  }
  return elaborate(resolveConfig(partial, String(o.preset ?? "default")));
}

// ------------------------------------------------------------------ layer options

function addLayerOptions(cmd: Command): Command {
  return cmd
    .option("--layer <spec...>", "synthetic LLaMA-like layer(s): <type>:<M>x<K>x<N>[:<fp8|fp12|none>[:<threshold>|r<ratio>]], type qkv|o_proj|up_gate|down")
    .option("--block <file|example>", "every linear layer of a transformer block (JSON, docs/dataflow.md, or tiny-llama-like example name) after folding its TOBE reorders away")
    .addOption(new Option("--tokens <n>", "tokens fed through --block").argParser(intArg("--tokens", 1, 65536)).default(16))
    .option("--x <file>", "activations [M x K] from .npy or .safetensors (instead of --layer)")
    .option("--w <file>", "weights [K x N] from .npy or .safetensors")
    .option("--x-name <name>", "tensor name inside a .safetensors --x file")
    .option("--w-name <name>", "tensor name inside a .safetensors --w file")
    .addOption(new Option("--w-layout <layout>", "layout of --w: kn = [in x out]; nk = [out x in], as PyTorch's nn.Linear.weight").choices(["kn", "nk"]).default("kn"))
    .option("--salient-type <t>", "salient type for --x/--w: fp8, fp12 or none", "fp8")
    .addOption(new Option("--threshold <t>", "salient if channel max |x| > t x median channel max (default 4)").argParser(numArg("--threshold")))
    .addOption(new Option("--ratio <r>", "salient fraction of channels, 0..1 (instead of --threshold)").argParser(numArg("--ratio")))
    .addOption(new Option("--seed <n>", "seed of the synthetic data").argParser(intArg("--seed", 0, 2 ** 32 - 1)).default(1))
    .addOption(new Option("--budget <bits>", "adaptive plan: average activation bits over all layers, in (4, 16], e.g. 4.1 (overrides each layer's salient choice)").argParser(numArg("--budget")));
}

/** Applies the adaptive per-layer plan when --budget is given; prints the chosen plan. */
function applyBudget(d: ElaboratedDesign, layers: LayerInput[], o: Record<string, unknown>): LayerInput[] {
  if (o.budget === undefined) return layers;
  log(`adaptive: searching per-layer plans for an average of ${o.budget} activation bits...`);
  const plan = chooseModelPlan(d, layers, o.budget as number);
  console.log(formatPlanTable(plan));
  return layers.map((l, i) => ({ ...l, plan: plan.layers[i].plan }));
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

/** The linear layers of a block, its TOBE reorders folded away (flow.blockLayers). */
function layersOfBlock(o: Record<string, unknown>, d: ElaboratedDesign): LayerInput[] {
  const model = loadModel(String(o.block));
  const x = generateActivations("qkv", o.tokens as number, model.graph.input.channels, o.seed as number);
  const { layers, fold } = blockLayers(d, model.graph, x, planFromOptions(o));
  log(`block: ${model.graph.name}: ${fold.plan.length} linear(s), ${fold.explicitReorders} explicit reorder(s) left after folding the quantizer's TOBE permutations`);
  for (const e of fold.plan.filter((p) => p.placement === "explicit")) log(`block:   ${e.linear} keeps an explicit reorder: ${e.refusal?.reason ?? ""}`);
  return layers;
}

function layersFromOptions(o: Record<string, unknown>, d: ElaboratedDesign, fallback: string[] = DEFAULT_LAYERS): LayerInput[] {
  const sources = [o.block !== undefined, o.layer !== undefined, o.x !== undefined || o.w !== undefined].filter(Boolean).length;
  if (sources > 1) throw new UserError("give one source of layers: --layer, --block, or --x/--w");
  const given = (flag: string, key: string) => (o[key] !== undefined && o[key] !== defaults[key] ? [flag] : []);
  const defaults: Record<string, unknown> = { salientType: "fp8", tokens: 16, wLayout: "kn" };
  // Options that only some layer sources read: refuse them where they would be ignored.
  const perLayerPlan = [...given("--salient-type", "salientType"), ...given("--ratio", "ratio"), ...given("--threshold", "threshold")];
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
    const x = readTensorFile(String(o.x), o.xName as string | undefined);
    const wRaw = readTensorFile(String(o.w), o.wName as string | undefined);
    const w = o.wLayout === "nk" ? transpose2d(wRaw, String(o.w)) : wRaw;
    const name = path.basename(String(o.x)).replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_.-]/g, "_") || "L0";
    return [{ name, x, w, plan }];
  }
  const specs = ((o.layer as string[] | undefined) ?? fallback).map((s, i) => parseLayerSpec(s, i));
  return synthLayers(specs, o.seed as number);
}

/** [N x K] -> [K x N]: PyTorch stores linear weights output-major. */
function transpose2d(t: Tensor, source: string): Tensor {
  if (t.shape.length !== 2) throw new UserError(`${source}: --w-layout nk needs a 2-D tensor, got shape [${t.shape.join(", ")}]`);
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}

// ------------------------------------------------------------------ printing

function formatTable(rows: TableRow[], type: string): string {
  const out = [`${type} decode table (${rows.length} codes). value = decoded integer in units of the activation scale; pairs = (shift, integer)`];
  for (const r of rows) {
    const f = "sign" in r.fields ? `s=${r.fields.sign} e=${String(r.fields.exp).padStart(2)} m=${String(r.fields.man).padStart(2)}` : `q=${r.fields.value}`;
    const pairs = r.pairs.map((p) => `(${p.shift},${p.int})`).join(" ");
    out.push(`0x${r.hex}  ${f.padEnd(18)} ${String(r.value).padStart(13)}  ${pairs}${r.reserved ? "  [reserved exponent]" : ""}`);
  }
  return out.join("\n");
}

function printSim(r: SimResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(r, null, 1));
    return;
  }
  for (const l of r.layers) {
    console.log(`  ${l.name.padEnd(16)} M=${l.m} K=${l.k} N=${l.n} ${l.salientType} S=${l.s} tiles=${l.tiles} (min ${l.minTiles}) mismatches=${l.mismatches}`);
  }
  for (const m of r.firstMismatches) {
    console.log(`  mismatch ${m.layer}[token ${m.token}][channel ${m.channel}]: expected ${m.expected}, got ${m.actual}`);
  }
  console.log(summarize(r));
}

// ------------------------------------------------------------------ program

export function buildProgram(): Command {
  const program = new Command("oltron")
    .description("Open hardware generator for Oltron-style outlier-aware LLM accelerators")
    .version(GENERATOR_VERSION)
    .showHelpAfterError()
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command("formats")
    .description("print the full decode table of a number format (SPEC section 2)")
    .argument("<type>", "int4, fp8 or fp12")
    .option("--json", "print a JSON array of {code, value, fields, pairs}")
    .action((type: string, o: { json?: boolean }) => {
      const t = parseElemType(type);
      const rows = decodeTable(t);
      console.log(o.json ? JSON.stringify(rows) : formatTable(rows, t));
    });

  addDesignOptions(
    program.command("generate").description("generate Verilog RTL, testbench and design.json for an array configuration"),
  )
    .option("--out <dir>", "output folder (default rtl-out/<design-name>)")
    .action((o: Record<string, unknown>) => {
      const t0 = performance.now();
      const d = designFromOptions(o);
      const dir = String(o.out ?? path.join("rtl-out", d.name));
      const rtl = writeDesign(dir, d);
      const ms = performance.now() - t0;
      console.log(`generated ${d.name}: ${d.rows}x${d.cols} array, ${d.flexLines} flexible line(s), ${d.pes.efficient} efficient + ${d.pes.flexible} flexible PEs`);
      console.log(`  ${Object.keys(rtl.sources).length} RTL files + testbench + design.json in ${dir} (${ms.toFixed(0)} ms)`);
    });

  addLayerOptions(
    program
      .command("quantize")
      .description("quantize and TOBE-encode layers into memory images + manifest for a design")
      .requiredOption("--design <dir>", "design folder written by 'oltron generate'")
      .requiredOption("--out <dir>", "image folder to write"),
  )
    .option("--no-reference", "do not store the float tensors (no error figures from 'oltron golden')")
    .option("--golden", "also run the golden model and write <layer>.expected.hex")
    .action((o: Record<string, unknown>) => {
      const d = loadDesign(String(o.design));
      const layers = applyBudget(d, layersFromOptions(o, d), o);
      const man = quantizeToDir(d, layers, String(o.out), { reference: o.reference !== false, log });
      for (const l of man.layers) {
        console.log(`  ${l.name.padEnd(16)} M=${l.m} K=${l.k} N=${l.n} ${l.salientType} salient=${l.salientChannels} S=${l.s}/tile tiles=${l.tiles} (min ${l.minTiles}) x ${l.nTiles} N-tiles, s_a=${l.actScale.toPrecision(4)}`);
      }
      console.log(`wrote ${man.layers.length} layer(s), ${man.memoryWords} memory words of ${man.memWordBits} bits, to ${o.out}`);
      if (o.golden) printGolden(String(o.out));
    });

  program
    .command("golden")
    .description("run the golden model on an image folder: writes <layer>.expected.hex, prints quantization error")
    .requiredOption("--images <dir>", "image folder written by 'oltron quantize'")
    .option("--json", "print JSON")
    .action((o: { images: string; json?: boolean }) => printGolden(o.images, o.json));

  program
    .command("sim")
    .description("simulate an image folder on a generated design and compare with the golden model")
    .requiredOption("--design <dir>", "design folder")
    .requiredOption("--images <dir>", "image folder")
    .addOption(new Option("--simulator <s>", "simulator").choices(["verilator", "icarus"]).default("verilator"))
    .option("--trace <file>", "write a waveform (FST with Verilator, VCD with Icarus)")
    .addOption(new Option("--trace-from <cycle>", "first traced cycle").argParser(intArg("--trace-from", 0, 2 ** 53)))
    .addOption(new Option("--trace-to <cycle>", "last traced cycle").argParser(intArg("--trace-to", 0, 2 ** 53)))
    .option("--result <file>", "JSON result file (default <images>/sim-result.json)")
    .option("--json", "print the JSON result")
    .action(async (o: Record<string, unknown>) => {
      const trace = o.trace ? { file: String(o.trace), from: o.traceFrom as number | undefined, to: o.traceTo as number | undefined } : undefined;
      if (!trace && (o.traceFrom !== undefined || o.traceTo !== undefined)) throw new UserError("--trace-from/--trace-to need --trace <file>");
      if (trace && trace.from !== undefined && trace.to !== undefined && trace.to < trace.from) {
        throw new UserError(`--trace-to ${trace.to} is before --trace-from ${trace.from}`);
      }
      const resultFile = String(o.result ?? path.join(String(o.images), "sim-result.json"));
      for (const f of [resultFile, ...(trace ? [trace.file] : [])]) {
        if (!fs.existsSync(path.dirname(path.resolve(f)))) throw new UserError(`${f}: folder ${path.dirname(f)} does not exist`);
      }
      const r = await simulate(String(o.design), String(o.images), { simulator: o.simulator as SimResult["simulator"], trace, log });
      if (trace && !fs.existsSync(trace.file)) {
        log(`sim: no waveform written: the run ended after ${r.cycles.total} cycles, before --trace-from ${trace.from ?? 0}`);
      }
      writeFileAtomic(resultFile, JSON.stringify(r, null, 1) + "\n");
      printSim(r, !!o.json);
      if (!r.pass) process.exitCode = 1;
    });

  addLayerOptions(
    addDesignOptions(
      program.command("verify").description("generate -> quantize -> golden -> simulate -> compare, end to end; exits non-zero on any mismatch"),
    ),
  )
    .addOption(new Option("--simulator <s>", "simulator").choices(["verilator", "icarus"]).default("verilator"))
    .option("--out <dir>", "run folder (default rtl-out/verify-<design-name>)")
    .option("--json", "print the JSON result")
    .action(async (o: Record<string, unknown>) => {
      const r = await verify(o);
      printSim(r, !!o.json);
      if (!r.pass) process.exitCode = 1;
    });

  const report = program.command("report").description("reports on a design");
  addDesignOptions(report.command("area").description("Yosys cell counts: efficient PE, flexible PE, decoder, array; hybrid vs all-flexible"))
    .option("--json", "print JSON")
    .action(async (o: Record<string, unknown>) => {
      const a = await areaReport(designFromOptions(o), log);
      console.log(o.json ? JSON.stringify(a, null, 1) : formatArea(a));
    });

  program
    .command("demo")
    .description("the main job on built-in data: generate a 16x16 design, quantize LLaMA-like layers, golden model, Verilator co-simulation")
    .addOption(new Option("--simulator <s>", "simulator").choices(["verilator", "icarus"]).default("verilator"))
    .action(async (o: Record<string, unknown>) => {
      const out = path.join("rtl-out", "demo");
      const r = await verify({ ...o, preset: "default", out, seed: 1 });
      printSim(r, false);
      console.log(`wrote ${out}/design (Verilog, testbench, C header, design.json), ${out}/images (images, manifest, expected and simulated outputs), ${out}/sim-result.json`);
      if (!r.pass) process.exitCode = 1;
    });

  registerPlanCommand(program);
  registerBenchCommands(program);
  return program;
}

function printGolden(dir: string, json = false): void {
  const man = loadManifest(dir);
  const res = runGolden(dir, man);
  if (json) {
    console.log(JSON.stringify(res, null, 1));
    return;
  }
  for (const r of res) {
    const err = r.error ? `SQNR ${r.error.sqnrDb.toFixed(2)} dB, MSE ${r.error.mse.toExponential(3)} vs float reference` : "no float reference stored";
    console.log(`  golden ${r.name.padEnd(16)} ${r.m}x${r.k}x${r.n}: ${r.expectedFile} in ${r.seconds.toFixed(2)} s; ${err}`);
  }
}

/** The verify flow shared by `verify` and `demo`. */
async function verify(o: Record<string, unknown>): Promise<SimResult> {
  const d = designFromOptions(o);
  const dir = String(o.out ?? path.join("rtl-out", `verify-${d.name}`));
  const designDir = path.join(dir, "design");
  const imagesDir = path.join(dir, "images");
  log(`verify: generating ${d.name} into ${designDir}`);
  writeDesign(designDir, d);
  const layers = applyBudget(d, layersFromOptions(o, d), o);
  log(`verify: quantizing ${layers.length} layer(s) into ${imagesDir}`);
  quantizeToDir(d, layers, imagesDir, { log });
  printGolden(imagesDir);
  const r = await simulate(designDir, imagesDir, { simulator: o.simulator as SimResult["simulator"], log });
  writeFileAtomic(path.join(dir, "sim-result.json"), JSON.stringify(r, null, 1) + "\n");
  return r;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof UserError) {
      process.stderr.write(`oltron: error: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}
