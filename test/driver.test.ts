/** Simulation driver behaviours: build cache, watchdog, waveform window, image integrity. */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../src/core/errors.js";
import { simulateDesign, summarize } from "../src/flows/simulate.js";
import { writeImageDir } from "../src/flows/quantize.js";
import { loadManifest } from "../src/image/manifest.js";
import { buildImageSet } from "../src/image/build.js";
import { generateRtl } from "../src/hw/generate.js";
import { Rng } from "../src/core/rng.js";
import { memAddrBitsFor, runSim } from "../src/sim/driver.js";
import { buildSim } from "../src/sim/build.js";
import { design, randomCodeLayer, tmpDir } from "./helpers/cosim.js";

const D = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });

function images(tag: string): string {
  const dir = tmpDir(tag);
  writeImageDir(dir, buildImageSet(D, [randomCodeLayer(D, new Rng(9), { m: 6, k: 10, n: 5, type: "fp8" })], { allowOverflow: true }));
  return dir;
}

type ManifestEdit = [(m: Record<string, any>) => void, RegExp];

/** Each edit of a fresh image folder's manifest makes the simulation refuse, with the message. */
async function expectEditsRefused(edits: ManifestEdit[]): Promise<void> {
  for (const [edit, msg] of edits) {
    const dir = images("edit");
    const f = path.join(dir, "manifest.json");
    const man = JSON.parse(fs.readFileSync(f, "utf8"));
    edit(man);
    fs.writeFileSync(f, JSON.stringify(man));
    await expect(simulateDesign(D, generateRtl(D), dir, { simulator: "icarus", log: () => {} })).rejects.toThrow(msg);
  }
}

