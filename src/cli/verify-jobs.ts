/**
 * `oltron verify --plan | --jobs N | --slurm` and its job commands: a long co-simulation of a
 * layer list or block as one job per layer (flows/verify-jobs.ts), run by the local pool or a
 * Slurm array, merged by `oltron verify collect`.
 */
import { printJson } from "./json-outputs.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Option, type Command } from "commander";
import { EXIT, UserError } from "../core/errors.js";
import { checkOutputApart, checkTmpDir, recordOwned, writeDirAtomicAsync, writeFileAtomic } from "../core/files.js";
import type { ElaboratedDesign } from "../hw/design.js";
import type { LayerInput } from "../quant/quantizer.js";
import { indexRanges, type JobKind, type PlanJob } from "../flows/jobs.js";
import { summarize, type SimResult } from "../flows/simulate.js";
import { collectVerify, readVerifyPlan, runVerifyJob, VERIFY_JOBS, verifyStatus, writeVerifyPlan, type VerifyPlan, type VerifySimOptions } from "../flows/verify-jobs.js";
import { liveSlurmJobs, slurmOptions, submitSlurm, type SlurmOpts } from "./cluster.js";
import { addJobCommands, runPool } from "./pool.js";
import { intArg, log } from "./options.js";

/** The plan-mode options of `verify`. */
export function addVerifyPlanOptions(cmd: Command): Command {
  cmd
    .option("--plan", "write one co-simulation job per layer (<out>/plan.json, design/, layers/) for a scheduler to run with 'oltron verify run-job'; with --jobs, run them here")
    .addOption(new Option("--jobs <n>", "with --plan: run the jobs with this many local worker processes, then merge").argParser(intArg("--jobs", 1, 256)));
  return slurmOptions(cmd);
}

export function wantsPlan(o: Record<string, unknown>): boolean {
  return o.plan === true || o.slurm === true;
}

/**
 * Plan mode of verify: writes (or keeps, when the same plan is there) the plan folder, then
 * stops, submits it to Slurm, or runs it with the local pool and merges.
 */
export async function verifyPlanned(o: Record<string, unknown>, d: ElaboratedDesign, layers: LayerInput[], sim: VerifySimOptions, given: { flag: string; path: string }[]): Promise<void> {
  if (o.out === undefined) throw new UserError("--plan and --slurm need --out <dir>: the plan's folder, which every job (and node) reads and writes");
  if (o.trace !== undefined) throw new UserError("--trace cannot go with --plan: trace one layer with 'oltron sim --design <out>/design --images <out>/layers/<i>-<name>/images --trace ...'");
  const out = String(o.out);
  checkOutputApart({ flag: "--out", path: out }, given);
  checkTmpDir();
  let kept: VerifyPlan | undefined;
  await writeDirAtomicAsync(out, async (tmp) => {
    const plan = await writeVerifyPlan(tmp, d, layers, sim, log);
    // The same plan already there keeps its folder and finished results; a new one replaces it.
    const old = fs.existsSync(path.join(out, "plan.json")) ? tryRead(out) : undefined;
    if (old && JSON.stringify(old.jobs) === JSON.stringify(plan.jobs) && old.design === plan.design) {
      kept = old;
      throw new KeepExisting();
    }
  }).catch((e) => {
    if (!(e instanceof KeepExisting)) throw e;
  });
  const { plan, file, dir } = readVerifyPlan(out);
  const status = verifyStatus(plan, dir, o.slurm ? await liveSlurmJobs() : undefined);
  const todo = status.filter((s) => s.state !== "done" && !(o.slurm && s.state === "running")).map((s) => s.job.index);
  log(`verify: plan ${file}: ${plan.jobs.length} layer co-simulations on ${plan.design} (${kept ? "kept from an earlier run" : "written"}), ${plan.jobs.length - todo.length} finished`);
  if (o.slurm) {
    await submitSlurm({ file, total: plan.jobs.length, kind: VERIFY_JOBS as JobKind<PlanJob> }, todo, o as unknown as SlurmOpts);
    return;
  }
  if (o.jobs === undefined) {
    console.log(
      `verify: wrote ${file} (${plan.jobs.length} jobs, indices 0..${plan.jobs.length - 1}; unfinished: ${todo.length ? indexRanges(todo) : "none"}).\n` +
        `Run one job with 'oltron verify run-job ${file} <index>', see progress with 'oltron verify status ${dir}', merge with 'oltron verify collect ${dir}' (docs/cluster.md).`,
    );
    return;
  }
  await runPool({ kind: VERIFY_JOBS, file, dir, run: (i) => runVerifyJob(plan, dir, i, () => {}), status: () => verifyStatus(plan, dir) }, todo, o.jobs as number ?? os.cpus().length, log);
  mergeAndPrint(plan, dir, collectVerify(plan, dir), o.json === true);
}

