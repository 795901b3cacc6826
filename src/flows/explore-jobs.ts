/**
 * A sweep as data (docs/cluster.md): the plan lists every independent job of an explore run
 * (one silicon flow per design, one point per design x budget x plan x layer x seed), each
 * with its full inputs and a key that hashes them with the generator and tool versions. Any
 * engine runs a job by its index (`oltron explore run-job <plan> <index>`: the local worker
 * pool, a Slurm job array, GNU parallel, LSF, SGE); a job writes its result atomically under
 * the results folder, named by its key, so a finished job is never recomputed and a killed
 * one leaves no file a later run could take for a result. `collect` merges the results in
 * plan order with the same code whatever ran them.
 *
 * Results folder: plan.json, silicon/<key>.json, points/<key>.json, running/<key>.json
 * (who runs a job now), failed/<key>.json (its error and log), logs/<index>.log.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../core/errors.js";
import { sha256, writeFileAtomic } from "../core/files.js";
import { trackTemp } from "../core/children.js";
import { alive } from "../core/lock.js";
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
  const toolsKey = JSON.stringify(tools);
  const points = explorePoints(cfg);
  const designs = new Map<string, ElaboratedDesign>();
  for (const p of points) {
    const d = pointDesign(p);
    if (!designs.has(d.name)) designs.set(d.name, d);
  }
  const jobs: ExploreJob[] = [];
  for (const d of designs.values()) {
    jobs.push({ index: jobs.length, kind: "silicon", key: sha256(JSON.stringify({ v: GENERATOR_VERSION, silicon: d.name, tools: toolsKey })).slice(0, 16), design: d.name });
  }
  for (const p of points) {
    const d = pointDesign(p);
    jobs.push({ index: jobs.length, kind: "point", key: sha256(pointKey(p, cfg, d, rtlSample) + toolsKey).slice(0, 16), design: d.name, point: p });
  }
  return { format: "oltron-explore-plan", version: 1, generator: GENERATOR_VERSION, tools, config: cfg, rtlSample, jobs };
}

export function writePlan(dir: string, plan: ExplorePlan): string {
  const file = path.join(dir, PLAN_FILE);
  writeFileAtomic(file, JSON.stringify(plan, null, 1) + "\n");
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
  plan.jobs.forEach((j, i) => {
    if (j.index !== i) throw new UserError(`${file}: job ${i} has index ${j.index}: the plan was edited; write it again with 'oltron explore --plan'`);
  });
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
const runningFile = (dir: string, j: ExploreJob) => path.join(dir, "running", `${j.key}.json`);
const failedFile = (dir: string, j: ExploreJob) => path.join(dir, "failed", `${j.key}.json`);
export const jobLogFile = (dir: string, j: ExploreJob) => path.join(dir, "logs", `${j.index}.log`);

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function storedSilicon(dir: string, j: ExploreJob): SiliconReport | undefined {
  const r = readJson<{ key: string; report: SiliconReport }>(resultFile(dir, j));
  return r && r.key === j.key ? r.report : undefined;
}

function isDone(dir: string, j: ExploreJob): boolean {
  return j.kind === "silicon" ? storedSilicon(dir, j) !== undefined : storedPoint(path.join(dir), j.key) !== undefined;
}

function writeJson(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, JSON.stringify(v, null, 1) + "\n");
}

/** A point's stored result is filed under the job's key, which also covers the tools. */
function storeJobPoint(dir: string, j: ExploreJob, r: PointResult): void {
  storePoint(dir, { ...r, key: j.key });
}

/**
 * Runs job `index` of the plan unless its result is there. Writes the result atomically,
 * a running marker while it works and a failure record (error, log) when it fails; returns
 * whether the job ran ("ran"), was already finished ("done") or failed ("failed").
 */