describe("driver", () => {
  it("builds a model once when two callers ask for it at the same time, and takes over a dead builder's lock", async () => {
    const saved = process.env.OLTRON_CACHE;
    process.env.OLTRON_CACHE = tmpDir("lockcache");
    try {
      const rtl = generateRtl(D);
      const logs: string[] = [];
      const [a, b] = await Promise.all([
        buildSim(rtl, { simulator: "icarus", memAddrBits: 16, log: (s) => logs.push(`a ${s}`) }),
        buildSim(rtl, { simulator: "icarus", memAddrBits: 16, log: (s) => logs.push(`b ${s}`) }),
      ]);
      expect([a.cached, b.cached].sort()).toEqual([false, true]);
      expect(a.binary).toBe(b.binary);
      expect(logs.some((l) => l.includes("waiting for another oltron process"))).toBe(true);
      expect(fs.existsSync(`${a.dir}.lock`)).toBe(false);
      // A lock left by a process that no longer exists does not block the next build.
      const other = await buildSim(rtl, { simulator: "icarus", memAddrBits: 17, log: () => {} });
      fs.rmSync(other.dir, { recursive: true, force: true });
      const { execa } = await import("execa");
      const dead = (await execa("node", ["-e", "process.stdout.write(String(process.pid))"])).stdout;
      fs.mkdirSync(`${other.dir}.lock`);
      fs.writeFileSync(path.join(`${other.dir}.lock`, "pid"), dead);
      const rebuilt = await buildSim(rtl, { simulator: "icarus", memAddrBits: 17, log: () => {} });
      expect(rebuilt.cached).toBe(false);
      expect(fs.existsSync(rebuilt.binary)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.OLTRON_CACHE;
      else process.env.OLTRON_CACHE = saved;
    }
  });

  it("reuses a cached build for identical sources", async () => {
    const rtl = generateRtl(D);
    const first = await buildSim(rtl, { simulator: "icarus", memAddrBits: 16, log: () => {} });
    const again = await buildSim(rtl, { simulator: "icarus", memAddrBits: 16, log: () => {} });
    expect(again.cached).toBe(true);
    expect(again.key).toBe(first.key);
    const other = await buildSim(rtl, { simulator: "icarus", memAddrBits: 17, log: () => {} });
    expect(other.key).not.toBe(first.key);
  });

  it("reports a run that exceeds the watchdog as a hang, with its cycle count", async () => {
    const dir = images("hang");
    const man = loadManifest(dir);
    const build = await buildSim(generateRtl(D), { simulator: "verilator", memAddrBits: memAddrBitsFor(man), log: () => {} });
    const run = await runSim(build, dir, man, { maxCycles: 20, log: () => {} });
    expect(run.status).toBe("timeout");
    expect(run.cyclesTotal).toBeGreaterThanOrEqual(19);
    expect(run.outputs).toBeUndefined();
  });

  it("writes a waveform limited to the requested window (Icarus VCD)", async () => {
    const dir = images("trace");
    const vcd = path.join(dir, "w.vcd");
    const r = await simulateDesign(D, generateRtl(D), dir, { simulator: "icarus", trace: { file: vcd, from: 5, to: 15 }, log: () => {} });
    expect(r.pass).toBe(true);
    const text = fs.readFileSync(vcd, "utf8");
    const unit = text.match(/\$timescale\s+(\d+)\s*(ps|ns)/);
    expect(unit).not.toBeNull();
    const nsPerTick = (Number(unit![1]) * (unit![2] === "ps" ? 1 : 1000)) / 1000;
    const stamps = text.split("\n").filter((l) => /^#\d+/.test(l)).map((l) => Number(l.slice(1)) * nsPerTick);
    // 10 ns clock: a 10-cycle window spans ~100 ns of timestamps, far less than the whole run.
    expect(stamps.length).toBeGreaterThan(5);
    expect(Math.max(...stamps) - Math.min(...stamps)).toBeLessThanOrEqual(120);
    expect(r.cycles.total * 10).toBeGreaterThan(300);
    expect(summarize(r)).toContain("PASS");
  });

  it("writes an FST waveform from a Verilator trace build", async () => {
    const dir = images("fst");
    const fst = path.join(dir, "w.fst");
    const r = await simulateDesign(D, generateRtl(D), dir, { simulator: "verilator", trace: { file: fst, from: 2, to: 30 }, log: () => {} });
    expect(r.pass).toBe(true);
    const head = fs.readFileSync(fst).subarray(0, 1);
    expect(head[0]).toBe(0); // FST files open with a header block (block type 0)
    expect(fs.statSync(fst).size).toBeGreaterThan(1000);
  });

  it("refuses an image whose sha256 does not match the manifest, naming the file", async () => {
    const dir = images("sha");
    const man = loadManifest(dir);
    const f = path.join(dir, man.layers[0].act.file);
    const text = fs.readFileSync(f, "utf8");
    fs.writeFileSync(f, (text[0] === "0" ? "1" : "0") + text.slice(1));
    await expect(simulateDesign(D, generateRtl(D), dir, { simulator: "icarus", log: () => {} })).rejects.toThrow(UserError);
    await expect(simulateDesign(D, generateRtl(D), dir, { simulator: "icarus", log: () => {} })).rejects.toThrow(/L0\.act\.hex: sha256/);
  });

  it("catches a hand-edited manifest before the RTL can be blamed", async () => {
    const edits: ManifestEdit[] = [
      [(m) => (m.layers[0].s = m.layers[0].s + 1), /does not match descriptor 0 \(field 4/],
      [(m) => (m.layers[0].salientType = "fp12"), /does not match descriptor 0 \(field 5/],
      [(m) => (m.layers[0].tileChannels += 1), /paddedK \d+ != tiles/],
      [(m) => m.layers[0].weightScales.pop(), /weightScales must list 5 scales/],
      [(m) => (m.design.actStrideBits = 64), /layer L0 descriptor 0 activation reads: words \d+\.\.\d+, outside its activation image/],
      [(m) => (m.layers[0].k = 6), /permutation\[\d+\] = \d+ is out of range 0\.\.5 or repeated/],
      [(m) => ((m.layers[0].n = 2), m.layers[0].weightScales.splice(2)), /n = 2 does not fit nTiles 2 \/ paddedN 8/],
      [(m) => (m.layers[0].paddedN = 12), /does not fit nTiles/],
      [(m) => (m.layers[0].actScale = "abc"), /layers\[0\]\.actScale = "abc": must be a number/],
      [(m) => (m.layers[0].weightScales[1] = -0.5), /weightScales\[1\] = -0\.5: must be > 0/],
      [(m) => (m.layers[0].permutation[1] = m.layers[0].permutation[0]), /permutation\[1\] = \d+ is out of range .* or repeated/],
      [(m) => m.layers.push({ ...m.layers[0] }), /two layers are named 'L0'/],
      [(m) => (m.layers[0] = null), /layers\[0\] = null: must be an object/],
    ];
    await expectEditsRefused(edits);
  });

  it("never follows a file name in a manifest out of the image folder, and refuses a manifest that is not an object", async () => {
    const outside = tmpDir("victim");
    const victim = path.join(outside, "victim.txt");
    fs.writeFileSync(victim, "the user's file\n");
    const edits: ManifestEdit[] = [
      [(m) => (m.layers[0].out.file = path.relative("x", victim)), /layer L0 out\.file must be a plain file name inside the image folder/],
      [(m) => (m.layers[0].out.file = victim), /out\.file must be a plain file name/],
      [(m) => (m.layers[0].act.file = "../L0.act.hex"), /act\.file must be a plain file name/],
      [(m) => (m.layers[0].wgt.file = ".."), /wgt\.file must be a plain file name/],
      [(m) => (m.layers[0].reference = { x: "/etc/passwd", w: "L0.w.npy" }), /reference\.x must be a plain file name/],
      [(m) => (m.descriptorTable.file = "sub/descriptors.hex"), /descriptorTable\.file must be a plain file name/],
      [(m) => (m.layers[0].out.file = null), /layers\[0\]\.out\.file = null: must be a string/],
    ];
    await expectEditsRefused(edits);
    expect(fs.readFileSync(victim, "utf8")).toBe("the user's file\n");
    for (const text of ["null", "[]", "42", "\"manifest\""]) {
      const dir = images("null");
      fs.writeFileSync(path.join(dir, "manifest.json"), text);
      expect(() => loadManifest(dir)).toThrow(/not a manifest object/);
    }
  });

  it("refuses images quantized for another design", async () => {
    const dir = images("other");
    const other = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 128, bufferTokens: 64 });
    await expect(simulateDesign(other, generateRtl(other), dir, { log: () => {} })).rejects.toThrow(/quantized for design r4c4f2/);
  });
});
