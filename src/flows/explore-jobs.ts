/**
 * A sweep as data (docs/cluster.md): the plan lists every independent job of an explore run
 * (one silicon flow per design, one point per design x budget x plan x layer x seed), each
 * with its full inputs and a key that hashes them with the generator and tool versions; the
 * shared machinery (flows/jobs.ts) runs them by index. Results: silicon/<key>.json and
 * points/<key>.json. `collect` merges them in plan order with the same code whatever ran them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../core/errors.js";
import { sha256, writeFileAtomic, writeOwnedFile } from "../core/files.js";
import { checkIndices, JOB_FOLDERS, planStatus, readJson, requireFinished, runPlanJob, writeJson, type JobKind, type JobStatus } from "./jobs.js";
import { GENERATOR_VERSION, type ElaboratedDesign } from "../hw/design.js";
import { siliconReport, siliconToolVersions, type SiliconReport } from "../hw/silicon.js";
import { checkSimulator } from "../sim/build.js";
import { exploreConfigSchema, type ExploreConfig } from "./explore-config.js";
import { evaluatePoint, explorePoints, pointDesign, pointKey, storedPoint, storePoint, type ExplorePoint, type PointResult } from "./explore.js";

export const PLAN_FILE = "plan.json";

export interface ExploreJob {
  index: number;
  kind: "silicon" | "point";
  /** Hash of the job's inputs, the generator and the tool versions: its result's file name. */
  key: string;
  design: string;
  point?: ExplorePoint;
}

export interface ExplorePlan {
  format: "oltron-explore-plan";
  version: 1;
  generator: string;
  /** Versions every result depends on; `collect` refuses results made with others. */
  tools: Record<string, string>;
  config: ExploreConfig;
  rtlSample: boolean;
  jobs: ExploreJob[];
}

const planSchema = z.object({
  format: z.literal("oltron-explore-plan"),
  version: z.literal(1),
  generator: z.string(),
  tools: z.record(z.string()),
  config: exploreConfigSchema,
  rtlSample: z.boolean(),
  jobs: z.array(z.object({ index: z.number().int().min(0), kind: z.enum(["silicon", "point"]), key: z.string().regex(/^[0-9a-f]{16}$/), design: z.string() }).passthrough()),
});

async function toolVersions(rtlSample: boolean): Promise<Record<string, string>> {
  const t: Record<string, string> = { node: process.version, ...(await siliconToolVersions()) };
  if (rtlSample) t.verilator = await checkSimulator("verilator");
  return t;
}

/**
 * The plan of a sweep: silicon jobs first (one per design), then the points in the sweep's
 * order. Deterministic: the same configuration and tools give the same plan.
 */
export async function makePlan(cfg: ExploreConfig, rtlSample: boolean): Promise<ExplorePlan> {
  const tools = await toolVersions(rtlSample);
  return { format: "oltron-explore-plan", version: 1, generator: GENERATOR_VERSION, tools, config: cfg, rtlSample, jobs: planJobs(cfg, rtlSample, tools) };
}

/** The jobs of a sweep and their keys, for these tool versions. */
function planJobs(cfg: ExploreConfig, rtlSample: boolean, tools: Record<string, string>): ExploreJob[] {
  const toolsKey = JSON.stringify(tools);
  const points = explorePoints(cfg).map((p) => ({ p, d: pointDesign(p) }));
  const designs = [...new Set(points.map((x) => x.d.name))];
  return [
    ...designs.map((name, index): ExploreJob => ({ index, kind: "silicon", key: sha256(JSON.stringify({ v: GENERATOR_VERSION, silicon: name, tools: toolsKey })).slice(0, 16), design: name })),
    ...points.map(({ p, d }, i): ExploreJob => ({
      index: designs.length + i, kind: "point", key: sha256(pointKey(p, cfg, d, rtlSample) + toolsKey).slice(0, 16), design: d.name, point: p,
    })),
  ];
}

