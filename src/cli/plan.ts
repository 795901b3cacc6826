/**
 * `oltron plan`: where each TOBE input reorder goes at compile time, for a block file or a
 * built-in LLaMA-7B / OPT-6.7B-shaped block. Planning never materialises weights: seeded
 * weights stay seeds, and permuting them only records gathers.
 */
import { printJson } from "./json-outputs.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { buildBlocks, example, exampleNames } from "../dataflow/blocks.js";
import { readJson, writeFileAtomic } from "../dataflow/io.js";
import { DEFAULT_PERMUTATIONS, graphToJson, modelFromJson, stringifyModel, type Model } from "../dataflow/json.js";
import { formatPlan, planModel, planToJson } from "../dataflow/plan.js";

interface PlanOptions {
  example?: string;
  out?: string;
  json?: boolean;
  permSeed?: string;
}

export function registerPlanCommand(program: Command): void {
  program
    .command("plan")
    .description("fold every TOBE input reorder into producer weight columns or norm output addressing, and report where each went")
    .argument("[block.json]", `block or graph JSON (docs/dataflow.md); default: the llama7b example`)
    .option("--example <name>", `example block (${allExampleNames().join(", ")})`)
    .option("--out <file>", "write the rewritten graph (permuted weights, no explicit reorders where foldable) as JSON")
    .option("--json", "print the plan as JSON instead of a table")
    .option("--perm-seed <n>", "derive every permutation from this seed (overrides the file's permutations section)")
    .action((file: string | undefined, opts: PlanOptions) => runPlan(file, opts));
}

/** The example blocks shipped as files (examples/blocks/<name>.json), by name. */
const EXAMPLE_DIR = fileURLToPath(new URL("../../examples/blocks/", import.meta.url));

function shippedExamples(): string[] {
  try {
    return fs.readdirSync(EXAMPLE_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

/** Every example name `--block` and `plan --example` take: the built-in blocks and the shipped files. */
export function allExampleNames(): string[] {
  return [...new Set([...exampleNames(), ...shippedExamples()])];
}

/** A block file, or the name of an example block (built in, or shipped in examples/blocks). */
export function loadModel(fileOrExample: string): Model {
  if (exampleNames().includes(fileOrExample)) return exampleModel(fileOrExample);
  if (fs.existsSync(fileOrExample)) return modelFromJson(readJson(fileOrExample), fileOrExample);
  if (shippedExamples().includes(fileOrExample)) {
    const file = path.join(EXAMPLE_DIR, `${fileOrExample}.json`);
    return modelFromJson(readJson(file), file);
  }
  throw new UserError(`block '${fileOrExample}' is neither a file nor an example (${allExampleNames().join(", ")})`);
}

export function runPlan(file: string | undefined, opts: PlanOptions): void {
  if (file && opts.example) throw new UserError(`give a block file or --example, not both (got ${file} and --example ${opts.example})`);
  if (opts.example !== undefined && !allExampleNames().includes(opts.example)) {
    throw new UserError(`--example: unknown example '${opts.example}' (known: ${allExampleNames().join(", ")})`);
  }
  const model: Model = file ? modelFromJson(readJson(file), file) : loadModel(opts.example ?? "llama7b");
  if (opts.permSeed !== undefined) {
    const seed = Number(opts.permSeed);
    // The seeded generator takes 32-bit seeds; a larger number would be silently cut.
    if (!/^\d+$/.test(String(opts.permSeed).trim()) || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new UserError(`--perm-seed must be an integer in 0..4294967295, got '${opts.permSeed}'`);
    }
    model.permutations = { layers: {}, derive: { ...model.permutations.derive, seed } };
  }
  const result = planModel(model);
  if (opts.out) writeFileAtomic(opts.out, stringifyModel(graphToJson(result.graph)));
  if (opts.json) printJson("plan", planToJson(model.graph, result), 2);
  else process.stdout.write(formatPlan(model.graph, result) + (opts.out ? `\nrewritten graph written to ${opts.out}` : "") + "\n");
}

function exampleModel(name: string): Model {
  const blocks = example(name);
  return { graph: buildBlocks(blocks), permutations: DEFAULT_PERMUTATIONS, blocks };
}