export async function runJob(plan: ExplorePlan, dir: string, index: number, log: (s: string) => void): Promise<"ran" | "done" | "failed"> {
  const j = plan.jobs[index];
  if (!j) throw new UserError(`job index ${index} is outside the plan: it has jobs 0..${plan.jobs.length - 1}`);
  if (isDone(dir, j)) {
    log(`job ${index} (${describeJob(j)}): finished earlier, kept`);
    return "done";
  }
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  const logFile = jobLogFile(dir, j);
  const lines: string[] = [];
  const jobLog = (s: string) => {
    lines.push(s);
    fs.appendFileSync(logFile, `${new Date().toISOString()} ${s}\n`);
    log(s);
  };
  writeJson(runningFile(dir, j), { index, key: j.key, host: os.hostname(), pid: process.pid, started: new Date().toISOString(), ...slurmIds() });
  // An interrupt (Ctrl-C, scancel's SIGTERM) removes the marker with the other temporaries.
  const untrack = trackTemp(runningFile(dir, j));
  try {
    jobLog(`job ${index} (${describeJob(j)}) on ${os.hostname()} pid ${process.pid}: started`);
    const d = pointDesign(j.point ?? designPointOf(plan, j));
    if (d.name !== j.design) throw new Error(`job ${index} names design ${j.design} but its point elaborates to ${d.name}`);
    const si = await siliconFor(plan, dir, d, j, jobLog);
    if (j.kind === "point") {
      const r = await evaluatePoint(j.point!, plan.config, d, si, { rtl: plan.rtlSample, log: jobLog });
      storeJobPoint(dir, j, r);
    }
    fs.rmSync(failedFile(dir, j), { force: true });
    jobLog(`job ${index}: finished`);
    return "ran";
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    jobLog(`job ${index}: FAILED: ${msg}`);
    writeJson(failedFile(dir, j), { index, key: j.key, host: os.hostname(), at: new Date().toISOString(), error: msg, log: logFile, ...slurmIds() });
    return "failed";
  } finally {
    fs.rmSync(runningFile(dir, j), { force: true });
    untrack();
  }
}

function slurmIds(): Record<string, string> {
  const e = process.env;
  return e.SLURM_ARRAY_JOB_ID ? { slurmJob: `${e.SLURM_ARRAY_JOB_ID}_${e.SLURM_ARRAY_TASK_ID ?? ""}` } : e.SLURM_JOB_ID ? { slurmJob: e.SLURM_JOB_ID } : {};
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

export type JobState = "done" | "failed" | "running" | "stale" | "pending";

export interface JobStatus {
  job: ExploreJob;
  state: JobState;
  /** failed: the error and log file; running/stale: where. */
  detail?: string;
}

/**
 * What each job of the plan is: done (its result is there), failed (its last run failed),
 * running (a marker names a live process), stale (a marker whose process has gone: on this
 * host no such pid, or a Slurm task no longer in `slurmLive`, squeue's list), or pending. A
 * marker on another host without a Slurm id is trusted.
 */
export function planStatus(plan: ExplorePlan, dir: string, slurmLive?: ReadonlySet<string>): JobStatus[] {
  return plan.jobs.map((job) => {
    if (isDone(dir, job)) return { job, state: "done" };
    const run = readJson<{ host: string; pid: number; slurmJob?: string }>(runningFile(dir, job));
    if (run) {
      const here = run.host === os.hostname();
      const where = `${run.host} pid ${run.pid}${run.slurmJob ? ` (Slurm ${run.slurmJob})` : ""}`;
      const gone = here ? !alive(run.pid) : run.slurmJob !== undefined && slurmLive !== undefined && !slurmLive.has(run.slurmJob);
      return gone ? { job, state: "stale", detail: `killed on ${where}` } : { job, state: "running", detail: where };
    }
    const f = readJson<{ error: string; log: string }>(failedFile(dir, job));
    if (f) return { job, state: "failed", detail: `${f.error.split("\n")[0]} (log: ${f.log})` };
    return { job, state: "pending" };
  });
}

/** The merged results of a finished plan, in plan order; refuses while any job is not done. */
export function collectResults(plan: ExplorePlan, dir: string, slurmLive?: ReadonlySet<string>): { points: PointResult[]; silicon: Map<string, SiliconReport> } {
  const status = planStatus(plan, dir, slurmLive);
  const missing = status.filter((s) => s.state !== "done");
  if (missing.length > 0) {
    const by = (st: JobState) => missing.filter((s) => s.state === st).map((s) => s.job.index);
    const parts = (["failed", "running", "stale", "pending"] as const).filter((st) => by(st).length > 0).map((st) => `${st}: ${indexRanges(by(st))}`);
    throw new UserError(
      `${dir}: ${missing.length} of ${plan.jobs.length} jobs are not finished (${parts.join("; ")}); ` +
        `run them (oltron explore run-job, or resubmit the array) and collect again ('oltron explore status ${dir}' lists them)`,
    );
  }
  const silicon = new Map<string, SiliconReport>();
  for (const j of plan.jobs) if (j.kind === "silicon") silicon.set(j.design, storedSilicon(dir, j)!);
  const points = plan.jobs.filter((j) => j.kind === "point").map((j) => storedPoint(dir, j.key)!);
  return { points, silicon };
}

/** 0,1,2,5,7,8 -> "0-2,5,7-8": the form sbatch --array takes. */
export function indexRanges(ix: number[]): string {
  const out: string[] = [];
  const s = [...ix].sort((a, b) => a - b);
  for (let i = 0; i < s.length; ) {
    let k = i;
    while (k + 1 < s.length && s[k + 1] === s[k] + 1) k++;
    out.push(k > i ? `${s[i]}-${s[k]}` : `${s[i]}`);
    i = k + 1;
  }
  return out.join(",");
}
