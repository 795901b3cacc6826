/**
 * `oltron explore`: the sweep's points, its configuration errors, the Pareto and sensitivity
 * logic on hand-made rows, and a small real sweep through the CLI: every file written, the
 * figures consistent with each other and with their sources, a second run recomputing
 * nothing, and the HTML's Pareto plots drawn in chromium.
 */
import { expectJsonOutput } from "./helpers/contract.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { DEFAULT_EXPLORE, loadExploreConfig } from "../src/flows/explore-config.js";
import { explorePoints, pareto, type BlockResult } from "../src/flows/explore.js";
import { energyRanking, sensitivityStudy } from "../src/report/explore.js";
import { ENERGY_PARTS } from "../src/flows/energy.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const OLTRON = path.join(ROOT, "bin", "oltron.js");
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));

describe("the sweep", () => {
  it("has one point per architecture, size, Oltron budget and plan, and LLaMA-7B layer by default", () => {
    const pts = explorePoints(DEFAULT_EXPLORE);
    // Oltron twice (tiles as the budget allows, and no extra tiles), the others once.
    expect(pts.length).toBe((2 + 3) * 2 * 4);
    expect(pts.filter((p) => p.plan === "equal-tiles").length).toBe(2 * 4);
    expect(new Set(pts.map((p) => p.arch))).toEqual(new Set(["oltron", "int4", "olive", "w4a8"]));
    expect(pts.filter((p) => p.budget !== undefined).every((p) => p.arch === "oltron")).toBe(true);
    expect(pts.find((p) => p.layer.type === "down")!.layer).toEqual({ type: "down", k: 11008, n: 4096 });
  });

  it("refuses a bad configuration, naming the key, the value and the rule", () => {
    const dir = tmpDir("explore-cfg");
    const f = path.join(dir, "sweep.yaml");
    fs.writeFileSync(f, "sizes: [16, 48]\n");
    expect(() => loadExploreConfig(f)).toThrow(/invalid sizes\.1 = 48: /);
    fs.writeFileSync(f, "archs: [tpu]\n");
    expect(() => loadExploreConfig(f)).toThrow(/invalid archs\.0 = "tpu": .*oltron/);
    fs.writeFileSync(f, "budgets: [3]\n");
    expect(() => loadExploreConfig(f)).toThrow(/invalid budgets\.0 = 3: .*greater than 4/);
    fs.writeFileSync(f, "sizes: [16]\nbogus: 1\n");
    expect(() => loadExploreConfig(f)).toThrow(/bogus/);
    expect(() => loadExploreConfig(path.join(dir, "none.yaml"))).toThrow(/no such file/);
  });

  it("keeps exactly the non-dominated rows", () => {
    const rows = [{ n: "a", s: 20, e: 5 }, { n: "b", s: 18, e: 3 }, { n: "c", s: 17, e: 4 }, { n: "d", s: 20, e: 6 }];
    expect(pareto(rows, (r) => r.s, (r) => r.e).map((r) => r.n)).toEqual(["a", "b"]);
  });

  it("says when scaling one cost source reorders the designs", () => {
    const b = (label: string, energyPj: number, dram: [number, number]) =>
      ({ label, energyPj, sensitivity: { ram: [energyPj, energyPj], dram, activity: [energyPj, energyPj], library: [energyPj, energyPj] } }) as unknown as BlockResult;
    const blocks = [b("x", 10, [6, 18]), b("y", 12, [11, 13])];
    expect(energyRanking(blocks)).toEqual(["x", "y"]);
    const s = sensitivityStudy(blocks);
    expect(s.filter((r) => r.flips).map((r) => `${r.source}x${r.factor}`)).toEqual(["dramx2"]);
  });
});

