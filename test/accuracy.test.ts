/**
 * The accuracy benchmark on small sizes: every method and layer type is in the tables, values
 * are finite, budgets are met, results are written atomically, user tensors go through the same
 * path, and `bench accuracy` validates its flags.
 */
import { expectJsonOutput } from "./helpers/contract.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { accuracyMarkdown, normalizeBudgets, runAccuracyBench, type AccuracyBenchResult } from "../src/bench/accuracy.js";
import { parseBudgets, registerAccuracyCommands } from "../src/cli/accuracy.js";
import { elaborate, resolveConfig } from "../src/hw/design.js";
import { UserError } from "../src/core/errors.js";
import { generateLayer, LAYER_TYPES } from "../src/data/synthetic.js";
import { evaluatePlan } from "../src/quant/adaptive.js";
import { int4PerTensor, prepareLayer } from "../src/quant/baselines.js";
import { writeNpy } from "../src/data/tensorio.js";

const tmp: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-accuracy-"));
  tmp.push(d);
  return d;
}
afterAll(() => {
  for (const t of tmp) fs.rmSync(t, { recursive: true, force: true });
});

const BUDGETS = [4.5, 4.25, 5];
const METHODS = [
  "int4_max", "int4_mse", "int4_token", "ovp", "ovp_token", "olive", "quarot_wclip", "int8", "tobe_fp8_t4", "tobe_fp12_t4",
  ...[4.25, 4.5, 5].flatMap((b) => [`oltron_authors_fp8_b${b}`, `oltron_authors_fp12_b${b}`]),
];
const LABELS = ["**adaptive**", "OliVe (released)", "Oltron authors @B", "QuaRot", "OVP tuned", "int4 tensor", "int4 token", "int8", "W16A4", "wins: OliVe / authors / QuaRot"];

