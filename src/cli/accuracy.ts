/**
 * `oltron bench accuracy`: the accuracy benchmark's command line (registered under `bench`).
 * Thin: parse and validate flags (UserError with the flag's name), run, print, write.
 */
import { printJson } from "./json-outputs.js";
import * as path from "node:path";
import type { Command } from "commander";
import type { ActivationModel, WeightModel } from "../data/synthetic.js";
import {
  accuracyMarkdown, DEFAULT_BUDGETS, DEFAULT_CALIB_TOKENS, DEFAULT_SEEDS, DEFAULT_SIZES, runAccuracyBenchParallel, type AccuracyBenchOptions,
} from "../bench/accuracy.js";
import { log } from "../core/console.js";
import type { WeightQuant } from "../quant/gptq.js";
import { elaborate, PRESETS, resolveConfig, type ArchConfig } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import { checkOutputFolder } from "../core/files.js";
import { LAYER_TYPES, type LayerType } from "../data/synthetic.js";
import { readTensorFile } from "../data/tensorio.js";

interface AccuracyFlags {
  out?: string;
  budgets: string;
  seed?: string;
  seeds?: string;
  calibTokens?: string;
  weights?: string;
  variation?: boolean;
  m?: string;
  k?: string;
  n?: string;
  layers?: string;
  preset?: string;
  rows?: string;
  cols?: string;
  flexLines?: string;
  salientTypes?: string;
  maxTileOverhead?: string;
  maxImageBits?: string;
  preferSimpler?: boolean;
  weightModels?: string;
  weightClip?: boolean;
  activationModels?: string;
  x?: string;
  w?: string;
  xName?: string;
  wName?: string;
  json?: boolean;
}

/** Parses "4.05,4.1" into numbers; every entry must be a budget in (4, 16]. */
export function parseBudgets(s: string): number[] {
  const parts = s.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.every((p) => p === "")) throw new UserError("--budgets is empty: expected a comma list like 4.05,4.1,4.25,4.5");
  return parts.map((p) => {
    const b = p === "" ? NaN : Number(p);
    if (!Number.isFinite(b) || !(b > 4 && b <= 16)) {
      throw new UserError(`invalid budget '${p}' in --budgets: must be a number in (4, 16] (average activation bits; 4 is plain int4)`);
    }
    return b;
  });
}

function intFlag(flag: string, v: string, lo: number, hi: number): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < lo || n > hi) throw new UserError(`${flag} must be an integer in ${lo}..${hi}, got '${v}'`);
  return n;
}

function designFromFlags(o: AccuracyFlags): AccuracyBenchOptions["design"] {
  const custom = o.preset !== undefined || o.rows !== undefined || o.cols !== undefined || o.flexLines !== undefined || o.salientTypes !== undefined;
  if (!custom) return undefined;
  const preset = o.preset ?? "default";
  if (!PRESETS[preset]) throw new UserError(`unknown preset '${preset}' (--preset): expected one of ${Object.keys(PRESETS).join(", ")}`);
  const partial: Partial<ArchConfig> = {};
  if (o.rows !== undefined) partial.rows = intFlag("--rows", o.rows, 2, 256);
  if (o.cols !== undefined) partial.cols = intFlag("--cols", o.cols, 2, 256);
  if (o.flexLines !== undefined) partial.flexLines = intFlag("--flex-lines", o.flexLines, 0, 256);
  if (o.salientTypes !== undefined) {
    partial.salientTypes = o.salientTypes === "none" ? [] : (o.salientTypes.split(",").map((t) => t.trim()) as ArchConfig["salientTypes"]);
  }
  const base = resolveConfig({}, preset);
  // The activation row must fit the memory word rules: widen the word for wide arrays.
  if (partial.rows !== undefined && partial.memWordBits === undefined) {
    const rowBits = 4 * (partial.rows + (partial.flexLines ?? base.flexLines));
    let w = base.memWordBits;
    while (w < rowBits && w < 4096) w *= 2;
    partial.memWordBits = w;
  }
  return elaborate(resolveConfig(partial, preset));
}

