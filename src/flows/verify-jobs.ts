/**
 * A long co-simulation as jobs (docs/cluster.md): `oltron verify --plan` quantizes every layer
 * of a layer list or block into its own image folder, beside one generated design, and plans
 * one co-simulation per layer. Each job simulates its layer alone (the design's simulator
 * build is shared through the cache and its lock) and publishes its sim-result as
 * results/<key>.json; `collect` merges them in plan order. A layer simulated alone starts
 * from an idle accelerator: its cycles are the layer's own, without the overlap with its
 * neighbours that one whole run has (the outputs, and so bit-exactness, do not depend on it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../core/errors.js";
import { sha256 } from "../core/files.js";
import { GENERATOR_VERSION, type ElaboratedDesign } from "../hw/design.js";
import { checkSimulator, type Simulator } from "../sim/build.js";
import type { MemoryModel } from "../sim/driver.js";
import type { LayerInput } from "../quant/quantizer.js";
import { loadDesign, writeDesign } from "./design.js";
import { checkIndices, planStatus, prepareJobFolders, readJson, requireFinished, runPlanJob, writeJson, type JobKind, type JobStatus, type PlanJob } from "./jobs.js";
import { quantizeToDir } from "./quantize.js";
import { simulate, type SimResult } from "./simulate.js";

export const VERIFY_PLAN_FILE = "plan.json";

export interface VerifyJob extends PlanJob {
  layer: string;
  /** The layer's image folder, relative to the plan's folder. */
  images: string;
}

/** What every job's simulation is run with. */
export interface VerifySimOptions {
  simulator: Simulator;
  memory: MemoryModel;
  maxCycles?: number;
  maxSeconds?: number;
  buildFlags: string[];
  threads: number;
}

export interface VerifyPlan {
  format: "oltron-verify-plan";
  version: 1;
  generator: string;
  tools: Record<string, string>;
  design: string;
  sim: VerifySimOptions;
  jobs: VerifyJob[];
}

const planSchema = z.object({
  format: z.literal("oltron-verify-plan"),
  version: z.literal(1),
  generator: z.string(),
  tools: z.record(z.string()),
  design: z.string(),
  sim: z.object({ simulator: z.enum(["verilator", "icarus"]), memory: z.object({}).passthrough(), buildFlags: z.array(z.string()), threads: z.number().int().min(1) }).passthrough(),
  jobs: z.array(z.object({ index: z.number().int().min(0), key: z.string().regex(/^[0-9a-f]{16}$/), layer: z.string(), images: z.string() })),
});

const resultFile = (dir: string, j: VerifyJob) => path.join(dir, "results", `${j.key}.json`);

function storedResult(dir: string, j: VerifyJob): SimResult | undefined {
  const r = readJson<{ key: string; result: SimResult }>(resultFile(dir, j));
  return r && r.key === j.key ? r.result : undefined;
}

export const VERIFY_JOBS: JobKind<VerifyJob> = {
  command: ["verify", "run-job"],
  isDone: (dir, j) => storedResult(dir, j) !== undefined,
  describe: (j) => `co-simulation of layer ${j.layer}`,
};

/**
 * Writes the plan's folder contents into `dir` (empty): design/, layers/<i>-<name>/images,
 * plan.json. Layers are quantized one per folder, each exactly as a whole run would.
 */
export async function writeVerifyPlan(dir: string, d: ElaboratedDesign, layers: LayerInput[], sim: VerifySimOptions, log: (s: string) => void): Promise<VerifyPlan> {
  const tools = { node: process.version, [sim.simulator]: await checkSimulator(sim.simulator) };
  writeDesign(path.join(dir, "design"), d);
  const jobs: VerifyJob[] = [];
  for (const [i, l] of layers.entries()) {
    const images = path.join("layers", `${i}-${l.name.replace(/[^\w.-]/g, "_")}`, "images");
    log(`verify: quantizing layer ${i + 1}/${layers.length} (${l.name}) into ${images}`);
    quantizeToDir(d, [l], path.join(dir, images), { log: () => {} });
    const manifest = fs.readFileSync(path.join(dir, images, "manifest.json"), "utf8");
    const key = jobKey(tools, d.hash, sim, manifest);
    jobs.push({ index: i, key, layer: l.name, images });
  }
  const plan: VerifyPlan = { format: "oltron-verify-plan", version: 1, generator: GENERATOR_VERSION, tools, design: d.name, sim, jobs };
  writeJson(path.join(dir, VERIFY_PLAN_FILE), plan);
  prepareJobFolders(dir, ["results"]);
  return plan;
}

/** A layer job's key: its images (through the manifest's checksums), the design, the simulation options and the tools. */
function jobKey(tools: Record<string, string>, designHash: string, sim: VerifySimOptions, manifest: string): string {
  return sha256(JSON.stringify({ v: GENERATOR_VERSION, tools, d: designHash, sim, manifest: sha256(manifest) })).slice(0, 16);
}

/** Reads a verify plan file, or the plan of a folder. */
export function readVerifyPlan(fileOrDir: string): { plan: VerifyPlan; file: string; dir: string } {
  const file = fs.existsSync(fileOrDir) && fs.statSync(fileOrDir).isDirectory() ? path.join(fileOrDir, VERIFY_PLAN_FILE) : fileOrDir;
  if (!fs.existsSync(file)) throw new UserError(`${file}: no verify plan here (write one with 'oltron verify --layers <list> --plan --out <dir>')`);
  const raw = readJson<unknown>(file);
  const parsed = planSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UserError(`${file}: not a verify plan this oltron reads (${raw === undefined ? "not JSON" : `${i.path.join(".") || "file"}: ${i.message}`})`);
  }
  const plan = parsed.data as unknown as VerifyPlan;
  checkIndices(file, plan.jobs, "oltron verify --plan");
  return { plan, file, dir: path.dirname(file) };
}

export function runVerifyJob(plan: VerifyPlan, dir: string, index: number, log: (s: string) => void): Promise<"ran" | "done" | "failed"> {
  return runPlanJob(VERIFY_JOBS, plan.jobs, dir, index, log, async (j, jobLog) => {
    // The images and design must be what the plan was made from: an edited folder would file
    // another computation under this key.
    const manifest = fs.readFileSync(path.join(dir, j.images, "manifest.json"), "utf8");
    if (jobKey(plan.tools, loadDesign(path.join(dir, "design")).hash, plan.sim, manifest) !== j.key) {
      throw new Error(`layer ${j.layer}: ${j.images}/manifest.json or the design changed since the plan was made; write the plan again with 'oltron verify ... --plan'`);
    }
    // A hang or an accelerator error is the layer's result (collect reports it), not a job failure.
    const r = await simulate(path.join(dir, "design"), path.join(dir, j.images), { ...plan.sim, log: jobLog });
    writeJson(resultFile(dir, j), { key: j.key, result: r });
  });
}

export function verifyStatus(plan: VerifyPlan, dir: string, slurmLive?: ReadonlySet<string>): JobStatus<VerifyJob>[] {
  return planStatus(VERIFY_JOBS, plan.jobs, dir, slurmLive);
}

/** Every job's sim-result in plan order; refuses while any job is unfinished. */
export function collectVerify(plan: VerifyPlan, dir: string, slurmLive?: ReadonlySet<string>): SimResult[] {
  requireFinished(VERIFY_JOBS, plan.jobs, dir, slurmLive);
  return plan.jobs.map((j) => storedResult(dir, j)!);
}
