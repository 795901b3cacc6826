/**
 * Work as a plan of independent jobs (docs/cluster.md), shared by `oltron explore` and
 * `oltron verify --plan`: a plan file lists the jobs, each with a key hashing its inputs and
 * the tool versions; any engine runs one job by its index; a job publishes its result
 * atomically under the plan's folder, named by its key, so a finished job is never recomputed
 * and a killed one leaves nothing a later run could take for a result.
 *
 * Beside the results, per job: running/<key>.json (who runs it now), failed/<key>.json (its
 * last error and log), logs/<index>.log.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trackTemp } from "../core/children.js";
import { UserError } from "../core/errors.js";
import { markJobFolder, writeFileAtomic } from "../core/files.js";
import { alive } from "../core/lock.js";

export interface PlanJob {
  index: number;
  key: string;
}

/** What a kind of plan tells the shared machinery about its jobs. */
export interface JobKind<J extends PlanJob> {
  /** The command words that run one job (`explore run-job`, `verify run-job`). */
  command: string[];
  isDone(dir: string, job: J): boolean;
  describe(job: J): string;
}

export type JobState = "done" | "failed" | "running" | "stale" | "pending";

export interface JobStatus<J extends PlanJob> {
  job: J;
  state: JobState;
  /** failed: the error and log file; running/stale: where. */
  detail?: string;
}

const runningFile = (dir: string, j: PlanJob) => path.join(dir, "running", `${j.key}.json`);
const failedFile = (dir: string, j: PlanJob) => path.join(dir, "failed", `${j.key}.json`);
export const jobLogFile = (dir: string, j: PlanJob) => path.join(dir, "logs", `${j.index}.log`);

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export function writeJson(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, JSON.stringify(v, null, 1) + "\n");
}

function slurmIds(): Record<string, string> {
  const e = process.env;
  return e.SLURM_ARRAY_JOB_ID ? { slurmJob: `${e.SLURM_ARRAY_JOB_ID}_${e.SLURM_ARRAY_TASK_ID ?? ""}` } : e.SLURM_JOB_ID ? { slurmJob: e.SLURM_JOB_ID } : {};
}

/** The folders every plan's jobs write into beside it (markers, failure records, logs, Slurm output). */
export const JOB_FOLDERS = ["running", "failed", "logs", "slurm"];

/** The folders jobs write into beside a plan, marked as oltron's (`extra`: the plan kind's results). */
export function prepareJobFolders(dir: string, extra: string[]): void {
  for (const sub of [...JOB_FOLDERS, ...extra]) markJobFolder(path.join(dir, sub));
}

/** Checks that every job's index is its position: an edited plan is refused. */
export function checkIndices(file: string, jobs: PlanJob[], rewrite: string): void {
  jobs.forEach((j, i) => {
    if (j.index !== i) throw new UserError(`${file}: job ${i} has index ${j.index}: the plan was edited; write it again with '${rewrite}'`);
  });
}

/**
 * Runs job `index` unless its result is there: a running marker while it works (removed on
 * an interrupt too), its log, and a failure record when `work` throws. `work` publishes the
 * result itself, atomically. Returns whether the job ran, was finished earlier, or failed.
 */
export async function runPlanJob<J extends PlanJob>(
  kind: JobKind<J>, jobs: J[], dir: string, index: number, log: (s: string) => void, work: (job: J, log: (s: string) => void) => Promise<void>,
): Promise<"ran" | "done" | "failed"> {
  const j = jobs[index];
  if (!j) throw new UserError(`job index ${index} is outside the plan: it has jobs 0..${jobs.length - 1}`);
  if (kind.isDone(dir, j)) {
    log(`job ${index} (${kind.describe(j)}): finished earlier, kept`);
    return "done";
  }
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  const logFile = jobLogFile(dir, j);
  const jobLog = (s: string) => {
    fs.appendFileSync(logFile, `${new Date().toISOString()} ${s}\n`);
    log(s);
  };
  writeJson(runningFile(dir, j), { index, key: j.key, host: os.hostname(), pid: process.pid, started: new Date().toISOString(), ...slurmIds() });
  // An interrupt (Ctrl-C, scancel's SIGTERM) removes the marker with the other temporaries.
  const untrack = trackTemp(runningFile(dir, j));
  try {
    jobLog(`job ${index} (${kind.describe(j)}) on ${os.hostname()} pid ${process.pid}: started`);
    await work(j, jobLog);
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

/**
 * What each job is: done (its result is there), failed (its last run failed), running (a
 * marker names a live process), stale (a marker whose process has gone: on this host no such
 * pid, or a Slurm task no longer in `slurmLive`, squeue's list), or pending. A marker on
 * another host without a Slurm id is trusted.
 */
export function planStatus<J extends PlanJob>(kind: JobKind<J>, jobs: J[], dir: string, slurmLive?: ReadonlySet<string>): JobStatus<J>[] {
  return jobs.map((job) => {
    if (kind.isDone(dir, job)) return { job, state: "done" };
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

/** Refuses to merge while any job is unfinished, naming them by state and index. */
export function requireFinished<J extends PlanJob>(kind: JobKind<J>, jobs: J[], dir: string, slurmLive?: ReadonlySet<string>): void {
  const missing = planStatus(kind, jobs, dir, slurmLive).filter((s) => s.state !== "done");
  if (missing.length === 0) return;
  const by = (st: JobState) => missing.filter((s) => s.state === st).map((s) => s.job.index);
  const parts = (["failed", "running", "stale", "pending"] as const).filter((st) => by(st).length > 0).map((st) => `${st}: ${indexRanges(by(st))}`);
  throw new UserError(
    `${dir}: ${missing.length} of ${jobs.length} jobs are not finished (${parts.join("; ")}); ` +
      `run them (oltron ${kind.command.join(" ")}, or resubmit the array) and collect again ('oltron ${kind.command[0]} status ${dir}' lists them)`,
  );
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
