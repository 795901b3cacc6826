/**
 * `oltron report <run-folder>` in a real browser: Debian's chromium, driven by playwright-core
 * (Playwright's own browser download does not work here). The page must render every chart
 * with data, offline, without errors; a screenshot is kept in test-results/ as an artifact.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { runAccuracyBench } from "../src/bench/accuracy.js";
import { elaborate, resolveConfig } from "../src/hw/design.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OLTRON = path.join(ROOT, "bin", "oltron.js");
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));

describe("run report", () => {
  it("writes a self-contained HTML page whose charts render with data in chromium, and CSV beside the JSON", async () => {
    expect(CHROMIUM, "chromium is installed by 'make deps' (Debian package chromium)").toBeDefined();
    const dir = tmpDir("report");
    const run = path.join(dir, "run");
    const v = await execa("node", [OLTRON, "verify", "--preset", "tiny", "--layer", "qkv:32x64x16:fp8:r0.1", "--layer", "o_proj:32x32x8:fp12", "--out", run], { reject: false, all: true });
    expect(v.exitCode, v.all).toBe(0);
    const r = await execa("node", [OLTRON, "report", run], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    const html = path.join(run, "report", "report.html");
    expect(r.stdout).toContain(`wrote ${html}`);
    // Self-contained: no network, no external script or stylesheet.
    const text = fs.readFileSync(html, "utf8");
    expect(text).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/cdn/);
    // Every table as CSV next to the JSON, agreeing with it.
    const rep = JSON.parse(fs.readFileSync(path.join(run, "report", "report.json"), "utf8"));
    const layersCsv = fs.readFileSync(path.join(run, "report", "layers.csv"), "utf8").trim().split("\n");
    expect(layersCsv.length).toBe(1 + rep.layers.length);
    expect(layersCsv[1].split(",").slice(0, 4)).toEqual([rep.layers[0].name, String(rep.layers[0].m), String(rep.layers[0].k), String(rep.layers[0].n)]);
    // Per-layer cycles, as the run's result recorded them.
    const result = JSON.parse(fs.readFileSync(path.join(run, "images", "sim-result.json"), "utf8"));
    expect(layersCsv[0].split(",").slice(-4)).toEqual(["cycles", "busy_cycles", "stall_cycles", "utilization"]);
    expect(layersCsv[1].split(",").slice(-4, -1).map(Number)).toEqual([result.layers[0].cycles.total, result.layers[0].cycles.busy, result.layers[0].cycles.stall]);
    const channels = fs.readFileSync(path.join(run, "report", `channels-${rep.layers[0].name}.csv`), "utf8").trim().split("\n");
    expect(channels.length).toBe(1 + 64);
    expect(channels.slice(1).filter((l) => l.endsWith(",1")).length).toBe(rep.layers[0].salientChannelsList.length);

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
      // Offline: any request leaving the file is refused and would show as an error.
      await page.route(/^https?:/, (route) => route.abort());
      await page.goto(`file://${html}`);
      await page.waitForSelector("body[data-rendered=yes]", { timeout: 600_000 });
      expect(errors).toEqual([]);
      const charts = (await page.evaluate("window.__charts")) as { id: string; points: number; axes: string[] }[];
      // The run-level charts and, per layer, channel magnitudes, and salient slots where they vary from tile to tile.
      const slots = rep.layers.flatMap((l: { slotsPerTile: number[] }, i: number) => (new Set(l.slotsPerTile).size > 1 ? [`slots${i}`] : []));
      expect(charts.map((c) => c.id).sort()).toEqual(["split", "roofline", "sqnr", "bits", "ch0", "ch1", "tiles", "traffic", ...slots].sort());
      // Every chart names both axes (with units where there are any).
      for (const c of charts) expect(c.axes.filter((a) => a.length > 0).length, c.id).toBe(2);
      // Where the cycles went: four parts and the drain, per layer and for the whole run.
      expect(charts.find((c) => c.id === "split")!.points).toBe(5 * (rep.layers.length + 1));
      // The split adds up to each layer's measured cycles, the run's to its total.
      for (const l of rep.layers) expect(l.split.useful + l.split.padding + l.split.extraTiles + l.split.stall).toBeCloseTo(l.cycles.total, 6);
      expect(rep.layers.reduce((a: number, l: { cycles: { total: number } }) => a + l.cycles.total, 0) + rep.drainCycles).toBe(result.cycles.total);
      // Roofline: the roof and one point per layer, at MACs per byte read and MACs per cycle.
      expect(charts.find((c) => c.id === "roofline")!.points).toBe(61 + rep.layers.length);
      const l0 = rep.layers[0];
      expect(l0.roofline.macsPerCycle).toBeCloseTo((l0.m * l0.k * l0.n) / result.layers[0].cycles.total, 9);
      expect(l0.roofline.bytesRead).toBe((result.layers[0].traffic.read) * (rep.params["memory word (bits)"] / 8));
      expect(l0.sqnrDb).toBe(result.layers[0].error.sqnrDb);
      // The design's parameters and the memory model are on the page.
      const body = await page.evaluate("document.body.innerText") as string;
      expect(body).toMatch(/memory read latency \(cycles\)\s+1/);
      expect(body).toMatch(/flexible lines\s+2/);
      for (const c of charts) expect(c.points, c.id).toBeGreaterThan(0);
      expect(charts.find((c) => c.id === "ch0")!.points).toBeGreaterThanOrEqual(64);
      // Drawn, not just declared: each canvas has non-blank pixels.
      const painted = (await page.evaluate(`[...document.querySelectorAll("canvas")].map((cv) => {
        const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        return n;
      })`)) as number[];
      expect(painted.length).toBe(charts.length);
      for (const n of painted) expect(n).toBeGreaterThan(500);
      fs.mkdirSync(path.join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, "test-results", "report.png"), fullPage: true });
    } finally {
      await browser.close();
    }
    expect(fs.statSync(path.join(ROOT, "test-results", "report.png")).size).toBeGreaterThan(10000);
    const none = await execa("node", [OLTRON, "report", path.join(dir, "nothing-here")], { reject: false, all: true });
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/not a folder/);
  });

  it("runs no script planted in a run folder: figures that are not numbers are refused, text goes in as text", async () => {
    const dir = tmpDir("report-hostile");
    const run = path.join(dir, "run");
    const v = await execa("node", [OLTRON, "verify", "--preset", "tiny", "--layer", "qkv:8x16x8:fp8", "--out", run], { reject: false, all: true });
    expect(v.exitCode, v.all).toBe(0);
    const resultFile = path.join(run, "images", "sim-result.json");
    // The report never replaces what it reads: --out naming the run or its images is refused.
    const before = fs.readFileSync(resultFile, "utf8");
    for (const out of [run, path.join(run, "images"), path.join(run, "..")]) {
      const r = await execa("node", [OLTRON, "report", run, "--out", out], { reject: false, all: true });
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stderr).toMatch(/contains the run's file .*: writing it would replace the input; choose another --out/);
    }
    expect(fs.readFileSync(resultFile, "utf8")).toBe(before);
    expect(fs.readdirSync(path.join(run, "images")).length).toBeGreaterThan(3);
    const original = JSON.parse(fs.readFileSync(resultFile, "utf8"));
    const PAYLOAD = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
    const set = (o: Record<string, unknown>, at: string, value: unknown) => {
      const keys = at.split(".");
      let x = o as Record<string, unknown>;
      for (const k of keys.slice(0, -1)) x = x[k] as Record<string, unknown>;
      x[keys[keys.length - 1]] = value;
    };
    // Figures: each refused by the schema, naming the field, with no stack trace and no page.
    for (const at of ["cycles.total", "layers.0.mismatches", "layers.0.m", "words.read", "utilization", "idealCycles", "layers.0.traffic.read", "macs"]) {
      const bad = JSON.parse(JSON.stringify(original));
      set(bad, at, PAYLOAD);
      fs.writeFileSync(resultFile, JSON.stringify(bad));
      const r = await execa("node", [OLTRON, "report", run, "--out", path.join(dir, "rep-bad")], { reject: false, all: true });
      expect(r.exitCode, `${at}: ${r.all}`).toBe(1);
      expect(r.stderr).toContain(`not a sim-result this oltron reads: ${at} = `);
      expect(r.all).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(path.join(dir, "rep-bad"))).toBe(false);
    }
    for (const doc of [null, { ...original, design: 42 }, { ...original, layers: {} }]) {
      fs.writeFileSync(resultFile, JSON.stringify(doc));
      const r = await execa("node", [OLTRON, "report", run, "--out", path.join(dir, "rep-bad")], { reject: false, all: true });
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stderr).toMatch(/not a sim-result this oltron reads/);
    }
    // Text: every free-text field carries the script; the page shows it as text and runs none of it.
    const hostile = JSON.parse(JSON.stringify(original));
    for (const at of ["design", "build.key", "build.dir", "provenance.oltron", "provenance.node", "provenance.cwd"]) set(hostile, at, PAYLOAD);
    hostile.provenance.command = [PAYLOAD];
    fs.writeFileSync(resultFile, JSON.stringify(hostile));
    const out = path.join(dir, "rep");
    const r = await execa("node", [OLTRON, "report", run, "--out", out], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    const html = fs.readFileSync(path.join(out, "report.html"), "utf8");
    expect(html).not.toContain(PAYLOAD);
    const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      const dialogs: string[] = [];
      page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
      await page.route(/^https?:/, (route) => route.abort());
      await page.goto(`file://${path.join(out, "report.html")}`);
      await page.waitForSelector("body[data-rendered=yes]", { timeout: 600_000 });
      expect(await page.evaluate("window.__pwned")).toBeUndefined();
      expect(dialogs).toEqual([]);
      expect(await page.evaluate("document.querySelectorAll('img').length")).toBe(0);
      expect(await page.evaluate("document.body.innerText")).toContain(PAYLOAD);
    } finally {
      await browser.close();
    }
    // An edited float reference is refused, as the golden model refuses it, not charted.
    const xFile = path.join(run, "images", "L0_qkv.x.npy");
    const xBytes = fs.readFileSync(xFile);
    xBytes[xBytes.length - 1] ^= 0x40;
    fs.writeFileSync(xFile, xBytes);
    const edited = await execa("node", [OLTRON, "report", run, "--out", path.join(dir, "rep-edited")], { reject: false, all: true });
    expect(edited.exitCode, edited.all).toBe(1);
    expect(edited.stderr).toMatch(/L0_qkv\.x\.npy: sha256 does not match the manifest: the float reference was changed or damaged/);
  });

  it("draws the accuracy benchmark as SQNR-vs-bits curves per layer and method, in chromium", async () => {
    const out = tmpDir("acc-report");
    runAccuracyBench({
      budgets: [4.25, 4.5], m: 16, calibTokens: 32, k: 256, n: 32, seed: 2, design: elaborate(resolveConfig({}, "16x16")), out, log: () => {},
      weightModels: ["gaussian"], activationModels: ["profile", "mechanistic"],
    });
    const r = await execa("node", [OLTRON, "report", out], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    const html = path.join(out, "report", "accuracy.html");
    expect(r.stdout).toContain(`wrote ${html}`);
    const points = fs.readFileSync(path.join(out, "report", "accuracy-points.csv"), "utf8").trim().split("\n");
    const acc = JSON.parse(fs.readFileSync(path.join(out, "accuracy.json"), "utf8"));
    // Adaptive twice per budget (unconstrained, and no extra tiles), every baseline once, each with its image bits.
    const adaptive = acc.layers.reduce((a: number, l: { adaptive: unknown[] }) => a + l.adaptive.length, 0);
    const baselines = acc.layers.reduce((a: number, l: { baselines: unknown[] }) => a + l.baselines.length, 0);
    expect(points.length).toBe(1 + adaptive + baselines);
    expect(points[0]).toBe("design,layer,method,label,bits,sqnr_db,image_bits,cycle_ratio");
    const oneX = points.filter((p) => p.includes(",adaptive_tobe_1x,"));
    expect(oneX.length).toBe(adaptive / 2);
    // The 16x16 preset's fewest image bits: 16 int4 lanes + its flexible lanes per 16 channels; equal cycles.
    for (const p of oneX) expect(p.endsWith(",1")).toBe(true);
    expect(points.filter((p) => p.includes(",olive,")).every((p) => p.endsWith(",4,1"))).toBe(true);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.route(/^https?:/, (route) => route.abort());
      await page.goto(`file://${html}`);
      await page.waitForSelector("body[data-rendered=yes]", { timeout: 600_000 });
      expect(errors).toEqual([]);
      const charts = (await page.evaluate("window.__charts")) as { id: string; points: number }[];
      // Per layer: the whole range, and the budgets' range with at least the two budgets' points and the 4-bit baselines.
      expect(charts.map((c) => c.id).sort()).toEqual(acc.layers.flatMap((_: unknown, i: number) => [`acc${i}`, `accz${i}`, `acci${i}`]).sort());
      for (const c of charts.filter((x) => /^acc\d/.test(x.id))) expect(c.points, c.id).toBeGreaterThanOrEqual(2 + 6);
      // Against image bits: every point that has them (the authors' fp12 rows on a design without fp12 lanes do not).
      for (const c of charts.filter((x) => x.id.startsWith("acci"))) expect(c.points, c.id).toBeGreaterThanOrEqual(4 + 6);
      for (const c of charts.filter((x) => x.id.startsWith("accz"))) expect(c.points, c.id).toBeGreaterThanOrEqual(4);
      // Every method of the page has its own colour and marker pair, the same in every chart.
      const styles = (await page.evaluate(`Object.values(Chart.instances).flatMap((c) => c.data.datasets.map((d) => d.method + "|" + d.borderColor + "|" + d.pointStyle))`)) as string[];
      const byMethod = new Map<string, string>();
      for (const s of styles) {
        const [method, ...style] = s.split("|");
        if (byMethod.has(method)) expect(byMethod.get(method), method).toBe(style.join("|"));
        byMethod.set(method, style.join("|"));
      }
      expect(byMethod.size).toBeGreaterThanOrEqual(10);
      expect(new Set(byMethod.values()).size).toBe(byMethod.size);
      fs.mkdirSync(path.join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, "test-results", "accuracy.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
