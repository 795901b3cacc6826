/**
 * The local engine of a plan of jobs (flows/jobs.ts): a pool of worker processes, each running
 * `oltron <command> <plan> --worker` (the same entry point a scheduler calls: `explore run-job`,
 * `verify run-job`) and taking the next unfinished job over IPC when it is free. One worker
 * runs in-process.
 */
import { printJson } from "./json-outputs.js";
import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import type { Command } from "commander";
import { fileURLToPath } from "node:url";
import { cleanupNow, trackGroup } from "../core/children.js";
import { log as say, progress } from "../core/console.js";
import { UserError } from "../core/errors.js";
import { indexRanges, type JobKind, type JobStatus, type PlanJob } from "../flows/jobs.js";

const BIN = fileURLToPath(new URL("../../bin/oltron.js", import.meta.url));

type Reply = { index: number; result: "ran" | "done" | "failed" } | { index: number; error: string };

/** A plan as the pool sees it: its jobs, how to run one in this process, what each job is now. */
export interface PoolPlan<J extends PlanJob> {
  kind: JobKind<J>;
  file: string;
  dir: string;
  run(index: number): Promise<"ran" | "done" | "failed">;
  status(): JobStatus<J>[];
}

/** Runs the jobs `todo` of the plan with `jobs` processes; throws naming every job that failed. */
export async function runPool<J extends PlanJob>(p: PoolPlan<J>, todo: number[], jobs: number, log: (s: string) => void): Promise<void> {
  const { file: planFile, dir } = p;
  if (todo.length === 0) {
    log(`${p.kind.command[0]}: every job of ${planFile} is finished; merging`);
    return;
  }
  const n = Math.max(1, Math.min(jobs, todo.length));
  log(`${p.kind.command[0]}: running ${todo.length} jobs with ${n} worker${n > 1 ? "s" : ""} (per-job logs in ${dir}/logs)`);
  const bar = progress(p.kind.command[0], todo.length, "jobs");
  let finished = 0;
  const queue = [...todo];
  if (n === 1) {
    for (const i of queue) {
      await p.run(i);
      bar.update(++finished);
    }
  } else {
    await new Promise<void>((resolve, reject) => {
      const workers: ChildProcess[] = [];
      let live = n;
      const next = (w: ChildProcess) => {
        const i = queue.shift();
        if (i === undefined) {
          w.send({ stop: true });
          return;
        }
        w.send({ index: i });
      };
      for (let k = 0; k < n; k++) {
        // Its own process group, so an interrupt of oltron takes the worker's children too.
        const w = fork(BIN, [...p.kind.command, planFile, "--worker"], { stdio: ["ignore", "ignore", "inherit", "ipc"], detached: true });
        const untrack = w.pid !== undefined ? trackGroup(w.pid) : () => {};
        workers.push(w);
        w.on("message", (m: Reply) => {
          if ("error" in m) {
            workers.forEach((x) => x.kill("SIGTERM"));
            reject(new UserError(`${p.kind.command[0]}: job ${m.index} could not run: ${m.error}`));
            return;
          }
          bar.update(++finished);
          next(w);
        });
        w.on("exit", (code, sig) => {
          untrack();
          if (--live === 0) resolve();
          else if (code !== 0 && queue.length > 0) log(`${p.kind.command[0]}: a worker exited (${sig ?? `code ${code}`}); the others go on`);
        });
        next(w);
      }
    });
  }
  bar.stop();
  const failed = p.status().filter((s) => todo.includes(s.job.index) && s.state !== "done");
  if (failed.length > 0) {
    throw new UserError(
      `${p.kind.command[0]}: ${failed.length} of ${todo.length} jobs did not finish:\n` +
        failed.slice(0, 10).map((s) => `  ${s.job.index} ${p.kind.describe(s.job)}: ${s.state}${s.detail ? `: ${s.detail}` : ""}`).join("\n") +
        `${failed.length > 10 ? `\n  ... and ${failed.length - 10} more` : ""}\nfinished jobs are kept: fix the cause and run again (or 'oltron ${p.kind.command[0]} status ${dir}')`,
    );
  }
}

/** A pool worker: runs each job index the parent sends (with `run`), answers, and exits when told or orphaned. */
export async function serveWorker(run: (index: number) => Promise<"ran" | "done" | "failed">): Promise<void> {
  if (!process.send) throw new UserError("--worker is the local pool's worker mode: give a job index instead");
  await new Promise<void>((resolve) => {
    let chain = Promise.resolve();
    // Orphaned (the pool was killed): stop this job's children and temporaries, leave no result.
    process.on("disconnect", () => {
      cleanupNow();
      process.exit(0);
    });
    process.on("message", (m: { index?: number; stop?: boolean }) => {
      chain = chain.then(async () => {
        if (m.stop || m.index === undefined) {
          resolve();
          process.disconnect();
          return;
        }
        try {
          const result = await run(m.index);
          process.send!({ index: m.index, result });
        } catch (e) {
          process.send!({ index: m.index, error: (e as Error).message });
        }
      });
    });
  });
}

