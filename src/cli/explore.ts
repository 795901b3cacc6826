/**
 * `oltron explore`: the design-space sweep (flows/explore.ts) as a plan of independent jobs
 * (flows/explore-jobs.ts) run by a local worker pool or a cluster's scheduler (cli/cluster.ts),
 * merged by `collect` into the report (report/explore.ts).
 */
import { printJson } from "./json-outputs.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Option, type Command } from "commander";
import { UserError } from "../core/errors.js";
import { claimKeptFolder, writeOwnedFile } from "../core/files.js";
import { GENERATOR_VERSION } from "../hw/design.js";
import { CONTROL_ACTIVITY, DRAM_SOURCE } from "../flows/energy.js";
import { blockResults, type PointResult } from "../flows/explore.js";
import { checkPlanCurrent, collectResults, EXPLORE_JOB_FOLDERS, EXPLORE_JOBS, exploreStatus, makePlan, readPlan, runJob, writePlan, type ExplorePlan } from "../flows/explore-jobs.js";
import { indexRanges, type JobKind, type PlanJob } from "../flows/jobs.js";
import { exploreConfigSchema, loadExploreConfig } from "../flows/explore-config.js";
import { blocksCsv, energyRanking, exploreHtml, pointsCsv, sensitivityStudy, type ExploreReport } from "../report/explore.js";
import { RAM_TABLE } from "../hw/ramcost.js";
import type { SiliconReport } from "../hw/silicon.js";
import { addJobCommands, runPool } from "./pool.js";
import { liveSlurmJobs, slurmOptions, submitSlurm } from "./cluster.js";
import { intArg, log } from "./options.js";

/** The file that marks a folder as an explore results folder (written before anything else). */
const MARKER = "explore-config.json";


export function registerExploreCommand(program: Command): void {
  const explore = program
    .command("explore")
    .description(
      "design-space sweep: architectures x sizes x flexible lines x salient types x bit budgets x layers, each priced for accuracy (held-out SQNR), cycles (cycle model), " +
        "area and Fmax (Yosys + OpenSTA), energy (OpenSTA power, RAM table, DRAM pJ/bit); writes JSON, CSV and an HTML report with Pareto plots; " +
        "a plan of independent jobs run by a local worker pool or a Slurm job array (docs/ppa.md, docs/cluster.md)",
    )
    .option("--config <file>", `sweep configuration (JSON or YAML; keys ${Object.keys(exploreConfigSchema.shape).join(", ")}); default: the four architectures at 16x16 and 64x64 on LLaMA-7B layers`)
    .option("--out <dir>", "results folder (kept: a later run with it recomputes nothing finished)", "explore-results")
    .option("--rtl-sample", "also co-simulate every point's accuracy sample with Verilator and report its cycles and activity beside the model's (slow: one simulator build per design)")
    .addOption(new Option("--jobs <n>", "local worker processes (default: one per core)").argParser(intArg("--jobs", 1, 256)))
    .option("--plan", "only write the job list (<out>/plan.json) for a scheduler to run with 'oltron explore run-job'")
    .option("--json", "print the report data (explore.json) on stdout");
  slurmOptions(explore);
  explore.action(async (o: ExploreOpts) => {
    const cfg = loadExploreConfig(o.config);
    claimKeptFolder("--out", o.out, EXPLORE_JOB_FOLDERS);
    writeOwnedFile(o.out, MARKER, JSON.stringify(cfg, null, 1) + "\n");
    const plan = await makePlan(cfg, o.rtlSample === true);
    const planFile = writePlan(o.out, plan);
    const nSi = plan.jobs.filter((j) => j.kind === "silicon").length;
    const status = exploreStatus(plan, o.out, o.slurm ? await liveSlurmJobs() : undefined);
    // A Slurm resubmission leaves running tasks alone; the local pool runs everything unfinished.
    const todo = status.filter((s) => s.state !== "done" && !(o.slurm && s.state === "running")).map((s) => s.job.index);
    log(`explore: plan ${planFile}: ${plan.jobs.length} jobs (${nSi} silicon flows, ${plan.jobs.length - nSi} points), ${plan.jobs.length - todo.length} finished earlier`);
    if (o.slurm) {
      await submitSlurm({ file: planFile, total: plan.jobs.length, kind: EXPLORE_JOBS as JobKind<PlanJob> }, todo, o);
      return;
    }
    if (o.plan) {
      console.log(
        `explore: wrote ${planFile} (${plan.jobs.length} jobs, indices 0..${plan.jobs.length - 1}; unfinished: ${todo.length ? indexRanges(todo) : "none"}).\n` +
          `Run one job with 'oltron explore run-job ${planFile} <index>', see progress with 'oltron explore status ${o.out}', merge with 'oltron explore collect ${o.out}' (docs/cluster.md).`,
      );
      return;
    }
    const pool = { kind: EXPLORE_JOBS, file: planFile, dir: o.out, run: (i: number) => runJob(plan, o.out, i, () => {}), status: () => exploreStatus(plan, o.out) };
    await runPool(pool, todo, o.jobs ?? os.cpus().length, log);
    const earlier = plan.jobs.filter((j) => j.kind === "point" && !todo.includes(j.index)).length;
    await writeReport(plan, o.out, collectResults(plan, o.out), o.json === true, `${earlier} from earlier runs`);
  });

  addJobCommands(explore, EXPLORE_JOBS, "an explore plan", (arg) => {
    const { plan, dir } = readPlan(arg);
    return { dir, count: plan.jobs.length, run: (i, l) => runJob(plan, dir, i, l), status: (live) => exploreStatus(plan, dir, live) };
  }, liveSlurmJobs, "oltron explore --slurm --out");

  explore
    .command("collect")
    .description("merge a finished plan's results into explore.json, points.csv, blocks.csv and explore.html; refuses a plan whose inputs changed since its results were made")
    .argument("<results>", "the results folder (or its plan file)")
    .option("--json", "print the report data (explore.json) on stdout")
    .action(async (arg: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as { json?: boolean };
      const { plan, file, dir } = readPlan(arg);
      await checkPlanCurrent(plan, file);
      await writeReport(plan, dir, collectResults(plan, dir), o.json === true, `merged from ${dir}`);
    });
}