/** The folders of an explore results folder that its jobs write into, each wholly oltron's. */
export const EXPLORE_JOB_FOLDERS = [...JOB_FOLDERS, "silicon", "points"];

export function writePlan(dir: string, plan: ExplorePlan): string {
  const file = path.join(dir, PLAN_FILE);
  writeOwnedFile(dir, PLAN_FILE, JSON.stringify(plan, null, 1) + "\n");
  return file;
}

/** Reads a plan file, or a results folder's plan; a damaged or foreign file is named. */
export function readPlan(fileOrDir: string): { plan: ExplorePlan; file: string; dir: string } {
  const file = fs.existsSync(fileOrDir) && fs.statSync(fileOrDir).isDirectory() ? path.join(fileOrDir, PLAN_FILE) : fileOrDir;
  if (!fs.existsSync(file)) throw new UserError(`${file}: no explore plan here (write one with 'oltron explore --plan --out <dir>')`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError(`${file}: not an explore plan (not JSON: ${(e as Error).message})`);
  }
  const parsed = planSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UserError(`${file}: not an explore plan this oltron reads (${i.path.join(".") || "file"}: ${i.message})`);
  }
  const plan = parsed.data as ExplorePlan;
  checkIndices(file, plan.jobs, "oltron explore --plan");
  // A job runs with this oltron and files its result under the plan's key: the plan must be
  // this generator's, and every job's inputs what its configuration plans (nothing hand-edited).
  // Keys depend on the tool versions too: collect compares them with today's (checkPlanCurrent).
  if (plan.generator !== GENERATOR_VERSION) {
    throw new UserError(`${file}: written by generator ${plan.generator}, this is ${GENERATOR_VERSION}; write the plan again with 'oltron explore --plan' (finished jobs whose keys did not change are kept)`);
  }
  const want = planJobs(plan.config, plan.rtlSample, {});
  const inputs = (j: ExploreJob) => JSON.stringify([j.index, j.kind, j.design, j.point ?? null]);
  const edited = want.length !== plan.jobs.length ? -1 : want.findIndex((j, i) => inputs(j) !== inputs(plan.jobs[i]));
  if (edited !== -1 || want.length !== plan.jobs.length) {
    throw new UserError(`${file}: ${edited >= 0 ? `job ${edited} is not what the plan's configuration gives` : `the plan lists ${plan.jobs.length} jobs, its configuration gives ${want.length}`}: the plan was edited; write it again with 'oltron explore --plan'`);
  }
  return { plan, file, dir: path.dirname(file) };
}

/**
 * Refuses a plan whose inputs no longer match what this oltron and these tools would plan:
 * its results would not be what a new run makes.
 */
export async function checkPlanCurrent(plan: ExplorePlan, file: string): Promise<void> {
  const now = await makePlan(plan.config, plan.rtlSample);
  const changed: string[] = [];
  if (now.generator !== plan.generator) changed.push(`generator ${plan.generator} -> ${now.generator}`);
  for (const k of new Set([...Object.keys(plan.tools), ...Object.keys(now.tools)])) {
    if (plan.tools[k] !== now.tools[k]) changed.push(`${k} '${plan.tools[k] ?? "-"}' -> '${now.tools[k] ?? "-"}'`);
  }
  const keysDiffer = now.jobs.length !== plan.jobs.length || now.jobs.some((j, i) => j.key !== plan.jobs[i].key);
  if (changed.length > 0 || keysDiffer) {
    throw new UserError(
      `${file}: the plan's inputs changed since it was made (${changed.join("; ") || "job inputs differ"}), so its results are not what this oltron computes; ` +
        `write a new plan with 'oltron explore --plan --out ${path.dirname(file)}' and run it (finished jobs of an unchanged key are kept)`,
    );
  }
}

const resultFile = (dir: string, j: ExploreJob) => path.join(dir, j.kind === "silicon" ? "silicon" : "points", `${j.key}.json`);