describe("runAccuracyBench (small)", () => {
  const out = tmpDir();
  const d = elaborate(resolveConfig({}, "16x16"));
  let r: AccuracyBenchResult;

  it("runs every method on every layer type, weight mode and seed, held out, and writes JSON + markdown", () => {
    r = runAccuracyBench({ budgets: BUDGETS, m: 32, calibTokens: 32, k: 256, n: 32, seeds: [2, 3], design: d, out, weightModels: ["gaussian"], activationModels: ["profile"] });
    expect(r.setup.budgets).toEqual([4.25, 4.5, 5]);
    expect(r.setup).toMatchObject({ m: 32, calibTokens: 32, seeds: [2, 3], heldOut: true, variation: true, scalings: ["tensor", "token"], weightClip: true, activationModels: ["profile"] });
    expect(r.layers.map((l) => `${l.weights} ${l.layer}`)).toEqual([...LAYER_TYPES.map((t) => `rtn ${t}`), ...LAYER_TYPES.map((t) => `gptq ${t}`)]);
    for (const l of r.layers) {
      expect(l.baselines.map((b) => b.method).sort()).toEqual([...METHODS].sort());
      for (const b of l.baselines) {
        expect(Number.isFinite(b.sqnrDb), `${l.layer} ${b.method}`).toBe(true);
        expect(Number.isFinite(b.actOnlySqnrDb)).toBe(true);
        expect(b.bits).toBeGreaterThanOrEqual(4);
        // The mean and spread are of the per-seed values kept beside them.
        expect(b.sqnrDbSeeds).toHaveLength(2);
        expect(b.sqnrDb).toBeCloseTo((b.sqnrDbSeeds![0] + b.sqnrDbSeeds![1]) / 2, 10);
        expect(b.sqnrDbStd).toBeCloseTo(Math.abs(b.sqnrDbSeeds![0] - b.sqnrDbSeeds![1]) / Math.SQRT2, 10);
      }
      // The authors' quantizer rounds its channel count up, as released: at most one channel over its budget.
      for (const b of l.baselines.filter((x) => x.method.startsWith("oltron_authors_"))) {
        expect(b.bits).toBeLessThanOrEqual(Number(b.detail.budget) + (b.method.includes("fp12") ? 8 : 4) / l.k + 1e-12);
      }
      expect(l.adaptive.length).toBe(2 * BUDGETS.length);
      for (const a of l.adaptive) {
        expect(Number.isFinite(a.sqnrDb)).toBe(true);
        expect(a.bits).toBeLessThanOrEqual(a.budget + 1e-12);
        expect(a.plansBySeed).toHaveLength(2);
        expect(a.targetMet).toBe(a.beatsOvp && a.beatsInt4 && a.nearInt8 !== false);
        expect(a.released.versus.map((v) => v.method.replace(/_fp\d+_b[\d.]+$|_wclip$/, ""))).toEqual(["olive", "oltron_authors", "quarot"]);
        for (const v of a.released.versus) {
          expect(v.seeds).toBe(2);
          expect(v.wins).toBeGreaterThanOrEqual(0);
          expect(v.wins).toBeLessThanOrEqual(2);
        }
        expect(a.released.met).toBe(a.released.versus.every((v) => v.wins === v.seeds));
        // Against the authors' quantizer: at equal information bits its fp8 or fp12 row at B, at
        // equal cycles every row of it that needs no extra tile; whichever has the better mean over the seeds.
        const au = a.released.versus.find((v) => v.method.startsWith("oltron_authors_"))!;
        const authors = l.baselines.filter((b) => b.method.startsWith("oltron_authors_"));
        const rivals = a.noExtraTiles ? authors.filter((b) => b.cost!.cycleRatio === 1) : authors.filter((b) => b.detail.budget === a.budget);
        if (!a.noExtraTiles) expect(rivals).toHaveLength(2);
        expect(au.method).toBe([...rivals].sort((x, y) => y.sqnrDb - x.sqnrDb)[0].method);
        if (a.noExtraTiles) {
          expect(a.tiles).toBe(a.minTiles);
          expect(a.cycleRatio).toBe(1);
        }
        // The calibration-to-evaluation gap: the mean of the per-seed gaps.
        expect(a.gapDb).toBeCloseTo(a.calibSqnrDb - a.sqnrDb, 9);
      }
      expect(l.adaptive.find((a) => a.budget === 5)!.nearInt8).toBeNull(); // no int8 target above 4.5
    }
    expect(r.model.length).toBe(2 * BUDGETS.length);
    for (const m of r.model) expect(m.avgBits).toBeLessThanOrEqual(m.budget + 1e-12);
    expect(r.summary.rows).toBe(2 * LAYER_TYPES.length * BUDGETS.length);
    expect(r.summary.failures.length).toBe(r.summary.rows - r.summary.targetMet);
    expect(r.summary.released.failures.length).toBe(r.summary.released.rows - r.summary.released.met);
    // Equal-or-fewer-bits wins are a subset; above B = 4 adaptive spends more bits than OliVe and QuaRot.
    expect(r.summary.released.metAtEqualOrFewerBits).toBeLessThanOrEqual(r.summary.released.met);
    for (const l of r.layers) {
      for (const a of l.adaptive) {
        const olive = a.released.versus.find((v) => v.method === "olive")!;
        expect(olive.bitsOver).toBeCloseTo(a.bits - 4, 12);
      }
    }

    const json = JSON.parse(fs.readFileSync(path.join(out, "accuracy.json"), "utf8"));
    expect(json.summary).toEqual(r.summary);
    const md = fs.readFileSync(path.join(out, "accuracy.md"), "utf8");
    expect(md).toBe(accuracyMarkdown(r));
    for (const label of LABELS) expect(md).toContain(label);
    for (const t of LAYER_TYPES) expect(md).toContain(`| ${t} | 4.25 |`);
    expect(md).not.toMatch(/NaN|undefined/);
    expect(fs.readdirSync(out).sort()).toEqual([".oltron-output", "accuracy.json", "accuracy.md"]); // no temp files left; the marker vouches for both
  });

  it("scores the plan chosen on calibration tokens on the evaluation tokens after them", () => {
    // Seed 2, qkv, round-to-nearest weights: rebuild the split independently and re-score.
    const g = generateLayer({ type: "qkv", m: 64, k: 256, n: 32, seed: 2, variation: true });
    const rows = (r0: number, r1: number) => ({ shape: [r1 - r0, 256], data: g.x.data.slice(r0 * 256, r1 * 256) });
    // Every method's weights are clip-searched by default (weightClip).
    const pe = prepareLayer(rows(32, 64), g.w, "qkv", { calib: rows(0, 32), wClip: true });
    const row = r.layers.find((l) => l.layer === "qkv" && l.weights === "rtn")!.adaptive.find((a) => a.budget === 4.5 && !a.noExtraTiles)!;
    expect(row.sqnrDbSeeds![0]).toBe(evaluatePlan(d, pe, row.plan).sqnrDb);
    const olive = r.layers.find((l) => l.layer === "qkv" && l.weights === "rtn")!.baselines.find((b) => b.method === "int4_mse")!;
    expect(olive.sqnrDbSeeds![0]).toBe(int4PerTensor(pe, "mse").error.sqnrDb);
  });

  it("runs gaussian and heavy-tailed weights side by side, and rotation + TOBE against QuaRot at equal cycles", () => {
    const rw = runAccuracyBench({ budgets: [4.25, 4.5], m: 16, calibTokens: 16, k: 128, n: 16, seeds: [1, 2], design: d, layerTypes: ["down"], weights: ["rtn"], activationModels: ["profile"] });
    expect(rw.layers.map((l) => [l.layer, l.weightModel])).toEqual([["down", "gaussian"], ["down, heavy W", "heavy"]]);
    // The heavy layer's weights are not the gaussian one's.
    expect(rw.layers[0].baselines.find((b) => b.method === "int8")!.sqnrDb).not.toBeCloseTo(rw.layers[1].baselines.find((b) => b.method === "int8")!.sqnrDb, 3);
    for (const l of rw.layers) {
      expect(l.rotatedTobe.map((a) => a.budget)).toEqual([4.25, 4.5]);
      for (const a of l.rotatedTobe) {
        expect(a.rotated).toBe(true);
        expect(a.tiles).toBe(a.minTiles); // QuaRot's cycles: no extra tiles
        expect(a.bits).toBeLessThanOrEqual(a.budget + 1e-12);
        expect(a.sqnrDbSeeds).toHaveLength(2);
        // Against QuaRot at full strength: with or without its weight clipping, whichever is stronger on average.
        const v = a.released.versus.find((x) => x.method.startsWith("quarot"))!;
        const q = l.baselines.find((b) => b.method === "quarot_wclip")!; // weights clipped alike: QuaRot with its --w_clip
        expect(v.method).toBe(q.method);
        expect(v.meanDiffDb).toBeCloseTo(a.sqnrDb - q.sqnrDb, 9);
      }
    }
    expect(accuracyMarkdown(rw)).toMatch(/### Rotation \+ TOBE vs QuaRot alone, at equal cycles[\s\S]*\| rtn \| down, heavy W \| 4\.5 \|/);
  });

  it("a design without fp12 marks that baseline n/a", () => {
    const d8 = elaborate(resolveConfig({ rows: 16, cols: 16, flexLines: 1, salientTypes: ["fp8"] }));
    const r8 = runAccuracyBench({ budgets: [4.5], m: 8, calibTokens: 8, k: 128, n: 16, design: d8, layerTypes: ["down"], weights: ["rtn"], weightModels: ["gaussian"], activationModels: ["profile"] });
    expect(r8.layers[0].baselines.some((b) => b.method === "tobe_fp12_t4")).toBe(false);
    expect(accuracyMarkdown(r8)).toContain("n/a");
    expect(r8.model).toEqual([]); // one layer: no model-wide section
  });

  it("takes the user's tensors through the same path: a quarter of the tokens calibrate", () => {
    const g = generateLayer({ type: "o_proj", m: 32, k: 128, n: 16, seed: 4, variation: true });
    const ru = runAccuracyBench({ budgets: [4.5], x: g.x, w: g.w, name: "my_layer", design: d, weights: ["rtn"] });
    expect(ru.setup).toMatchObject({ source: "user", heldOut: true, calibTokens: 8, m: 24 });
    expect(ru.layers.map((l) => l.layer)).toEqual(["my_layer"]);
    // Same data as the synthetic o_proj layer with 8 calibration and 24 evaluation tokens: same figures.
    const rs = runAccuracyBench({
      budgets: [4.5], m: 24, calibTokens: 8, k: 128, n: 16, seed: 4, design: d, layerTypes: ["o_proj"], weights: ["rtn"], weightModels: ["gaussian"], activationModels: ["profile"],
    });
    expect(ru.layers[0].baselines.map((b) => b.sqnrDb)).toEqual(rs.layers[0].baselines.map((b) => b.sqnrDb));
    expect(ru.layers[0].adaptive[0].sqnrDb).toBe(rs.layers[0].adaptive[0].sqnrDb);
  });

  it("rejects bad options with specific messages", () => {
    expect(() => normalizeBudgets([4])).toThrow(/\(4, 16\]/);
    expect(() => normalizeBudgets([])).toThrow(/no budgets/);
    expect(() => runAccuracyBench({ budgets: [17] })).toThrow(UserError);
    const g = generateLayer({ type: "qkv", m: 4, k: 32, n: 4, seed: 1 });
    expect(() => runAccuracyBench({ x: g.x })).toThrow(/both the activations \(x\) and the weights \(w\)/);
    expect(() => runAccuracyBench({ x: g.x, w: g.w, layerTypes: ["qkv"] })).toThrow(/not both/);
    expect(() => runAccuracyBench({ layerTypes: ["mlp" as never], m: 4, k: 32, n: 4 })).toThrow(/unknown layer type 'mlp'/);
    expect(() => runAccuracyBench({ m: 0 })).toThrow(/invalid m/);
    expect(() => runAccuracyBench({ seed: -1 })).toThrow(/invalid seed/);
    expect(() => runAccuracyBench({ seeds: [] })).toThrow(/no seeds/);
    expect(() => runAccuracyBench({ weights: ["fp16" as never] })).toThrow(/unknown weight quantization 'fp16'/);
    expect(() => runAccuracyBench({ x: g.x, w: g.w, name: "a b" })).toThrow(/layer name/);
  });
});

describe("bench accuracy command", () => {
  function program(): Command {
    const p = new Command("oltron").exitOverride();
    p.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    const bench = p.command("bench").option("--out <dir>", "results folder", "bench/results").action(() => {
      throw new Error("the perf benchmark must not run");
    });
    registerAccuracyCommands(bench);
    return p;
  }
  async function run(args: string[]): Promise<string> {
    const logs: string[] = [];
    const log = console.log;
    const err = process.stderr.write;
    console.log = (s: string) => logs.push(s);
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await program().parseAsync(["node", "oltron", "bench", "accuracy", ...args]);
    } finally {
      console.log = log;
      process.stderr.write = err;
    }
    return logs.join("\n");
  }

  it("writes results to --out and prints the table", async () => {
    const out = path.join(tmpDir(), "res");
    const text = await run(["--out", out, "--budgets", "4.5,4.25", "--m", "8", "--calib-tokens", "16", "--seeds", "1,2", "--weights", "rtn", "--k", "128", "--n", "16", "--layers", "qkv,down", "--preset", "16x16"]);
    expect(text).toContain("# Accuracy: adaptive TOBE vs OliVe, the Oltron authors' quantizer, QuaRot");
    expect(text).toContain("| qkv | 4.25 |");
    expect(text).toContain("| down | 4.5 |");
    const r = JSON.parse(fs.readFileSync(path.join(out, "accuracy.json"), "utf8")) as AccuracyBenchResult;
    expect(r.setup.budgets).toEqual([4.25, 4.5]);
    expect(r.setup).toMatchObject({ seeds: [1, 2], calibTokens: 16, m: 8 });
    expect(r.designs.map((d) => d.rows)).toEqual([16]);
  });

  it("--no-variation generates i.i.d. tokens (the figures change, the setup says so)", async () => {
    const dir = tmpDir();
    const args = ["--budgets", "4.5", "--seed", "3", "--weights", "rtn", "--m", "16", "--calib-tokens", "16", "--k", "128", "--n", "8", "--layers", "o_proj", "--preset", "small8", "--weight-models", "gaussian", "--activation-models", "profile"];
    await run(["--out", path.join(dir, "a"), ...args]);
    await run(["--out", path.join(dir, "b"), ...args, "--no-variation"]);
    const a = JSON.parse(fs.readFileSync(path.join(dir, "a", "accuracy.json"), "utf8")) as AccuracyBenchResult;
    const b = JSON.parse(fs.readFileSync(path.join(dir, "b", "accuracy.json"), "utf8")) as AccuracyBenchResult;
    expect(a.setup.variation).toBe(true);
    expect(b.setup.variation).toBe(false);
    const iid = generateLayer({ type: "o_proj", m: 32, k: 128, n: 8, seed: 3 });
    const split = (wClip: boolean) => prepareLayer({ shape: [16, 128], data: iid.x.data.slice(16 * 128) }, iid.w, "o_proj", { calib: { shape: [16, 128], data: iid.x.data.slice(0, 16 * 128) }, wClip });
    expect(b.layers[0].baselines.find((x) => x.method === "int4_mse")!.sqnrDb).toBe(int4PerTensor(split(true), "mse").error.sqnrDb);
    expect(a.layers[0].baselines.find((x) => x.method === "int4_mse")!.sqnrDb).not.toBe(b.layers[0].baselines.find((x) => x.method === "int4_mse")!.sqnrDb);
    // --no-weight-clip: the shared weights at max/7, and QuaRot both without and with its clipping.
    await run(["--out", path.join(dir, "c"), ...args, "--no-variation", "--no-weight-clip"]);
    const c = JSON.parse(fs.readFileSync(path.join(dir, "c", "accuracy.json"), "utf8")) as AccuracyBenchResult;
    expect(c.setup.weightClip).toBe(false);
    expect(c.setup.weights[0]).toMatch(/max\/7/);
    expect(c.layers[0].baselines.find((x) => x.method === "int4_mse")!.sqnrDb).toBe(int4PerTensor(split(false), "mse").error.sqnrDb);
    expect(c.layers[0].baselines.map((x) => x.method)).toEqual(expect.arrayContaining(["quarot", "quarot_wclip"]));
    expect(b.layers[0].baselines.map((x) => x.method)).not.toContain("quarot");
  });

  it("reads --x/--w tensors and prints JSON with --json", async () => {
    const dir = tmpDir();
    const g = generateLayer({ type: "up_gate", m: 8, k: 64, n: 8, seed: 3 });
    writeNpy(path.join(dir, "act.npy"), g.x);
    writeNpy(path.join(dir, "wgt.npy"), g.w);
    const text = await run(["--out", path.join(dir, "r"), "--budgets", "4.5", "--weights", "rtn", "--x", path.join(dir, "act.npy"), "--w", path.join(dir, "wgt.npy"), "--preset", "small8", "--json"]);
    const r = JSON.parse(text) as AccuracyBenchResult;
    expect(r.layers.map((l) => l.layer)).toEqual(["act"]);
  });

  it("rejects bad flags with UserErrors naming the flag", async () => {
    const out = path.join(tmpDir(), "bad");
    await expect(run(["--out", out, "--budgets", "4,4.5"])).rejects.toThrow(/invalid budget '4' in --budgets: must be a number in \(4, 16\]/);
    await expect(run(["--out", out, "--budgets", "4.5,abc"])).rejects.toThrow(/invalid budget 'abc'/);
    await expect(run(["--out", out, "--seed", "x"])).rejects.toThrow(/--seed must be an integer/);
    await expect(run(["--out", out, "--seed", "1", "--seeds", "1,2"])).rejects.toThrow(/--seed or --seeds, not both/);
    await expect(run(["--out", out, "--seeds", "1,y"])).rejects.toThrow(/--seeds must be an integer/);
    await expect(run(["--out", out, "--weights", "rtn,awq"])).rejects.toThrow(/unknown weight quantization 'awq' in --weights/);
    await expect(run(["--out", out, "--calib-tokens", "0"])).rejects.toThrow(/--calib-tokens must be an integer/);
    await expect(run(["--out", out, "--k", "0"])).rejects.toThrow(/--k must be an integer in 1\.\.65536/);
    await expect(run(["--out", out, "--layers", "qkv,mlp"])).rejects.toThrow(/unknown layer type 'mlp' in --layers/);
    await expect(run(["--out", out, "--preset", "huge"])).rejects.toThrow(/unknown preset 'huge'/);
    await expect(run(["--out", out, "--x", "a.npy"])).rejects.toThrow(/--x and --w go together/);
    await expect(run(["--out", out, "--w-name", "w"])).rejects.toThrow(/--w-name names a tensor inside a \.safetensors --x\/--w file: give --x and --w with it/);
    await expect(run(["--out", out, "--max-tile-overhead", "-1"])).rejects.toThrow(/--max-tile-overhead must be a number >= 0/);
    await expect(run(["--out", out, "--flex-lines", "0", "--salient-types", "fp8"])).rejects.toThrow(UserError);
    expect(fs.existsSync(out)).toBe(false);
    expect(parseBudgets("4.05, 4.1")).toEqual([4.05, 4.1]);
  });
});