/** The job index from the argument or the scheduler's array variable. */
export function jobIndex(arg: string | undefined, n: number): number {
  const e = process.env;
  // An empty variable is not an array task (SGE sets SGE_TASK_ID=undefined outside arrays).
  const set = (v: string | undefined) => v !== undefined && v !== "" && v !== "undefined";
  const [raw, base, from] = arg !== undefined ? [arg, 0, "index"]
    : set(e.SLURM_ARRAY_TASK_ID) ? [e.SLURM_ARRAY_TASK_ID, 0, "$SLURM_ARRAY_TASK_ID"]
    : set(e.LSB_JOBINDEX) ? [e.LSB_JOBINDEX, 1, "$LSB_JOBINDEX"]
    : set(e.SGE_TASK_ID) ? [e.SGE_TASK_ID, 1, "$SGE_TASK_ID"]
    : [undefined, 0, ""];
  if (raw === undefined) throw new UserError("run-job needs a job index: give it, or run under a job array ($SLURM_ARRAY_TASK_ID, $LSB_JOBINDEX or $SGE_TASK_ID)");
  const i = Number(raw) - base;
  if (!/^\d+$/.test(String(raw).trim()) || i < 0 || i >= n) {
    throw new UserError(`invalid job ${from} = '${raw}': the plan has jobs ${base}..${n - 1 + base}${base ? ` (${from} counts from 1)` : ""}`);
  }
  return i;
}

/** Prints what each job is (or JSON with --json), and which indices remain to run. */
export function printStatus<J extends PlanJob>(kind: JobKind<J>, dir: string, st: JobStatus<J>[], json: boolean, resubmit: string): void {
  const count = (s: string) => st.filter((x) => x.state === s).length;
  if (json) {
    printJson("status", { jobs: st.length, states: st.map((x) => ({ index: x.job.index, key: x.job.key, what: kind.describe(x.job), state: x.state, ...(x.detail ? { detail: x.detail } : {}) })) });
    return;
  }
  const lines = [`${dir}: ${st.length} jobs: ${count("done")} done, ${count("running")} running, ${count("failed")} failed, ${count("stale")} stale (killed), ${count("pending")} pending`];
  for (const s of st) if (s.state !== "done" && s.state !== "pending") lines.push(`  ${s.job.index} ${s.state}: ${kind.describe(s.job)}${s.detail ? `: ${s.detail}` : ""}`);
  const unfinished = st.filter((x) => x.state !== "done" && x.state !== "running").map((x) => x.job.index);
  if (unfinished.length) lines.push(`to run: ${indexRanges(unfinished)} ('${resubmit} ${dir}' submits exactly these)`);
  console.log(lines.join("\n"));
}

/**
 * The `run-job` and `status` subcommands of a plan kind: `load` reads the plan named on the
 * command line and gives its jobs' runner and status.
 */
export function addJobCommands<J extends PlanJob>(
  parent: Command, kind: JobKind<J>, what: string,
  load: (arg: string) => { dir: string; count: number; run: (index: number, log: (s: string) => void) => Promise<"ran" | "done" | "failed">; status: (slurmLive?: ReadonlySet<string>) => JobStatus<J>[] },
  liveSlurm: () => Promise<ReadonlySet<string> | undefined>, resubmit: string,
): void {
  const name = kind.command[0];
  parent
    .command("run-job")
    .description(`run one job of ${what} (the entry point of every scheduler: Slurm arrays, GNU parallel, LSF, SGE); its result goes atomically into the plan's folder`)
    .argument("<plan>", "the plan file (or its folder)")
    .argument("[index]", "job index, 0-based (default: $SLURM_ARRAY_TASK_ID, or $LSB_JOBINDEX - 1, or $SGE_TASK_ID - 1)")
    .option("--worker", "serve job indices over IPC (the local pool's workers)")
    .action(async (planArg: string, indexArg: string | undefined, o: { worker?: boolean }) => {
      const p = load(planArg);
      if (o.worker) {
        await serveWorker((i) => p.run(i, () => {}));
        return;
      }
      const index = jobIndex(indexArg, p.count);
      if ((await p.run(index, say)) === "failed") {
        process.exitCode = 1;
        console.error(`oltron: job ${index} failed: its error and log are in ${path.join(p.dir, "failed")} ('oltron ${name} status ${p.dir}')`);
      }
    });
  parent
    .command("status")
    .description(`what each job of ${what} is: done, failed (with its error and log), running, stale (killed) or pending`)
    .argument("<dir>", "the plan's folder (or its plan file)")
    .option("--json", "print the status as JSON")
    .action(async (arg: string, _o: unknown, cmd: Command) => {
      // --json is also an option of the parent command, which takes it wherever it stands.
      const p = load(arg);
      printStatus(kind, p.dir, p.status(await liveSlurm()), (cmd.optsWithGlobals() as { json?: boolean }).json === true, resubmit);
    });
}