function storedSilicon(dir: string, j: ExploreJob): SiliconReport | undefined {
  const r = readJson<{ key: string; report: SiliconReport }>(resultFile(dir, j));
  return r && r.key === j.key ? r.report : undefined;
}

export const EXPLORE_JOBS: JobKind<ExploreJob> = {
  command: ["explore", "run-job"],
  isDone: (dir, j) => (j.kind === "silicon" ? storedSilicon(dir, j) !== undefined : storedPoint(dir, j.key) !== undefined),
  describe: (j) => describeJob(j),
};

/** Runs job `index` of the plan unless its result is there (flows/jobs.ts says how). */
export function runJob(plan: ExplorePlan, dir: string, index: number, log: (s: string) => void): Promise<"ran" | "done" | "failed"> {
  return runPlanJob(EXPLORE_JOBS, plan.jobs, dir, index, log, async (j, jobLog) => {
    const d = pointDesign(j.point ?? designPointOf(plan, j));
    if (d.name !== j.design) throw new Error(`job ${j.index} names design ${j.design} but its point elaborates to ${d.name}`);
    const si = await siliconFor(plan, dir, d, j, jobLog);
    if (j.kind === "point") {
      const r = await evaluatePoint(j.point!, plan.config, d, si, { rtl: plan.rtlSample, log: jobLog });
      // Filed under the job's key, which also covers the tools.
      storePoint(dir, { ...r, key: j.key });
    }
  });
}

/** A silicon job's design point: the first point of the plan on that design. */
function designPointOf(plan: ExplorePlan, j: ExploreJob): ExplorePoint {
  const p = plan.jobs.find((x) => x.kind === "point" && x.design === j.design)?.point;
  if (!p) throw new Error(`silicon job ${j.index}: no point of the plan uses design ${j.design}`);
  return p;
}

/**
 * The design's silicon: the plan's silicon job result when it is there, else the flow itself
 * (cached and locked per design, so concurrent jobs of one design run it once). A job files
 * only its own result: the silicon job stays pending until it runs (then from the cache).
 */
async function siliconFor(plan: ExplorePlan, dir: string, d: ElaboratedDesign, j: ExploreJob, log: (s: string) => void): Promise<SiliconReport> {
  const sj = plan.jobs.find((x) => x.kind === "silicon" && x.design === d.name)!;
  const stored = storedSilicon(dir, sj);
  if (stored) return stored;
  const { cached: _cached, ...report } = await siliconReport(d, log);
  if (j.kind === "silicon") writeJson(resultFile(dir, j), { key: j.key, design: d.name, report });
  return report;
}

export function describeJob(j: ExploreJob): string {
  if (j.kind === "silicon") return `silicon of ${j.design}`;
  const p = j.point!;
  return `${j.design} ${p.layer.type} ${p.layer.k}x${p.layer.n} seed ${p.seed}${p.budget !== undefined ? ` B=${p.budget}` : ""}${p.plan ? ` ${p.plan}` : ""}`;
}

export function exploreStatus(plan: ExplorePlan, dir: string, slurmLive?: ReadonlySet<string>): JobStatus<ExploreJob>[] {
  return planStatus(EXPLORE_JOBS, plan.jobs, dir, slurmLive);
}

/** The merged results of a finished plan, in plan order; refuses while any job is not done. */
export function collectResults(plan: ExplorePlan, dir: string, slurmLive?: ReadonlySet<string>): { points: PointResult[]; silicon: Map<string, SiliconReport> } {
  requireFinished(EXPLORE_JOBS, plan.jobs, dir, slurmLive);
  const silicon = new Map<string, SiliconReport>();
  for (const j of plan.jobs) if (j.kind === "silicon") silicon.set(j.design, storedSilicon(dir, j)!);
  const points = plan.jobs.filter((j) => j.kind === "point").map((j) => storedPoint(dir, j.key)!);
  return { points, silicon };
}