class KeepExisting extends Error {}

function tryRead(dir: string): VerifyPlan | undefined {
  try {
    return readVerifyPlan(dir).plan;
  } catch {
    return undefined;
  }
}

/** The merged result: every layer's line, one verdict, verify-result.json beside the plan. */
function mergeAndPrint(plan: VerifyPlan, dir: string, results: SimResult[], json: boolean): void {
  const layers = results.flatMap((r) => r.layers);
  const pass = results.every((r) => r.pass);
  const merged = {
    format: "oltron-verify-plan-result", version: 1, design: plan.design, simulator: plan.sim.simulator, pass,
    mismatches: results.reduce((a, r) => a + r.mismatches, 0),
    macs: results.reduce((a, r) => a + r.macs, 0),
    cycles: results.reduce((a, r) => a + (r.cycles.total ?? 0), 0),
    jobs: plan.jobs.map((j, i) => ({ index: j.index, layer: j.layer, key: j.key, pass: results[i].pass, status: results[i].status, cycles: results[i].cycles.total, verdict: summarize(results[i]) })),
    layers,
  };
  writeFileAtomic(path.join(dir, "verify-result.json"), JSON.stringify(merged, null, 1) + "\n");
  recordOwned(dir, ["verify-result.json"]);
  if (json) printJson("sim-result", merged);
  else {
    for (const j of merged.jobs) console.log(`  job ${j.index} ${j.layer.padEnd(16)} ${j.verdict}`);
    console.log(`${pass ? "PASS (bit-exact)" : "FAIL"}: ${plan.design} on ${plan.sim.simulator}, ${layers.length} layer(s) in ${results.length} jobs, ${merged.macs} MACs, ${merged.mismatches} mismatches, ${merged.cycles} cycles (each layer simulated alone)`);
  }
  log(`verify: merged ${results.length} job results into ${path.join(dir, "verify-result.json")}`);
  if (!pass) process.exitCode = EXIT.runFailed;
}

export function registerVerifyJobCommands(verify: Command): void {
  addJobCommands(verify, VERIFY_JOBS, "a verify plan (one layer's co-simulation)", (arg) => {
    const { plan, dir } = readVerifyPlan(arg);
    return { dir, count: plan.jobs.length, run: (i, l) => runVerifyJob(plan, dir, i, l), status: (live) => verifyStatus(plan, dir, live) };
  }, liveSlurmJobs, "oltron verify ... --slurm --out");
  verify
    .command("collect")
    .description("merge a finished verify plan: every layer's verdict, verify-result.json; exits 1 on any mismatch")
    .argument("<dir>", "the plan's folder (or its plan file)")
    .action(async (arg: string, _o: unknown, cmd: Command) => {
      const { plan, dir } = readVerifyPlan(arg);
      mergeAndPrint(plan, dir, collectVerify(plan, dir, await liveSlurmJobs()), (cmd.optsWithGlobals() as { json?: boolean }).json === true);
    });
}