export interface ExploreOpts {
  config?: string;
  out: string;
  json?: boolean;
  rtlSample?: boolean;
  jobs?: number;
  plan?: boolean;
  slurm?: boolean;
  partition?: string;
  time?: string;
  mem?: string;
  arrayLimit?: number;
  dryRun?: boolean;
}

async function writeReport(
  plan: ExplorePlan, out: string, merged: { points: PointResult[]; silicon: Map<string, SiliconReport> }, json: boolean, origin: string,
): Promise<void> {
  const cfg = plan.config;
  const results = merged.points;
  const blocks = blockResults(results, merged.silicon, cfg.tokens);
  const report: ExploreReport = {
    generator: GENERATOR_VERSION, config: cfg, blocks, points: results,
    sensitivity: sensitivityStudy(blocks), ranking: energyRanking(blocks),
    sources: {
      accuracy: `each architecture's quantizer on synthetic LLaMA-like layers (${cfg.calibTokens} calibration tokens, ${cfg.evalTokens} held-out tokens, ${cfg.sampleN} sampled output channels), scored by the golden model (bit-exact with the RTL) against the float product`,
      cycles: "cycle model (image/cycles.ts), exact against RTL co-simulation at fixed memory latency on its validation set (test/cyclemodel.test.ts)",
      events: "array activity read from the sample's images (image/activity.ts, equal to the RTL's monitors: test/events.test.ts), scaled to the full layer; RAM and DRAM accesses from the layout",
      area: "Yosys mapping to the OSU 0.18 um liberty (cell areas); RAMs from the RAM table",
      fmax: "OpenSTA on the mapped netlist, no wire load",
      energy: `OpenSTA report_power per module (quiet cycle + input groups at the measured activities; control inputs at ${CONTROL_ACTIVITY}); RAM table (${RAM_TABLE.source}); DRAM ${DRAM_SOURCE}`,
    },
  };
  writeOwnedFile(out, "explore.json", JSON.stringify(report, null, 1) + "\n");
  writeOwnedFile(out, "points.csv", pointsCsv(results));
  writeOwnedFile(out, "blocks.csv", blocksCsv(blocks));
  writeOwnedFile(out, "explore.html", exploreHtml(report));
  if (json) printJson("explore", report);
  (json ? log : console.log)(
    `explore: ${results.length} points (${origin}), ${blocks.length} design points; wrote explore.html (Pareto plots), explore.json, points.csv, blocks.csv in ${out}\n` +
      `energy per token, best first: ${report.ranking.join(" < ")}`,
  );
}
