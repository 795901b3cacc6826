/**
 * Nothing outlives oltron: a SIGINT during a Verilator build or a SIGKILL during a simulation
 * leaves no simulator, compiler or make running and no half-built cache entry behind; a hung
 * simulator meets a wall-clock limit.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execa, type ResultPromise } from "execa";
import { describe, expect, it } from "vitest";
import { MAX_TIMER_MS, runChild } from "../src/core/children.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const OLTRON = path.join(ROOT, "bin", "oltron.js");

/** Processes whose command line mentions `needle` (the test's private cache or run folder). */
async function processesWith(needle: string): Promise<string[]> {
  const r = await execa("ps", ["-eo", "pid=,args="], { reject: false });
  return r.stdout.split("\n").filter((l) => l.includes(needle) && !l.includes("ps -eo"));
}

async function until(what: string, cond: () => Promise<boolean>, seconds: number): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > seconds * 1000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function start(args: string[], cache: string): ResultPromise<{ reject: false; all: true; env: Record<string, string> }> {
  return execa("node", [OLTRON, ...args], { reject: false, all: true, env: { OLTRON_CACHE: cache } });
}

describe("child processes and interrupts", () => {
  it("a wall-clock limit beyond what Node's timers hold is no limit, not an instant timeout", async () => {
    // --max-cycles 99999999999 derives a limit of years: the run must finish, not be cut at once.
    const r = await runChild("sleep", ["0.3"], { timeoutSeconds: (MAX_TIMER_MS / 1000) * 10 });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
  });

  it("SIGINT during a Verilator build stops verilator, make and the compiler, and leaves no partial cache entry", async () => {
    const cache = tmpDir("int-cache");
    const out = tmpDir("int-run");
    const p = start(["verify", "--preset", "tiny", "--layer", "qkv:8x16x8", "--out", path.join(out, "run")], cache);
    // The compiler's command line names the private build folder inside this cache.
    await until("the C++ compile", async () => (await processesWith(cache)).some((l) => /cc1plus|g\+\+|make/.test(l)), 600);
    process.kill(p.pid!, "SIGINT");
    const r = await p;
    expect(r.exitCode).toBe(130);
    expect(r.all).toMatch(/SIGINT: stopping child processes and removing temporary files/);
    await until("every child to be gone", async () => (await processesWith(cache)).length === 0, 120);
    const left = fs.existsSync(path.join(cache, "sim")) ? fs.readdirSync(path.join(cache, "sim")) : [];
    expect(left.filter((n) => /\.tmp-|\.lock$/.test(n))).toEqual([]);
    expect(left.filter((n) => !fs.existsSync(path.join(cache, "sim", n, "entry.json")))).toEqual([]);
    // The run folder never appeared, and its temporary sibling is gone.
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it("SIGKILL of oltron during a simulation: the supervisor ends the simulator", async () => {
    const cache = tmpDir("kill-cache");
    const out = tmpDir("kill-run");
    // Icarus is slow enough on this layer that the run is certainly in flight when killed.
    const p = start(["verify", "--preset", "tiny", "--simulator", "icarus", "--layer", "qkv:64x256x64", "--out", path.join(out, "run")], cache);
    await until("vvp to run", async () => (await processesWith(cache)).some((l) => /\bvvp\b/.test(l)), 600);
    process.kill(p.pid!, "SIGKILL");
    await p;
    await until("vvp to be gone", async () => (await processesWith(cache)).length === 0, 120);
    // Killed outright, oltron could not tidy up, but the run folder itself never appeared.
    expect(fs.existsSync(path.join(out, "run"))).toBe(false);
  });

  it("a run past its wall-clock limit is stopped and reported as such, not as a design hang", async () => {
    const cache = tmpDir("wall-cache");
    const out = path.join(tmpDir("wall-run"), "run");
    const r = await start(["verify", "--preset", "tiny", "--simulator", "icarus", "--layer", "qkv:64x256x64", "--max-seconds", "1", "--out", out], cache);
    expect(r.exitCode).toBe(3);
    expect(r.all).toMatch(/passed its wall-clock limit of 1 s and was stopped/);
    expect(r.all).toMatch(/FAIL \(the simulator passed its 1 s wall-clock limit\)/);
    const result = JSON.parse(fs.readFileSync(path.join(out, "images", "sim-result.json"), "utf8"));
    expect(result.status).toBe("timeout");
    expect(result.wallClockLimit).toBe(1);
    expect(await processesWith(cache)).toEqual([]);
  });

  it("SIGINT during quantize over an existing folder stops it at once with 130, publishing nothing and leaving no temporary", async () => {
    const dir = tmpDir("int-quantize");
    const cache = path.join(dir, "cache");
    const design = path.join(dir, "design");
    expect((await start(["generate", "--preset", "tiny", "--out", design], cache)).exitCode).toBe(0);
    const out = path.join(dir, "img");
    expect((await start(["quantize", "--design", design, "--layer", "qkv:8x16x8", "--out", out], cache)).exitCode).toBe(0);
    const before = fs.readFileSync(path.join(out, "manifest.json"), "utf8");
    // A layer large enough that quantizing it takes seconds.
    const p = start(["quantize", "--design", design, "--layer", "down:2048x4096x2048", "--out", out], cache);
    let said = "";
    p.all?.on("data", (b: Buffer) => (said += b.toString()));
    await until("quantize to start", async () => /quantize: layer 1\/1/.test(said) || fs.readdirSync(dir).some((f) => f.startsWith(".img.tmp-")), 600);
    await new Promise((r) => setTimeout(r, 300));
    p.kill("SIGINT");
    const r = await p;
    expect(r.exitCode, r.all).toBe(130);
    expect(r.all).toMatch(/SIGINT: stopping child processes and removing temporary files/);
    expect(fs.readFileSync(path.join(out, "manifest.json"), "utf8")).toBe(before);
    expect(fs.readdirSync(dir).filter((f) => f !== "cache").sort()).toEqual(["design", "img"]);
  });

  it("SIGINT during golden stops it at once with 130", async () => {
    const dir = tmpDir("int-golden");
    const cache = path.join(dir, "cache");
    const design = path.join(dir, "design");
    expect((await start(["generate", "--preset", "tiny", "--out", design], cache)).exitCode).toBe(0);
    const out = path.join(dir, "img");
    expect((await start(["quantize", "--design", design, "--layer", "down:512x4096x1024", "--out", out], cache)).exitCode).toBe(0);
    const p = start(["golden", "--images", out], cache);
    // The golden model of this layer takes seconds; interrupt it once it is under way.
    await new Promise((r) => setTimeout(r, 1500));
    p.kill("SIGINT");
    const r = await p;
    expect(r.exitCode, r.all).toBe(130);
    expect(r.all).not.toMatch(/golden L0_down/);
  });

  it("SIGINT during bench stops it with 130 and leaves neither its work folder nor a simulator build behind", async () => {
    const dir = tmpDir("int-bench");
    const cache = path.join(dir, "cache");
    const tmp = path.join(dir, "tmp");
    fs.mkdirSync(tmp);
    const p = execa("node", [OLTRON, "bench", "--quick", "--only", "layers", "--out", path.join(dir, "results")], {
      reject: false, all: true, env: { OLTRON_CACHE: cache, TMPDIR: tmp },
    });
    let said = "";
    p.all?.on("data", (b: Buffer) => (said += b.toString()));
    await until("a co-simulation to start", async () => /bench: co-simulating/.test(said), 600);
    await new Promise((r) => setTimeout(r, 1500));
    p.kill("SIGINT");
    const r = await p;
    expect(r.exitCode, r.all).toBe(130);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(await processesWith(cache)).toEqual([]);
    expect(await processesWith(tmp)).toEqual([]);
    // No results were written, and no half-built model is left in the cache.
    expect(fs.existsSync(path.join(dir, "results", "perf.json"))).toBe(false);
    const sim = path.join(cache, "sim");
    for (const e of fs.existsSync(sim) ? fs.readdirSync(sim) : []) expect(e, "a partial cache entry").not.toMatch(/\.tmp-/);
  });

  it("a closed stderr (oltron piped into head) ends a run with 141 and leaves neither lock nor temporary folder", async () => {
    const dir = tmpDir("epipe");
    const cache = path.join(dir, "cache");
    const design = path.join(dir, "design");
    expect((await start(["generate", "--preset", "tiny", "--out", design], cache)).exitCode).toBe(0);
    // Half the channels salient in fp12: the tile warning is written while the work is under way.
    const p = execa("node", [OLTRON, "quantize", "--design", design, "--layer", "down:512x2048x512:fp12:r0.5", "--out", path.join(dir, "img")], {
      reject: false, env: { OLTRON_CACHE: cache }, stdout: "ignore",
    });
    await new Promise<void>((resolve) => p.stderr!.once("data", () => resolve()));
    p.stderr!.destroy();
    const r = await p;
    expect(r.exitCode).toBe(141);
    expect(fs.readdirSync(dir).filter((f) => f !== "cache").sort()).toEqual(["design"]);
  });
});