describe("bench accuracy in worker threads", () => {
  it("gives the same figures as the single-threaded run, seed by seed", async () => {
    const { execa } = await import("execa");
    const out = path.join(tmpDir(), "par");
    const root = path.resolve(__dirname, "..");
    const args = ["--seeds", "1,2", "--weights", "rtn,gptq", "--preset", "small8", "--m", "48", "--calib-tokens", "32", "--k", "128", "--n", "16", "--layers", "qkv,down", "--budgets", "4.25"];
    const r = await execa("node", [path.join(root, "bin", "oltron.js"), "bench", "accuracy", "--out", out, ...args, "--json"], { reject: false, all: true, cwd: root });
    expect(r.exitCode, r.all).toBe(0);
    const par = expectJsonOutput("bench-accuracy", r.stdout) as AccuracyBenchResult;
    const seq = runAccuracyBench({
      seeds: [1, 2], weights: ["rtn", "gptq"], design: elaborate(resolveConfig({}, "small8")), m: 48, calibTokens: 32, k: 128, n: 16,
      layerTypes: ["qkv", "down"], budgets: [4.25],
    });
    const figures = (x: AccuracyBenchResult) => x.layers.map((l) => [l.weights, l.layer, l.baselines.map((b) => b.sqnrDbSeeds), l.adaptive.map((a) => a.sqnrDbSeeds)]);
    expect(figures(par)).toEqual(figures(seq));
    expect(par.model).toEqual(seq.model);
  });
});
