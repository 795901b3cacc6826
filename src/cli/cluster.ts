/**
 * The Slurm engine of a plan of jobs (docs/cluster.md): an sbatch script for a job array over
 * the plan's unfinished jobs, each task one `oltron <explore|verify> run-job <plan>
 * $SLURM_ARRAY_TASK_ID`, submitted with sbatch (or only written and printed with --dry-run).
 * Other schedulers use the same run-job entry point.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Option, type Command } from "commander";
import { execa } from "execa";
import { cacheRoot } from "../core/cache.js";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { GENERATOR_VERSION } from "../hw/design.js";
import { indexRanges, type JobKind, type PlanJob } from "../flows/jobs.js";
import { intArg, log } from "./options.js";

const BIN = fileURLToPath(new URL("../../bin/oltron.js", import.meta.url));

export interface SlurmOpts {
  out: string;
  partition?: string;
  time?: string;
  mem?: string;
  arrayLimit?: number;
  dryRun?: boolean;
}

/** What the script needs of a plan: its file, job count and run-job command. */
export interface SlurmPlan {
  file: string;
  total: number;
  kind: JobKind<PlanJob>;
}

export function slurmOptions(cmd: Command): Command {
  return cmd
    .option("--slurm", "run the plan as a Slurm job array: write <out>/slurm/<command>.sbatch over the unfinished jobs and submit it with sbatch")
    .option("--partition <name>", "Slurm partition of the array (default: the cluster's default)")
    .addOption(new Option("--time <limit>", "Slurm time limit per job, as sbatch takes it (a silicon flow of a 64x64 design is the longest job)").default("2:00:00"))
    .addOption(new Option("--mem <size>", "Slurm memory per job, as sbatch takes it").default("4G"))
    .addOption(new Option("--array-limit <k>", "Slurm jobs of the array running at once (--array=...%k)").argParser(intArg("--array-limit", 1, 100000)))
    .option("--dry-run", "with --slurm: write and print the sbatch script, submit nothing");
}

const SLURM_TIME = /^(\d+-)?\d+(:\d+){0,2}$|^\d+-\d+$/;
const SLURM_MEM = /^\d+[KMGT]?$/i;

/** The sbatch script of a job array over `todo` (indices of the plan). */
export function sbatchScript(p: SlurmPlan, todo: number[], o: SlurmOpts): string {
  if (o.time !== undefined && !SLURM_TIME.test(o.time)) throw new UserError(`invalid --time '${o.time}': expected a Slurm time limit such as 90, 2:00:00 or 1-12:00:00`);
  if (o.mem !== undefined && !SLURM_MEM.test(o.mem)) throw new UserError(`invalid --mem '${o.mem}': expected a Slurm memory size such as 4G or 8000M`);
  if (o.partition !== undefined && !/^[\w.-]+$/.test(o.partition)) throw new UserError(`invalid --partition '${o.partition}': expected a partition name (letters, digits, '_', '-', '.')`);
  const plan_ = path.resolve(p.file);
  const dir = path.dirname(plan_);
  const cmd = p.kind.command[0];
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    "#!/bin/bash",
    `# Written by oltron-gen ${GENERATOR_VERSION}: one task per unfinished job of ${plan_}`,
    `# (${todo.length} of ${p.total} jobs). A task whose result is there exits at once; resubmit with`,
    `# 'oltron ${cmd} --slurm ... --out ${dir}', which lists only what is still missing. Merge with`,
    `# 'oltron ${cmd} collect ${dir}'. The results folder and OLTRON_CACHE must be on storage every node sees.`,
    `#SBATCH --job-name=oltron-${cmd}`,
    `#SBATCH --array=${indexRanges(todo)}${o.arrayLimit ? `%${o.arrayLimit}` : ""}`,
    `#SBATCH --output=${path.join(dir, "logs", "slurm-%A_%a.out")}`,
    "#SBATCH --ntasks=1",
    "#SBATCH --cpus-per-task=1",
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    "set -euo pipefail",
    `export OLTRON_CACHE="\${OLTRON_CACHE:-${cacheRoot()}}"`,
    `exec ${q(process.execPath)} ${q(BIN)} --quiet ${p.kind.command.join(" ")} ${q(plan_)} "$SLURM_ARRAY_TASK_ID"`,
    "",
  ].join("\n");
}

/** Writes the script, then submits it (unless --dry-run); prints what to do next. */
export async function submitSlurm(p: SlurmPlan, todo: number[], o: SlurmOpts): Promise<void> {
  const dir = path.dirname(path.resolve(p.file));
  const cmd = p.kind.command[0];
  if (todo.length === 0) {
    console.log(`${cmd}: every job of ${p.file} is finished; merge with 'oltron ${cmd} collect ${dir}'`);
    return;
  }
  const script = sbatchScript(p, todo, o);
  fs.mkdirSync(path.join(dir, "slurm"), { recursive: true });
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  const file = path.join(dir, "slurm", `${cmd}.sbatch`);
  writeFileAtomic(file, script);
  if (o.dryRun) {
    process.stdout.write(script);
    log(`${cmd}: wrote ${file} (${todo.length} tasks); submit it with 'sbatch ${file}'`);
    return;
  }
  let r;
  try {
    r = await execa("sbatch", ["--parsable", file], { reject: false, all: true });
  } catch {
    throw new UserError(`sbatch could not be started: is Slurm installed here? The script is written (${file}); --dry-run writes it without submitting`);
  }
  if (r.failed && r.exitCode === undefined) throw new UserError(`sbatch not found on PATH: run on a Slurm login node, or give --dry-run and submit ${file} there`);
  if (r.exitCode !== 0) throw new UserError(`sbatch refused ${file} (exit ${r.exitCode}): ${String(r.all).trim().split("\n").slice(-3).join(" | ")}`);
  const id = String(r.stdout).trim().split(";")[0];
  fs.writeFileSync(path.join(dir, "slurm", "submitted"), `${id}\n`, { flag: "a" });
  console.log(
    `${cmd}: submitted Slurm job array ${id} (${todo.length} tasks: ${indexRanges(todo)}) from ${file}\n` +
      `follow it with 'squeue -j ${id}' or 'oltron ${cmd} status ${dir}'; when it is done, 'oltron ${cmd} collect ${dir}' merges the results`,
  );
}

/**
 * The Slurm tasks in the queue now (`<array job>_<task>` and plain job ids), so a running
 * marker of a task that has left the queue reads as stale; undefined without squeue.
 */
export async function liveSlurmJobs(): Promise<Set<string> | undefined> {
  try {
    const r = await execa("squeue", ["-h", "-r", "-o", "%i"], { reject: false });
    if (r.exitCode !== 0) return undefined;
    return new Set(String(r.stdout).split("\n").map((l) => l.trim()).filter(Boolean));
  } catch {
    return undefined;
  }
}
