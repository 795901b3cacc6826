/**
 * The mechanistic activation models (data/mechanistic.ts): deterministic, their channel layout
 * independent of the token count, and the structure docs/data.md section 2.5 states (sink
 * tokens owned by the massive channels after RMSNorm; small attention outputs at sequence
 * starts; SwiGLU massive channels 1000x-6000x the median spread). Layers built this way
 * co-simulate bit-exact on both simulators.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { tmpDir } from "./helpers/cosim.js";
import { generateLayer, type LayerType } from "../src/data/synthetic.js";
import { MECHANISTIC } from "../src/data/mechanistic.js";

const ROOT = path.resolve(__dirname, "..");
const K = 256;
const gen = (type: LayerType, m: number, seed = 5) => generateLayer({ type, m, k: K, n: 8, seed, activations: "mechanistic" });

function rowEnergy(x: Float32Array, t: number): Float64Array {
  return Float64Array.from({ length: K }, (_, c) => x[t * K + c] ** 2);
}
const sum = (v: ArrayLike<number>) => Array.from(v).reduce((a, b) => a + b, 0);
const medianOf = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

describe("mechanistic activations", () => {
  it("are deterministic, and the channel layout does not depend on the token count", () => {
    for (const type of ["qkv", "o_proj", "down"] as const) {
      const a = gen(type, 700);
      expect(Buffer.from(gen(type, 700).x.data.buffer).equals(Buffer.from(a.x.data.buffer))).toBe(true);
      const b = gen(type, 1300);
      expect(b.salientChannels).toEqual(a.salientChannels);
      expect(b.massiveChannels).toEqual(a.massiveChannels);
      expect(gen(type, 700, 6).salientChannels).not.toEqual(a.salientChannels);
      // Sinks: every sequence start and one delimiter per sequence.
      expect(a.massiveTokens.filter((t) => t % MECHANISTIC.sequenceTokens === 0)).toEqual([0, 512]);
      expect(a.massiveTokens).toHaveLength(4);
      expect(a.x.data.every((v) => Number.isFinite(v))).toBe(true);
    }
  });

  it("RMSNorm'd residual: at a sink token the two massive channels take the row, and every other channel almost vanishes", () => {
    const g = gen("qkv", 700);
    expect(g.massiveChannels).toHaveLength(2);
    const x = g.x.data as Float32Array;
    const restMedian = (t: number) => medianOf(Array.from({ length: K }, (_, c) => c).filter((c) => !g.massiveChannels.includes(c)).map((c) => Math.abs(x[t * K + c])));
    const ordinary = medianOf(Array.from({ length: 700 }, (_, t) => t).filter((t) => !g.massiveTokens.includes(t)).map(restMedian));
    for (const t of g.massiveTokens) {
      const e = rowEnergy(x, t);
      expect(sum(g.massiveChannels.map((c) => e[c])) / sum(e), `sink ${t}`).toBeGreaterThan(0.9);
      expect(restMedian(t), `sink ${t}`).toBeLessThan(0.2 * ordinary);
    }
  });

  it("attention output: a sequence start attends only to its own small value vector", () => {
    const g = gen("o_proj", 700);
    const rms = Array.from({ length: 700 }, (_, t) => Math.sqrt(sum(rowEnergy(g.x.data as Float32Array, t)) / K));
    const med = medianOf(rms);
    expect(rms[0]).toBeLessThan(0.7 * med);
    expect(rms[512]).toBeLessThan(0.7 * med);
    expect(g.massiveChannels).toEqual([]);
    expect(g.salientChannels.length).toBe(Math.round(MECHANISTIC.attention.outlierFraction * K));
  });

  it("SwiGLU output: massive channels at the sinks, 1000x-6000x the median channel's spread, both signs elsewhere", () => {
    const m = 1300;
    const g = gen("down", m);
    const x = g.x.data;
    const sinks = new Set(g.massiveTokens);
    const sd = Array.from({ length: K }, (_, c) => {
      const v = Array.from({ length: m }, (_, t) => x[t * K + c]).filter((_, t) => !sinks.has(t));
      const mean = sum(v) / v.length;
      return Math.sqrt(sum(v.map((u) => (u - mean) ** 2)) / v.length);
    });
    const med = medianOf(sd);
    const ratios = g.massiveChannels.flatMap((c) => g.massiveTokens.map((t) => Math.abs(x[t * K + c]) / med));
    expect(ratios).toHaveLength(2 * g.massiveTokens.length);
    // Set against the median spread over all tokens; without the sinks it moves by a few percent.
    for (const r of ratios) {
      expect(r).toBeGreaterThan(900);
      expect(r).toBeLessThan(6600);
    }
    // A product of two signed values: ordinary channels take both signs.
    const c0 = sd.findIndex((_, c) => !g.salientChannels.includes(c));
    const col = Array.from({ length: m }, (_, t) => x[t * K + c0]);
    expect(col.some((v) => v > 0) && col.some((v) => v < 0)).toBe(true);
  });

  for (const simulator of ["verilator", "icarus"] as const) {
    it(`co-simulates bit-exact on ${simulator}: a SwiGLU output with massive channels in fp12, an attention output and a residual in fp8`, async () => {
      const out = path.join(tmpDir(`mech-${simulator}`), "run");
      const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "small8", "--seed", "2", "--activation-model", "mechanistic",
        "--layer", "down:600x128x16:fp12:r0.05", "--layer", "o_proj:520x64x16:fp8:r0.05", "--layer", "qkv:520x64x16:fp8:r0.05",
        "--act-scaling", "token", "--weight-model", "heavy", "--w-clip", "--simulator", simulator, "--out", out, "--json"], { reject: false, all: true, cwd: ROOT });
      expect(r.exitCode, r.all).toBe(0);
      const res = JSON.parse(r.stdout);
      expect(res.pass).toBe(true);
      expect(res.layers.map((l: { salientType: string }) => l.salientType)).toEqual(["fp12", "fp8", "fp8"]);
      for (const l of res.layers) expect(l.salientChannels).toBeGreaterThan(0);
    });
  }

  it("refuses --activation-model with layers that bring their own activations", async () => {
    const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "small8", "--activation-model", "mechanistic", "--block", "llama7b",
      "--out", path.join(tmpDir("mech-refuse"), "run")], { reject: false, all: true, cwd: ROOT });
    expect(r.exitCode).toBe(1);
    expect(r.all).toMatch(/--activation-model mechanistic applies to synthetic layers/);
    expect(r.all).not.toMatch(/\n\s+at /);
  });
});