/** Adds `accuracy` under the `bench` command. */
export function registerAccuracyCommands(bench: Command): void {
  bench
    .command("accuracy")
    .description(
      "accuracy benchmark: adaptive TOBE vs OliVe as released, the Oltron authors' quantizer, QuaRot, tuned OVP, int4/int8 and fixed TOBE; " +
        "held-out layer-output SQNR per layer type, budget and weight quantization over several seeds, written as accuracy.json and accuracy.md",
    )
    .option("--out <dir>", "results folder (default bench/results)")
    .option("--budgets <list>", "average activation bit budgets, each in (4, 16]", DEFAULT_BUDGETS.join(","))
    .option("--seed <n>", "one seed of the synthetic layers (instead of --seeds)")
    .option("--seeds <list>", `seeds of the synthetic layers; figures are means and spreads over them (default ${DEFAULT_SEEDS.join(",")})`)
    .option("--m <n>", `evaluation tokens per layer (default ${DEFAULT_SIZES.m})`)
    .option("--calib-tokens <n>", `calibration tokens before the evaluation tokens (default ${DEFAULT_CALIB_TOKENS})`)
    .option("--weights <list>", "weight quantizations, each a full set of rows: rtn, gptq (default rtn,gptq)")
    .option("--weight-models <list>", "weight models of the synthetic layers, side by side: gaussian, heavy (default gaussian,heavy)")
    .option("--activation-models <list>", "activation models of the synthetic layers, side by side: profile, mechanistic (default profile,mechanistic)")
    .option("--no-weight-clip", "shared int4 weights at max/7 instead of the clip search every method gets (QuaRot's --w_clip)")
    .option("--no-variation", "i.i.d. synthetic tokens (no drift, two-sided channels or recurring massive tokens)")
    .option("--k <n>", `input channels (default ${DEFAULT_SIZES.k})`)
    .option("--n <n>", `output channels (default ${DEFAULT_SIZES.n})`)
    .option("--layers <list>", `synthetic layer types, comma list of ${LAYER_TYPES.join(",")} (default all)`)
    .option("--preset <name>", `run on one design from this preset (${Object.keys(PRESETS).join(", ")}) instead of the two default 64x64 designs`)
    .option("--rows <n>", "array rows of that design")
    .option("--cols <n>", "array columns of that design")
    .option("--flex-lines <n>", "flexible lines of that design")
    .option("--salient-types <list>", "salient types of that design: fp8,fp12 or a subset, or none")
    .option("--max-tile-overhead <x>", "adaptive plans may use at most minTiles x (1 + x) tiles (default unconstrained)")
    .option("--max-image-bits <b>", "adaptive plans may store at most b bits per activation in the memory image (default unconstrained)")
    .option("--prefer-simpler", "adaptive plans give way to the simplest plan inside the noise of the calibration tokens' two halves")
    .option("--x <file>", "your activations [M x K] (.npy or .safetensors) instead of synthetic layers")
    .option("--w <file>", "your weights [K x N] (.npy or .safetensors)")
    .option("--x-name <name>", "tensor name inside a .safetensors --x file")
    .option("--w-name <name>", "tensor name inside a .safetensors --w file")
    .option("--json", "print the JSON result instead of the markdown tables")
    .action(async function (this: Command, o: AccuracyFlags) {
      // `bench` has its own --out; commander gives a flag to the parent when both define it.
      const parentOut = (this.parent?.opts() as { out?: string } | undefined)?.out;
      const out = o.out ?? parentOut ?? "bench/results";
      if (!out) throw new UserError("--out needs a folder");
      checkOutputFolder("--out", out);
      if (o.seed !== undefined && o.seeds !== undefined) throw new UserError("give --seed or --seeds, not both");
      const seeds = o.seed !== undefined ? [intFlag("--seed", o.seed, 0, 2 ** 32 - 1)]
        : o.seeds !== undefined ? o.seeds.split(",").map((v) => intFlag("--seeds", v.trim(), 0, 2 ** 32 - 1)) : [...DEFAULT_SEEDS];
      const weights = (o.weights ?? "rtn,gptq").split(",").map((v) => v.trim());
      for (const wq of weights) if (!["rtn", "gptq"].includes(wq)) throw new UserError(`unknown weight quantization '${wq}' in --weights: expected rtn and/or gptq`);
      const opts: AccuracyBenchOptions = {
        budgets: parseBudgets(o.budgets),
        seeds,
        weights: weights as WeightQuant[],
        variation: o.variation !== false,
        weightClip: o.weightClip !== false,
        ...(o.activationModels !== undefined ? { activationModels: o.activationModels.split(",").map((v) => v.trim()) as ActivationModel[] } : {}),
        ...(o.weightModels !== undefined ? { weightModels: o.weightModels.split(",").map((v) => v.trim()) as WeightModel[] } : {}),
        ...(o.calibTokens !== undefined ? { calibTokens: intFlag("--calib-tokens", o.calibTokens, 1, 65536) } : {}),
        out,
        log,
        design: designFromFlags(o),
      };
      if (o.maxTileOverhead !== undefined) {
        const v = Number(o.maxTileOverhead);
        if (o.maxTileOverhead.trim() === "" || !Number.isFinite(v) || v < 0) throw new UserError(`--max-tile-overhead must be a number >= 0, got '${o.maxTileOverhead}'`);
        opts.adaptive = { maxTileOverhead: v };
      }
      if (o.maxImageBits !== undefined) {
        const v = Number(o.maxImageBits);
        if (o.maxImageBits.trim() === "" || !Number.isFinite(v) || v <= 0) throw new UserError(`--max-image-bits must be a number > 0, got '${o.maxImageBits}'`);
        opts.adaptive = { ...opts.adaptive, maxImageBits: v };
      }
      if (o.preferSimpler) opts.adaptive = { ...opts.adaptive, preferSimpler: true };
      if (o.x || o.w) {
        if (!o.x || !o.w) throw new UserError("--x and --w go together: give both the activations and the weights");
        if (o.layers) throw new UserError("give either --layers or --x/--w, not both");
        if (o.m || o.k || o.n) throw new UserError("--m/--k/--n describe synthetic layers; with --x/--w the shapes come from the files");
        opts.x = readTensorFile(o.x, o.xName);
        opts.w = readTensorFile(o.w, o.wName);
        opts.name = path.basename(o.x).replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_.-]/g, "_") || "user";
      } else {
        if (o.xName !== undefined || o.wName !== undefined) throw new UserError(`${o.xName !== undefined ? "--x-name" : "--w-name"} names a tensor inside a .safetensors --x/--w file: give --x and --w with it`);
        if (o.m !== undefined) opts.m = intFlag("--m", o.m, 1, 65536);
        if (o.k !== undefined) opts.k = intFlag("--k", o.k, 1, 65536);
        if (o.n !== undefined) opts.n = intFlag("--n", o.n, 1, 65536);
        if (o.layers !== undefined) {
          const types = o.layers.split(",").map((t) => t.trim());
          for (const t of types) {
            if (!(LAYER_TYPES as readonly string[]).includes(t)) throw new UserError(`unknown layer type '${t}' in --layers: expected some of ${LAYER_TYPES.join(", ")}`);
          }
          opts.layerTypes = types as LayerType[];
        }
      }
      const r = await runAccuracyBenchParallel(opts);
      const json = o.json ?? (this.parent?.opts() as { json?: boolean } | undefined)?.json;
      if (json) printJson("bench-accuracy", r);
      else console.log(accuracyMarkdown(r));
      process.stderr.write(`wrote ${path.join(out, "accuracy.json")} and accuracy.md\n`);
    });
}
