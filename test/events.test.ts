/**
 * Event counts of co-simulated runs (flows/events.ts, templates/tb_events.hbs) against counts
 * computed here from the layers' codes and shapes alone: token rows, PE operations per kind and
 * mode, salient lanes, OVP outlier pairs, bit toggles of the rows entering the array in issue
 * order, RAM accesses and memory beats. The designs are the architecture tests' (shared builds).
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { layerEvents, runEvents, layerRamAccesses } from "../src/flows/events.js";
import { simulateDesign } from "../src/flows/simulate.js";
import { writeImageDir } from "../src/flows/quantize.js";
import { generateRtl } from "../src/hw/generate.js";
import { buildImageSet } from "../src/image/build.js";
import { imageActivity } from "../src/image/activity.js";
import { loadManifest } from "../src/image/manifest.js";
import type { SimResult } from "../src/flows/simulate.js";
import type { ElaboratedDesign } from "../src/hw/design.js";
import type { QuantizedLayer } from "../src/quant/quantizer.js";
import type { RawRun } from "../src/sim/driver.js";
import { cosim, design, explain, formatCodeLayer, randomCodeLayer, tmpDir } from "./helpers/cosim.js";

const TINY_IO = { rows: 4, cols: 4, memWordBits: 64, bufferTokens: 64, loadSlots: 2 } as const;

/** Token rows in the order the issue stage sends them: token chunks, N-tiles, K-tiles, tokens. */
function* issueOrder(d: ElaboratedDesign, l: QuantizedLayer): Generator<{ r: number; t: number }> {
  const cap = d.config.bufferTokens;
  const nTiles = Math.ceil(l.n / d.cols);
  for (let m0 = 0; m0 < l.m; m0 += cap) {
    for (let j = 0; j < nTiles; j++) {
      for (let t = 0; t < l.geometry.tiles; t++) {
        for (let r = m0; r < Math.min(l.m, m0 + cap); r++) yield { r, t };
      }
    }
  }
}

/** A plain-format row (lane l of tile t at bits [b*l, b*l + b)) as lane codes. */
function plainRow(d: ElaboratedDesign, l: QuantizedLayer, r: number, t: number): number[] {
  const K = l.geometry.paddedK;
  return Array.from({ length: d.rows }, (_, i) => l.actCodes[r * K + t * d.rows + i]);
}