describe("oltron explore on a small sweep", () => {
  it("writes JSON, CSV and HTML whose figures agree, resumes without recomputing, and draws its plots", async () => {
    const dir = tmpDir("explore");
    const cfgFile = path.join(dir, "sweep.json");
    fs.writeFileSync(cfgFile, JSON.stringify({
      archs: ["oltron", "int4", "olive", "w4a8"], sizes: [4], budgets: [4.25],
      layers: [{ type: "o_proj", k: 64, n: 16 }, { type: "down", k: 96, n: 8 }],
      tokens: 64, evalTokens: 32, calibTokens: 16, sampleN: 16, seeds: [1],
    }));
    const out = path.join(dir, "results");
    const r1 = await execa("node", [OLTRON, "explore", "--config", cfgFile, "--out", out], { reject: false, all: true });
    expect(r1.exitCode, r1.all).toBe(0);
    expect(r1.stdout).toMatch(/explore: 10 points \(0 from earlier runs\), 5 design points; wrote explore\.html/);
    // The same report as --json prints it, against its published schema (resumed: nothing recomputed).
    const j = await execa("node", [OLTRON, "explore", "--config", cfgFile, "--out", out, "--json"], { reject: false, all: true });
    expect(j.exitCode, j.all).toBe(0);
    expect(expectJsonOutput("explore", j.stdout).points.length).toBe(10);
    for (const f of ["explore.json", "points.csv", "blocks.csv", "explore.html", "explore-config.json"]) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const rep = JSON.parse(fs.readFileSync(path.join(out, "explore.json"), "utf8"));
    expect(rep.points.length).toBe(10);
    for (const p of rep.points) {
      const e = p.energy;
      expect(e.totalPj).toBeCloseTo(ENERGY_PARTS.reduce((a: number, k: string) => a + e.parts[k], 0), 3);
      // Every PE of the array is busy at most once per cycle: the cycle count bounds the work.
      const macs = 64 * p.point.layer.k * p.point.layer.n;
      expect(p.cycles).toBeGreaterThanOrEqual(macs / 16);
      expect(e.topsPerW).toBeCloseTo((2 * macs) / (e.totalPj * 1e-12) / 1e12, 6);
      expect(p.cyclesSource).toBe("model");
      expect(Number.isFinite(p.sqnrDb)).toBe(true);
      expect(p.activity).toBeGreaterThan(0);
    }
    // W4A8 stores 8-bit activations; the others about 4 (Oltron: more with its salient lanes).
    const bits = Object.fromEntries(rep.blocks.map((b: { arch: string; actBits: number }) => [b.arch, b.actBits]));
    expect(bits.w4a8).toBeCloseTo(8, 6);
    expect(bits.int4).toBeCloseTo(4, 6);
    expect(bits.oltron).toBeGreaterThanOrEqual(4);
    // With no extra tiles, every Oltron layer has the all-int4 tile count.
    const eq = rep.points.filter((p: { point: { plan?: string } }) => p.point.plan === "equal-tiles");
    expect(eq.length).toBe(2);
    for (const p of eq) expect(p.tiles).toBe(p.minTiles);
    // The same silicon prices every layer of a design: one Fmax per design.
    for (const b of rep.blocks) expect(new Set(rep.points.filter((p: { design: string }) => p.design === b.design).map((p: { energy: { fmaxMHz: number } }) => p.energy.fmaxMHz)).size).toBe(1);
    expect(rep.sensitivity.length).toBe(8);
    const blocksCsv = fs.readFileSync(path.join(out, "blocks.csv"), "utf8").trim().split("\n");
    expect(blocksCsv.length).toBe(1 + 5);

    const r2 = await execa("node", [OLTRON, "explore", "--config", cfgFile, "--out", out], { reject: false, all: true });
    expect(r2.exitCode, r2.all).toBe(0);
    expect(r2.stdout).toMatch(/10 points \(10 from earlier runs\)/);
    expect(JSON.parse(fs.readFileSync(path.join(out, "explore.json"), "utf8")).blocks).toEqual(rep.blocks);

    expect(CHROMIUM, "chromium is installed by 'make deps'").toBeDefined();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 1600 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.route(/^https?:/, (route) => route.abort());
      await page.goto(`file://${path.join(out, "explore.html")}`);
      await page.waitForSelector("body[data-rendered=yes]", { timeout: 600_000 });
      expect(errors).toEqual([]);
      const charts = (await page.evaluate("window.__charts")) as { id: string; points: number }[];
      expect(charts.map((c) => c.id)).toEqual(["sqnr_energy", "sqnr_area", "thr_area"]);
      for (const c of charts) expect(c.points, c.id).toBe(5);
      const painted = (await page.evaluate(`[...document.querySelectorAll("canvas")].map((cv) => {
        const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        return n;
      })`)) as number[];
      for (const n of painted) expect(n).toBeGreaterThan(500);
      // Labelled axes with units.
      const axes = (await page.evaluate(`[...document.querySelectorAll("canvas")].map((c) => {
        const s = Chart.getChart(c).options.scales;
        return [s.x.title.text, s.y.title.text];
      })`)) as [string, string][];
      expect(axes).toEqual([
        ["energy per token (nJ, decoder block)", "SQNR (dB, mean over layers, held-out tokens)"],
        ["area (mm^2, logic + RAM)", "SQNR (dB, mean over layers, held-out tokens)"],
        ["area (mm^2, logic + RAM)", "throughput (tokens/s at Fmax, decoder block)"],
      ]);
    } finally {
      await browser.close();
    }
  });

  it("--rtl-sample co-simulates each point's sample: bit-exact, the model's cycles and the images' counts equal", async () => {
    const dir = tmpDir("explore-rtl");
    const cfgFile = path.join(dir, "sweep.yaml");
    fs.writeFileSync(cfgFile, "archs: [olive, oltron]\nsizes: [4]\nlayers: [{type: qkv, k: 48, n: 8}]\ntokens: 64\nevalTokens: 40\ncalibTokens: 16\nsampleN: 8\n");
    const out = path.join(dir, "results");
    const r = await execa("node", [OLTRON, "explore", "--config", cfgFile, "--out", out, "--rtl-sample"], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    const rep = JSON.parse(fs.readFileSync(path.join(out, "explore.json"), "utf8"));
    expect(rep.points.length).toBe(3);
    for (const p of rep.points) {
      expect(p.rtlSample.pass).toBe(true);
      expect(p.rtlSample.cycles.model).toBe(p.rtlSample.cycles.rtl);
      expect(p.rtlSample.toggles.images).toBe(p.rtlSample.toggles.rtl);
      expect(p.rtlSample.outlierPairs.images).toBe(p.rtlSample.outlierPairs.rtl);
    }
    expect(rep.points.find((p: { point: { arch: string } }) => p.point.arch === "olive").rtlSample.outlierPairs.rtl).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, "explore.html"), "utf8")).toMatch(/RTL samples: the co-simulated accuracy sample/);
  });

  it("refuses a results folder holding someone else's files", async () => {
    const dir = tmpDir("explore-foreign");
    fs.writeFileSync(path.join(dir, "thesis.tex"), "mine");
    const r = await execa("node", [OLTRON, "explore", "--out", dir], { reject: false, all: true });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/holds files and is not provably oltron.s \(no .oltron-output marker\)/);
    expect(fs.readFileSync(path.join(dir, "thesis.tex"), "utf8")).toBe("mine");
  });
});
