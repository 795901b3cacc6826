/**
 * Sweeps as jobs (docs/cluster.md): the plan, run-job by index and by each scheduler's array
 * variable, a killed job that leaves no result and is finished by the next run, failures
 * reported per job with their logs, `collect` refusing a plan whose inputs changed, the local
 * pool equal to one worker, and a real one-node Slurm cluster running the plan as a job
 * array whose merged results equal the local run's, with one task killed and resubmitted.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { indexRanges } from "../src/flows/jobs.js";
import { tmpDir } from "./helpers/cosim.js";
import { startSlurm, waitForJobs } from "./helpers/slurm.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const OLTRON = path.join(ROOT, "bin", "oltron.js");

// A sweep small enough for a test: 4 designs at 4x4 (4 silicon jobs) and 10 points.
const SWEEP = {
  archs: ["oltron", "int4", "olive", "w4a8"], sizes: [4], budgets: [4.25],
  layers: [{ type: "o_proj", k: 64, n: 16 }, { type: "down", k: 96, n: 8 }],
  tokens: 64, evalTokens: 32, calibTokens: 16, sampleN: 16, seeds: [1],
};
const N_JOBS = 14;

function sweepFile(dir: string): string {
  const f = path.join(dir, "sweep.json");
  fs.writeFileSync(f, JSON.stringify(SWEEP));
  return f;
}

const oltron = (args: string[], env: Record<string, string> = {}) =>
  execa("node", [OLTRON, ...args], { reject: false, all: true, env: { ...process.env, ...env } });

function readJson(f: string) {
  return JSON.parse(fs.readFileSync(f, "utf8"));
}

async function waitFor(what: string, cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("index ranges", () => {
  it("are what sbatch --array takes", () => {
    expect(indexRanges([0, 1, 2, 5, 7, 8])).toBe("0-2,5,7-8");
    expect(indexRanges([3])).toBe("3");
    expect(indexRanges([9, 1, 0])).toBe("0-1,9");
  });
});

describe("explore as jobs, locally", () => {
  // A private cache, so the silicon flows really run (and can be killed mid-run).
  const cache = tmpDir("cluster-cache");
  const env = { OLTRON_CACHE: cache };

  it("a plan lists every job with a key; run-job takes an index or a scheduler's array variable", async () => {
    const dir = tmpDir("cluster-plan");
    const out = path.join(dir, "r");
    const r = await oltron(["explore", "--config", sweepFile(dir), "--out", out, "--plan"], env);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`wrote .*plan\\.json \\(${N_JOBS} jobs, indices 0\\.\\.${N_JOBS - 1}; unfinished: 0-${N_JOBS - 1}\\)`));
    const plan = readJson(path.join(out, "plan.json"));
    expect(plan.jobs.length).toBe(N_JOBS);
    expect(plan.jobs.filter((j: { kind: string }) => j.kind === "silicon").length).toBe(4);
    expect(new Set(plan.jobs.map((j: { key: string }) => j.key)).size).toBe(N_JOBS);
    expect(Object.keys(plan.tools)).toEqual(expect.arrayContaining(["yosys", "sta", "node"]));
    // The same sweep plans the same keys; another prefill length changes every point's key.
    const again = await oltron(["explore", "--config", sweepFile(dir), "--out", path.join(dir, "r2"), "--plan"], env);
    expect(again.exitCode, again.all).toBe(0);
    expect(readJson(path.join(dir, "r2", "plan.json")).jobs).toEqual(plan.jobs);
    fs.writeFileSync(path.join(dir, "longer.json"), JSON.stringify({ ...SWEEP, tokens: 128 }));
    await oltron(["explore", "--config", path.join(dir, "longer.json"), "--out", path.join(dir, "r3"), "--plan"], env);
    const keys3 = readJson(path.join(dir, "r3", "plan.json")).jobs.map((j: { key: string }) => j.key);
    plan.jobs.forEach((j: { kind: string; key: string }, i: number) => expect(keys3[i] === j.key, `job ${i}`).toBe(j.kind === "silicon"));

    // A point job: by index; then LSF's 1-based index names the next job.
    const pointIx = plan.jobs.findIndex((j: { kind: string }) => j.kind === "point");
    const byIndex = await oltron(["explore", "run-job", path.join(out, "plan.json"), String(pointIx)], env);
    expect(byIndex.exitCode, byIndex.all).toBe(0);
    expect(fs.existsSync(path.join(out, "points", `${plan.jobs[pointIx].key}.json`))).toBe(true);
    const lsf = await oltron(["explore", "run-job", out], { ...env, LSB_JOBINDEX: String(pointIx + 2) });
    expect(lsf.exitCode, lsf.all).toBe(0);
    expect(fs.existsSync(path.join(out, "points", `${plan.jobs[pointIx + 1].key}.json`))).toBe(true);
    // Finished: run again, it says so and rewrites nothing.
    const f = path.join(out, "points", `${plan.jobs[pointIx].key}.json`);
    const before = fs.statSync(f).mtimeMs;
    const slurm = await oltron(["explore", "run-job", out], { ...env, SLURM_ARRAY_TASK_ID: String(pointIx) });
    expect(slurm.exitCode, slurm.all).toBe(0);
    expect(slurm.all).toMatch(new RegExp(`job ${pointIx} .*finished earlier, kept`));
    expect(fs.statSync(f).mtimeMs).toBe(before);

    // A plan whose point was edited by hand, and one an older generator wrote: neither runs.
    for (const [sub, edit] of [["edited", (p: { jobs: { point: { seed: number } }[] }) => (p.jobs[5].point.seed = 7)], ["older", (p: { generator: string }) => (p.generator = "0.0.1")]] as const) {
      fs.mkdirSync(path.join(dir, sub));
      const copy = JSON.parse(JSON.stringify(plan));
      (edit as (p: unknown) => void)(copy);
      fs.writeFileSync(path.join(dir, sub, "plan.json"), JSON.stringify(copy));
    }
    for (const [args, extra, msg] of [
      [[out, "14"], {}, /invalid job index = '14': the plan has jobs 0\.\.13/],
      [[out, "-1"], {}, /invalid job index = '-1'/],
      [[out], { SGE_TASK_ID: "0" }, /invalid job \$SGE_TASK_ID = '0': the plan has jobs 1\.\.14 \(\$SGE_TASK_ID counts from 1\)/],
      [[out], {}, /run-job needs a job index/],
      [[path.join(dir, "sweep.json"), "0"], {}, /not an explore plan this oltron reads/],
      [[path.join(dir, "edited", "plan.json"), "5"], {}, /job 5 is not what the plan's configuration gives: the plan was edited/],
      [[path.join(dir, "older", "plan.json"), "5"], {}, /written by generator 0\.0\.1, this is \d+\.\d+\.\d+; write the plan again/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const bad = await oltron(["explore", "run-job", ...args], { ...env, SLURM_ARRAY_TASK_ID: "", ...extra });
      // An empty SLURM_ARRAY_TASK_ID is not a task of an array.
      expect(bad.exitCode, bad.all).toBe(1);
      expect(bad.all).toMatch(msg);
      expect(bad.all).not.toMatch(/\n\s+at /);
    }
  });

  it("a killed job leaves no result and reads as stale; the next run finishes it", async () => {
    const dir = tmpDir("cluster-kill");
    const out = path.join(dir, "r");
    expect((await oltron(["explore", "--config", sweepFile(dir), "--out", out, "--plan"], env)).exitCode).toBe(0);
    const plan = readJson(path.join(out, "plan.json"));
    // Silicon job 2 (olive), never run with this cache: about 30 s of Yosys and OpenSTA.
    const job = plan.jobs[2];
    const child = execa("node", [OLTRON, "explore", "run-job", out, "2"], { reject: false, all: true, env: { ...process.env, ...env } });
    await waitFor("the silicon flow to start", () => fs.existsSync(path.join(out, "logs", "2.log")) && /mapping/.test(fs.readFileSync(path.join(out, "logs", "2.log"), "utf8")), 60_000);
    child.kill("SIGKILL");
    await child;
    expect(fs.existsSync(path.join(out, "silicon", `${job.key}.json`))).toBe(false);
    // Nothing under the result folders, not even a temporary a later run could take for a result.
    // (Each holds only its job folder marker.)
    for (const sub of ["silicon", "points"]) expect(fs.existsSync(path.join(out, sub)) ? fs.readdirSync(path.join(out, sub)) : [".oltron-output"], sub).toEqual([".oltron-output"]);
    const st = await oltron(["explore", "status", out, "--json"], env);
    expect(st.exitCode, st.all).toBe(0);
    const states = JSON.parse(st.stdout).states;
    expect(states[2].state).toBe("stale");
    expect(states[2].detail).toMatch(new RegExp(`killed on ${os.hostname()} pid \\d+`));
    const coll = await oltron(["explore", "collect", out], env);
    expect(coll.exitCode).toBe(1);
    expect(coll.all).toMatch(new RegExp(`${N_JOBS} of ${N_JOBS} jobs are not finished \\(stale: 2; pending: 0-1,3-13\\)`));
    // The killed run's lock is taken over (its owner is dead), and the job finishes.
    const rerun = await oltron(["explore", "run-job", out, "2"], env);
    expect(rerun.exitCode, rerun.all).toBe(0);
    expect(readJson(path.join(out, "silicon", `${job.key}.json`)).key).toBe(job.key);
  });

  it("reports a failed job with its error and log, and exits 1", async () => {
    const dir = tmpDir("cluster-fail");
    const out = path.join(dir, "r");
    expect((await oltron(["explore", "--config", sweepFile(dir), "--out", out, "--plan"], env)).exitCode).toBe(0);
    // A PATH holding only node: the job's silicon flow cannot find yosys.
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    const r = await execa(process.execPath, [OLTRON, "explore", "run-job", out, "3"], { reject: false, all: true, env: { ...process.env, ...env, OLTRON_CACHE: path.join(dir, "empty-cache"), PATH: bin } });
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toMatch(/job 3 failed: its error and log are in/);
    const st = await oltron(["explore", "status", out], env);
    expect(st.stdout).toMatch(/1 failed/);
    expect(st.stdout).toMatch(/3 failed: silicon of w4a8_r4c4_\w+: yosys not found: run 'make deps'.*\(log: .*logs\/3\.log\)/);
    expect(fs.readFileSync(path.join(out, "logs", "3.log"), "utf8")).toMatch(/job 3: FAILED: yosys not found/);
  });

  it("two local workers give the same results as one, and collect refuses a plan whose inputs changed", async () => {
    const dir = tmpDir("cluster-pool");
    const one = await oltron(["explore", "--config", sweepFile(dir), "--out", path.join(dir, "one"), "--jobs", "1"], env);
    expect(one.exitCode, one.all).toBe(0);
    const two = await oltron(["explore", "--config", sweepFile(dir), "--out", path.join(dir, "two"), "--jobs", "2"], env);
    expect(two.exitCode, two.all).toBe(0);
    expect(two.all).toMatch(/running 14 jobs with 2 workers/);
    expect(fs.readFileSync(path.join(dir, "two", "explore.json"), "utf8")).toBe(fs.readFileSync(path.join(dir, "one", "explore.json"), "utf8"));
    const coll = await oltron(["explore", "collect", path.join(dir, "two")], env);
    expect(coll.exitCode, coll.all).toBe(0);
    expect(coll.stdout).toMatch(/explore: 10 points \(merged from .*two\), 5 design points/);

    const planFile = path.join(dir, "two", "plan.json");
    const plan = readJson(planFile);
    fs.writeFileSync(planFile, JSON.stringify({ ...plan, tools: { ...plan.tools, yosys: "Yosys 0.9 (older)" } }));
    const stale = await oltron(["explore", "collect", path.join(dir, "two")], env);
    expect(stale.exitCode).toBe(1);
    expect(stale.all).toMatch(/the plan's inputs changed since it was made \(yosys 'Yosys 0\.9 \(older\)' -> 'Yosys .*'\)/);
    fs.writeFileSync(planFile, JSON.stringify({ ...plan, config: { ...plan.config, tokens: 65 } }));
    const edited = await oltron(["explore", "collect", path.join(dir, "two")], env);
    expect(edited.exitCode).toBe(1);
    expect(edited.all).toMatch(/the plan's inputs changed since it was made \(job inputs differ\)/);
  });
});

describe("on a one-node Slurm cluster", () => {
  it("runs the plan as a job array, resubmits only a killed task, and merges results equal to a local run", async () => {
    const started = await startSlurm(tmpDir("slurm"), { cpus: 2 });
    // 'make deps' installs slurm-wlm and munge, and CI runs as root: a cluster that cannot
    // start is a failure, with the daemons' own words.
    if ("unavailable" in started) throw new Error(`the test's one-node Slurm cluster did not start (run 'make deps' as root): ${started.unavailable}`);
    const c = started;
    try {
      const dir = tmpDir("cluster-slurm");
      const out = path.join(dir, "r");
      const env = { ...c.env, OLTRON_CACHE: tmpDir("cluster-slurm-cache") };
      const run = (args: string[]) => execa("node", [OLTRON, ...args], { reject: false, all: true, env, extendEnv: false });
      // One task at a time, so job 0 (a silicon flow, about 30 s) is running when it is killed.
      const sub = await run(["explore", "--config", sweepFile(dir), "--out", out, "--slurm", "--array-limit", "1", "--partition", c.partition, "--time", "30:00", "--mem", "2G"]);
      expect(sub.exitCode, sub.all).toBe(0);
      const id = /submitted Slurm job array (\d+) \(14 tasks: 0-13\)/.exec(sub.stdout)?.[1];
      expect(id, sub.all).toBeDefined();
      const script = fs.readFileSync(path.join(out, "slurm", "explore.sbatch"), "utf8");
      expect(script).toMatch(/^#SBATCH --array=0-13%1$/m);
      expect(script).toMatch(/^#SBATCH --partition=test$/m);
      const plan = readJson(path.join(out, "plan.json"));
      const key0 = plan.jobs[0].key;
      await waitFor("job 0's silicon flow to start under Slurm", () => fs.existsSync(path.join(out, "running", `${key0}.json`)) &&
        fs.existsSync(path.join(out, "logs", "0.log")) && /mapping/.test(fs.readFileSync(path.join(out, "logs", "0.log"), "utf8")), 120_000);
      const cancel = await execa("scancel", [`${id}_0`], { reject: false, all: true, env, extendEnv: false });
      expect(cancel.exitCode, cancel.all).toBe(0);
      await waitForJobs(c, [id!], 900_000);

      const st = JSON.parse((await run(["explore", "status", out, "--json"])).stdout);
      expect(st.states[0].state).not.toBe("done");
      const notDone = st.states.slice(1).filter((s: { state: string }) => s.state !== "done");
      const logs = notDone.map((s: { index: number }) => fs.readFileSync(path.join(out, "logs", `${s.index}.log`), "utf8").slice(-1500)).join("\n");
      expect(notDone, logs).toEqual([]);
      expect(fs.existsSync(path.join(out, "silicon", `${key0}.json`))).toBe(false);
      const early = await run(["explore", "collect", out]);
      expect(early.exitCode).toBe(1);
      expect(early.all).toMatch(/1 of 14 jobs are not finished \((pending|stale): 0\)/);
      // Slurm's own output of every task is kept beside the job logs.
      expect(fs.readdirSync(path.join(out, "logs")).filter((f) => f.startsWith(`slurm-${id}_`)).length).toBe(N_JOBS);

      const mtimes = () => Object.fromEntries(fs.readdirSync(path.join(out, "points")).map((f) => [f, fs.statSync(path.join(out, "points", f)).mtimeMs]));
      const before = mtimes();
      const again = await run(["explore", "--config", path.join(dir, "sweep.json"), "--out", out, "--slurm", "--partition", c.partition]);
      expect(again.exitCode, again.all).toBe(0);
      const id2 = /submitted Slurm job array (\d+) \(1 tasks: 0\)/.exec(again.stdout)?.[1];
      expect(id2, again.all).toBeDefined();
      expect(fs.readFileSync(path.join(out, "slurm", "explore.sbatch"), "utf8")).toMatch(/^#SBATCH --array=0$/m);
      await waitForJobs(c, [id2!], 600_000);
      expect(mtimes()).toEqual(before);
      const merged = await run(["explore", "collect", out]);
      expect(merged.exitCode, merged.all).toBe(0);

      // The same plan run locally (the silicon now cached) gives the same report, byte for byte.
      const local = await run(["explore", "--config", path.join(dir, "sweep.json"), "--out", path.join(dir, "local"), "--jobs", "2"]);
      expect(local.exitCode, local.all).toBe(0);
      expect(fs.readFileSync(path.join(out, "explore.json"), "utf8")).toBe(fs.readFileSync(path.join(dir, "local", "explore.json"), "utf8"));
    } finally {
      await c.stop();
    }
  });
});

describe("verify as one job per layer", () => {
  it("runs each layer's co-simulation as a job; each layer's simulated output equals the whole run's", async () => {
    const dir = tmpDir("cluster-verify");
    const layers = ["--layer", "qkv:8x16x8", "--layer", "down:8x32x8:fp12", "--layer", "o_proj:4x16x4:none"];
    const whole = await oltron(["verify", "--preset", "tiny", ...layers, "--out", path.join(dir, "whole")]);
    expect(whole.exitCode, whole.all).toBe(0);
    const out = path.join(dir, "plan");
    const planOnly = await oltron(["verify", "--preset", "tiny", ...layers, "--plan", "--out", out]);
    expect(planOnly.exitCode, planOnly.all).toBe(0);
    expect(planOnly.stdout).toMatch(/wrote .*plan\.json \(3 jobs, indices 0\.\.2; unfinished: 0-2\)/);
    const early = await oltron(["verify", "collect", out]);
    expect(early.exitCode).toBe(1);
    expect(early.all).toMatch(/3 of 3 jobs are not finished \(pending: 0-2\)/);
    // Images edited after the plan was made: the job refuses to file another computation under its key.
    const plan0 = readJson(path.join(out, "plan.json"));
    const man0 = path.join(out, plan0.jobs[0].images, "manifest.json");
    const man0Text = fs.readFileSync(man0, "utf8");
    fs.writeFileSync(man0, JSON.stringify({ ...JSON.parse(man0Text), actScale: 123 }, null, 1));
    const edited = await oltron(["verify", "run-job", out, "0"]);
    expect(edited.exitCode, edited.all).toBe(1);
    expect(edited.all).toMatch(/layer L0_qkv: .*manifest\.json or the design changed since the plan was made/);
    fs.writeFileSync(man0, man0Text);
    fs.rmSync(path.join(out, "failed", `${plan0.jobs[0].key}.json`));
    const one = await oltron(["verify", "run-job", out, "1"]);
    expect(one.exitCode, one.all).toBe(0);
    const st = await oltron(["verify", "status", out]);
    expect(st.stdout).toMatch(/3 jobs: 1 done, 0 running, 0 failed, 0 stale \(killed\), 2 pending/);
    expect(st.stdout).toMatch(/to run: 0,2/);
    const script = await oltron(["verify", "--preset", "tiny", ...layers, "--out", out, "--slurm", "--dry-run"]);
    expect(script.exitCode, script.all).toBe(0);
    expect(script.stdout).toMatch(/^#SBATCH --array=0,2$/m);
    expect(script.stdout).toMatch(/--quiet verify run-job '.*plan\.json' "\$SLURM_ARRAY_TASK_ID"$/m);
    // The same plan again keeps the folder and its finished job; the pool runs the other two.
    const rest = await oltron(["verify", "--preset", "tiny", ...layers, "--plan", "--out", out, "--jobs", "2"]);
    expect(rest.exitCode, rest.all).toBe(0);
    expect(rest.all).toMatch(/kept from an earlier run\), 1 finished/);
    expect(rest.all).toMatch(/verify: running 2 jobs with 2 workers/);
    expect(rest.stdout).toMatch(/PASS \(bit-exact\): r4c4f2_\w+ on verilator, 3 layer\(s\) in 3 jobs/);
    const merged = readJson(path.join(out, "verify-result.json"));
    expect(merged.jobs.map((j: { pass: boolean }) => j.pass)).toEqual([true, true, true]);
    const wholeMan = readJson(path.join(dir, "whole", "images", "manifest.json"));
    const plan = readJson(path.join(out, "plan.json"));
    for (const [i, l] of wholeMan.layers.entries()) {
      const jobDir = path.join(out, plan.jobs[i].images);
      const jl = readJson(path.join(jobDir, "manifest.json")).layers[0];
      expect(jl.name).toBe(l.name);
      expect(fs.readFileSync(path.join(jobDir, jl.out.file), "utf8"), l.name).toBe(fs.readFileSync(path.join(dir, "whole", "images", l.out.file), "utf8"));
    }
    // A plan folder is the plan's: another layer list replaces it, results and all.
    const other = await oltron(["verify", "--preset", "tiny", "--layer", "qkv:8x16x8", "--plan", "--out", out]);
    expect(other.exitCode, other.all).toBe(0);
    expect(readJson(path.join(out, "plan.json")).jobs.length).toBe(1);
    expect(fs.readdirSync(path.join(out, "results")).filter((f) => f.endsWith(".json"))).toEqual([]);
    const noOut = await oltron(["verify", "--preset", "tiny", "--plan"]);
    expect(noOut.exitCode).toBe(1);
    expect(noOut.all).toMatch(/--plan and --slurm need --out <dir>/);
  });
});