function ones(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** Toggles between consecutive rows (the first against all-zero), and OVP outlier pairs. */
function expectedRows(d: ElaboratedDesign, layers: QuantizedLayer[]): { toggles: number[]; outliers: number[] } {
  let prev = new Array<number>(d.rows).fill(0);
  const toggles: number[] = [];
  const outliers: number[] = [];
  for (const l of layers) {
    let tg = 0;
    let out = 0;
    for (const { r, t } of issueOrder(d, l)) {
      const row = plainRow(d, l, r, t);
      tg += row.reduce((a, c, i) => a + ones(c ^ prev[i]), 0);
      for (let p = 0; p < d.rows / 2; p++) if (row[2 * p] === 8 || row[2 * p + 1] === 8) out++;
      prev = row;
    }
    toggles.push(tg);
    outliers.push(out);
  }
  return { toggles, outliers };
}

function checkCommon(d: ElaboratedDesign, layers: QuantizedLayer[], r: SimResult): void {
  expect(r.pass, explain(r, d.name)).toBe(true);
  for (const [i, l] of layers.entries()) {
    const ev = r.layers[i].events!;
    const tokens = l.m * l.geometry.tiles * Math.ceil(l.n / d.cols);
    expect(ev.tokens).toBe(tokens);
    // Every PE operates once per token row, whatever its mode.
    expect(Object.values(ev.macs).reduce((a, b) => a + b, 0)).toBe(tokens * d.rows * d.cols);
    expect(ev.dram.readBytes).toBe(r.layers[i].traffic.read * (d.config.memWordBits / 8));
    // Random codes move the partial sums; the activity is a fraction of the bits.
    expect(ev.psumActivity).toBeGreaterThan(0);
    expect(ev.psumActivity).toBeLessThanOrEqual(1);
  }
  const run = r.events!;
  expect(run.cycles).toBe(r.cycles.total);
  expect(run.stages.issue.busy).toBe(r.cycles.busy);
  expect(run.stages.read.busy).toBe(r.axi.readBeats);
  expect(run.stages.write.busy).toBe(r.axi.writeBeats);
  for (const s of Object.values(run.stages)) expect(s.busy + s.stall + s.idle).toBe(run.cycles);
  expect(run.ram.ibuf.reads).toBe(2 * r.cycles.busy!);
}

describe("event monitors against the codes", () => {
  it("OliVe: outlier pairs and toggles of every row, int and flint layers", async () => {
    const d = design({ arch: "olive", ...TINY_IO });
    const rng = new Rng(91);
    // A victim code in about one pair in four, so both modes occur.
    const act = () => (rng.u32() % 4 === 0 ? 8 : rng.u32() & 15);
    const layers = [
      formatCodeLayer(d, { name: "a", m: 70, k: 13, n: 9, format: "ovp-int", act, wgt: () => rng.u32() }),
      formatCodeLayer(d, { name: "b", m: 5, k: 8, n: 4, format: "ovp-flint", act, wgt: () => rng.u32() }),
    ];
    const r = await cosim(d, layers, "verilator", "ev-olive");
    checkCommon(d, layers, r);
    const want = expectedRows(d, layers);
    for (const [i, l] of layers.entries()) {
      const ev = r.layers[i].events!;
      expect(ev.toggles).toBe(want.toggles[i]);
      expect(ev.macs["ovp/outlier"]).toBe(2 * want.outliers[i] * d.cols);
      const tokens = ev.tokens;
      expect(ev.decoder).toEqual(l.geometry.format === "ovp-flint" ? { int: 0, flint: tokens } : { int: tokens, flint: 0 });
    }
    expect(want.outliers.every((x) => x > 0)).toBe(true);
  });

  it("W4A8 and int4: every PE in its one mode; toggles of 8- and 4-bit lanes", async () => {
    for (const [arch, kind] of [["w4a8", "w4a8/int8"], ["int4", "eff/int4"]] as const) {
      const d = design({ arch, ...TINY_IO });
      const rng = new Rng(92);
      // int4 arrays take TOBE rows with no salient lanes: 4-bit codes, one per lane.
      const layers = [arch === "w4a8"
        ? formatCodeLayer(d, { name: "a", m: 70, k: 13, n: 9, format: "int8", act: () => rng.u32(), wgt: () => rng.u32() })
        : randomCodeLayer(d, rng, { name: "a", m: 70, k: 13, n: 9, type: "none" })];
      const r = await cosim(d, layers, "verilator", `ev-${arch}`);
      checkCommon(d, layers, r);
      const ev = r.layers[0].events!;
      expect(Object.keys(ev.macs)).toEqual([kind]);
      expect(ev.toggles).toBe(expectedRows(d, layers).toggles[0]);
    }
  });

  it("Oltron: salient lanes per token in fp8 and fp12 layers, efficient PEs always int4", async () => {
    const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
    const rng = new Rng(93);
    const layers = [
      randomCodeLayer(d, rng, { name: "p8", m: 64, k: 256, n: 32, type: "fp8", salient: 16 }),
      randomCodeLayer(d, rng, { name: "p12", m: 40, k: 64, n: 16, type: "fp12", salient: 8 }),
      randomCodeLayer(d, rng, { name: "p0", m: 200, k: 128, n: 16, type: "none", salient: 0 }),
    ];
    const r = await cosim(d, layers, "verilator", "ev-oltron");
    checkCommon(d, layers, r);
    for (const [i, l] of layers.entries()) {
      const ev = r.layers[i].events!;
      const salient = ev.tokens * l.geometry.salientLanes * d.cols;
      const mode = l.geometry.salientType === "fp12" ? "flex/fp12" : "flex/fp8";
      expect(ev.macs["eff/int4"]).toBe(ev.tokens * d.effRows * d.cols);
      expect(ev.macs[mode]).toBe(salient);
      expect(ev.macs["flex/int4"]).toBe(ev.tokens * d.flexLines * d.cols - salient);
      expect(ev.decoder.fp12).toBe(l.geometry.salientType === "fp12" ? ev.tokens : 0);
    }
    expect(layers[1].geometry.salientLanes).toBe(2 * layers[1].geometry.s);
  });
});

describe("the images read in TypeScript see what the monitors see", () => {
  for (const arch of ["oltron", "olive"] as const) {
    it(`${arch}: rows, toggles, outlier pairs and salient lanes exactly; partial-sum toggles within 10%`, async () => {
      const d = arch === "olive" ? design({ arch, ...TINY_IO }) : design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
      const rng = new Rng(94);
      const layers = arch === "olive"
        ? [formatCodeLayer(d, { name: "a", m: 150, k: 13, n: 9, format: "ovp-flint", act: () => (rng.u32() % 5 === 0 ? 8 : rng.u32() & 15), wgt: () => rng.u32() })]
        : [randomCodeLayer(d, rng, { name: "a", m: 150, k: 64, n: 24, type: "fp12", salient: 6 })];
      const dir = tmpDir(`act-${arch}`);
      writeImageDir(dir, buildImageSet(d, layers, { allowOverflow: true }));
      const r = await simulateDesign(d, generateRtl(d), dir, { log: () => {} });
      expect(r.pass).toBe(true);
      const man = loadManifest(dir);
      const img = imageActivity(d, dir, man, man.layers[0]);
      const ev = r.layers[0].events!;
      expect(img.tokens).toBe(ev.tokens);
      expect(img.toggles).toBe(ev.toggles);
      const fromImages = layerEvents(d, man, man.layers[0], img, "images + manifest");
      expect(fromImages.macs).toEqual(ev.macs);
      expect(fromImages.decoder).toEqual(ev.decoder);
      expect(fromImages.ram).toEqual(ev.ram);
      expect(Math.abs(img.psumToggles - ev.psumToggles)).toBeLessThanOrEqual(0.1 * ev.psumToggles);
    });
  }
});

describe("monitors and manifest must agree", () => {
  it("a RAM count the manifest does not imply is an error, not a figure", async () => {
    const d = design({ arch: "olive", ...TINY_IO });
    const l = formatCodeLayer(d, { name: "a", m: 3, k: 4, n: 4, format: "ovp-int", act: () => 1, wgt: () => 1 });
    const r = await cosim(d, [l], "verilator", "ev-agree");
    expect(r.pass).toBe(true);
    // Rebuild the raw run the result came from and perturb one monitor.
    const man = { memWordBits: d.config.memWordBits, design: { bufferTokens: d.config.bufferTokens, descriptorWords: d.descriptorWords, actStrideBits: d.act.strideBits, wgtStrideBits: d.wgt.strideBits, outStrideBits: d.out.strideBits }, descriptorTable: { count: 1 }, layers: [{ ...r.layers[0], nTiles: 1, tileChannels: 4, descriptors: { first: 0, count: 1 } }] };
    const ram = layerRamAccesses(d, man as never, man.layers[0] as never);
    expect(ram).toEqual({ ...r.events!.ram, stats: { writes: 0, reads: 0 } });
    const raw = {
      status: "done", axi: r.axi, events: {
        ram: { ...r.events!.ram, acc: { writes: r.events!.ram.acc.writes + 1, reads: r.events!.ram.acc.reads } },
        stages: { run: { busy: r.cycles.total!, stall: 0 }, read: { busy: r.axi.readBeats!, stall: 0 } },
        descriptors: [{ tokens: r.layers[0].events!.tokens, salientLanes: 0, secondMode: 0, outlierPairs: 0, toggles: 0 }],
      },
    } as unknown as RawRun;
    expect(() => runEvents(d, man as never, raw)).toThrow(/RAM acc: the monitors counted .* the manifest implies/);
  });
});
