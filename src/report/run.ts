/**
 * `oltron report <run-folder>`: one self-contained HTML page about a run, with charts
 * (Chart.js, embedded, so the file opens offline), plus every table as CSV and the whole as
 * JSON beside it. Read from what the run wrote: sim-result.json, the image folder's manifest
 * and, when stored, the float reference activations.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { writeDirAtomic } from "../core/files.js";
import { readReference } from "../flows/golden.js";
import { loadManifest, type ManifestLayer } from "../image/manifest.js";
import type { SimResult } from "../flows/simulate.js";
import { simResultSchema } from "../flows/result-schema.js";
import { chartJsSource, csv, esc } from "./page.js";

const SALIENT_BITS: Record<string, number> = { none: 4, fp8: 8, fp12: 12 };

export interface LayerReport {
  name: string; m: number; k: number; n: number; salientType: string; salientChannels: number; s: number;
  /** Activation format of the layer's images: tobe, int8, ovp-int or ovp-flint. */
  format: string;
  tiles: number; minTiles: number; averageBits: number; mismatches: number;
  traffic: { descriptors: number; activations: number; weights: number; written: number };
  /** Per original channel: max |x| over the tokens (when the float reference is stored). */
  channelMax?: number[];
  /** The salient threshold in the same units (threshold plans only). */
  threshold?: number;
  salientChannelsList: number[];
  /** Filled salient slots in each tile. */
  slotsPerTile: number[];
  /** Measured per-layer cycles (absent when the run did not record them). */
  cycles?: { total: number; busy: number; stall: number; utilization: number };
}

export interface RunReport {
  design: string; arch: string; simulator: string; status: string; pass: boolean;
  cycles: { total: number; busy: number; stall: number; ideal: number }; utilization: number;
  layers: LayerReport[];
}

/** Where a run keeps its result and images: a verify run folder, or an image folder. */
function locate(dir: string): { result: string; images: string } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: not a folder (give a run folder written by 'oltron verify', or an image folder 'oltron sim' ran on)`);
  // The result sits beside its manifest: <run>/images/ for verify, the image folder for sim
  // (and <run>/ for run folders of oltron 0.1).
  for (const [result, images] of [[path.join(dir, "images", "sim-result.json"), path.join(dir, "images")], [path.join(dir, "sim-result.json"), dir], [path.join(dir, "sim-result.json"), path.join(dir, "images")]]) {
    if (fs.existsSync(result) && fs.existsSync(path.join(images, "manifest.json"))) return { result, images };
  }
  throw new UserError(`${dir}: no sim-result.json with an image folder beside it; run 'oltron verify' (or 'oltron sim') first`);
}

/** The files a run report reads: its output must neither replace nor contain any of them. */
export function runReportInputs(dir: string): string[] {
  const { result, images } = locate(dir);
  const man = loadManifest(images);
  return [result, path.join(images, "manifest.json"), ...man.layers.flatMap((l) => (l.reference ? [path.join(images, l.reference.x)] : []))];
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0;
}

export function collectRunReport(dir: string): RunReport {
  const { result, images } = locate(dir);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(result, "utf8"));
  } catch (e) {
    throw new UserError(`${result}: not valid JSON (${(e as Error).message})`);
  }
  // Checked against the published schema before any figure is used: a hand-edited or foreign
  // file is named, never half-read (docs/schemas/sim-result.schema.json).
  const parsed = simResultSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const at = i.path.join(".");
    const got = i.path.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string | number, unknown>)[k] : undefined), raw);
    throw new UserError(`${result}: not a sim-result this oltron reads: ${at || "the file"}${got !== undefined ? ` = ${JSON.stringify(got).slice(0, 80)}` : ""}: ${i.message}`);
  }
  const r = parsed.data as unknown as SimResult;
  const man = loadManifest(images);
  const layers = man.layers.map((l: ManifestLayer): LayerReport => {
    const res = r.layers?.find((x) => x.name === l.name);
    const traffic = res?.traffic as unknown as Record<string, number> | undefined;
    let channelMax: number[] | undefined;
    if (l.reference) {
      // Checked against the manifest's sha256, as the golden model checks it.
      const { x } = readReference(images, l);
      channelMax = Array.from({ length: l.k }, (_, c) => {
        let mx = 0;
        for (let t = 0; t < l.m; t++) mx = Math.max(mx, Math.abs(x.data[t * l.k + c]));
        return mx;
      });
    }
    const slotsPerTile = Array.from({ length: l.tiles }, (_, t) => {
      let n = 0;
      for (let j = 0; j < l.s; j++) if (l.permutation[t * l.tileChannels + j] >= 0) n++;
      return n;
    });
    const salientChannelsList = l.salientSet.filter((c) => c >= 0);
    const format = l.actFormat ?? "tobe";
    const bits = format === "int8" ? 8 : (salientChannelsList.length * SALIENT_BITS[l.salientType] + (l.k - salientChannelsList.length) * 4) / l.k;
    return {
      name: l.name, m: l.m, k: l.k, n: l.n, salientType: l.salientType, salientChannels: l.salientChannels, s: l.s, format,
      tiles: l.tiles, minTiles: l.minTiles, averageBits: bits, mismatches: res?.mismatches ?? 0,
      traffic: { descriptors: traffic?.descriptors ?? 0, activations: traffic?.activations ?? 0, weights: traffic?.weights ?? 0, written: traffic?.written ?? 0 },
      channelMax, salientChannelsList, slotsPerTile,
      ...(res?.cycles ? { cycles: { total: res.cycles.total, busy: res.cycles.busy, stall: res.cycles.stall, utilization: res.cycles.utilization } } : {}),
      ...(channelMax && l.plan?.threshold !== undefined ? { threshold: l.plan.threshold * median(channelMax) } : {}),
    };
  });
  return {
    design: r.design, arch: r.arch ?? man.design.arch ?? "oltron", simulator: r.simulator, status: r.status, pass: r.pass,
    cycles: { total: r.cycles?.total ?? 0, busy: r.cycles?.busy ?? 0, stall: r.cycles?.stall ?? 0, ideal: r.idealCycles ?? 0 },
    utilization: r.utilization ?? 0, layers,
  };
}

/** The page: tables in HTML, charts drawn by the embedded Chart.js from the embedded data. */
export function reportHtml(rep: RunReport): string {
  const chartJs = chartJsSource();
  // Every value goes in as text: a run folder may come from someone else.
  const t = (v: unknown) => esc(String(v));
  const rows = rep.layers.map((l) => `<tr>${[l.name, l.m, l.k, l.n, l.format, l.salientType, l.salientChannels, l.s, `${l.tiles} (${l.minTiles})`, l.averageBits.toFixed(2),
    l.traffic.descriptors + l.traffic.activations + l.traffic.weights, l.traffic.written, l.mismatches].map((v) => `<td>${t(v)}</td>`).join("")}</tr>`).join("\n");
  const perLayer = rep.layers.map((l, i) => `
<h3>${esc(l.name)}</h3>
${l.channelMax ? `<div class="chart"><canvas id="ch${i}"></canvas></div>` : "<p>No float reference stored: per-channel magnitudes unavailable.</p>"}
<div class="chart small"><canvas id="slots${i}"></canvas></div>`).join("\n");
  const data = JSON.stringify(rep).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oltron run report: ${esc(rep.design)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child { text-align: left; }
.chart { width: 900px; height: 300px; margin: 1em 0; } .chart.small { height: 200px; }
.pass { color: #1a7f37; } .fail { color: #c00; }
</style></head><body>
<h1>oltron run report</h1>
<p>Design <b>${esc(rep.design)}</b> (architecture ${esc(rep.arch)}) on ${esc(rep.simulator)}: <b class="${rep.pass ? "pass" : "fail"}">${rep.pass ? "PASS (bit-exact)" : `FAIL (${esc(rep.status)})`}</b>.
${t(rep.cycles.total)} cycles (ideal ${t(Math.ceil(rep.cycles.ideal))}), utilization ${t((100 * rep.utilization).toFixed(1))}%, ${t(rep.cycles.busy)} busy and ${t(rep.cycles.stall)} stall cycles.</p>
<table><tr><th>layer</th><th>M</th><th>K</th><th>N</th><th>format</th><th>salient</th><th>salient channels</th><th>S</th><th>tiles (min)</th><th>avg bits</th><th>words read</th><th>words written</th><th>mismatches</th></tr>
${rows}
</table>
<h2>The run</h2>
<div class="chart small"><canvas id="cycles"></canvas></div>
${rep.layers.some((l) => l.cycles) ? '<div class="chart"><canvas id="layercycles"></canvas></div>' : "<p>No per-layer cycles recorded (the run stopped early, or its layers lie past the design's statsDepth descriptors).</p>"}
<div class="chart"><canvas id="bits"></canvas></div>
<div class="chart"><canvas id="tiles"></canvas></div>
<div class="chart"><canvas id="traffic"></canvas></div>
<h2>Per layer: channel magnitudes and salient slots</h2>
${perLayer}
<script>${chartJs}</script>
<script>
const DATA = ${data};
Chart.defaults.animation = false;
window.__charts = [];
function chart(id, config) {
  const c = new Chart(document.getElementById(id), config);
  window.__charts.push({ id, points: c.data.datasets.reduce((a, d) => a + d.data.length, 0) });
  return c;
}
const names = DATA.layers.map((l) => l.name);
const opts = (title, extra) => Object.assign({ responsive: true, maintainAspectRatio: false, plugins: { title: { display: true, text: title } } }, extra || {});
chart("cycles", { type: "bar", data: { labels: ["cycles"], datasets: [
  { label: "busy (a token row entered the array)", data: [DATA.cycles.busy], backgroundColor: "#2e7d32" },
  { label: "stall (fill, drain, memory, short tiles)", data: [DATA.cycles.stall], backgroundColor: "#ef6c00" }] },
  options: opts("Cycles: busy vs stall (ideal " + Math.ceil(DATA.cycles.ideal) + ")", { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } }) });
if (DATA.layers.some((l) => l.cycles)) {
  const withCycles = DATA.layers.filter((l) => l.cycles);
  chart("layercycles", { type: "bar", data: { labels: withCycles.map((l) => l.name + " (" + (100 * l.cycles.utilization).toFixed(1) + "% utilized)"), datasets: [
    { label: "busy", data: withCycles.map((l) => l.cycles.busy), backgroundColor: "#2e7d32" },
    { label: "stall", data: withCycles.map((l) => l.cycles.stall), backgroundColor: "#ef6c00" }] },
    options: opts("Cycles per layer: busy vs stall (from the per-descriptor statistics)", { scales: { x: { stacked: true }, y: { stacked: true } } }) });
}
chart("bits", { type: "bar", data: { labels: names, datasets: [{ label: "average activation bits", data: DATA.layers.map((l) => l.averageBits), backgroundColor: "#1565c0" }] },
  options: opts("Average activation bits per layer") });
chart("tiles", { type: "bar", data: { labels: names, datasets: [
  { label: "tiles", data: DATA.layers.map((l) => l.tiles), backgroundColor: "#6a1b9a" },
  { label: "minimum tiles (all int4)", data: DATA.layers.map((l) => l.minTiles), backgroundColor: "#bdbdbd" }] }, options: opts("Tiles per layer: the cycle cost of the salient channels") });
chart("traffic", { type: "bar", data: { labels: names, datasets: ["descriptors", "activations", "weights", "written"].map((k, i) => (
  { label: k, data: DATA.layers.map((l) => l.traffic[k]), backgroundColor: ["#90a4ae", "#42a5f5", "#66bb6a", "#ffa726"][i] })) },
  options: opts("Memory traffic per layer (words)", { scales: { x: { stacked: true }, y: { stacked: true } } }) });
DATA.layers.forEach((l, i) => {
  if (l.channelMax) {
    const salient = new Set(l.salientChannelsList);
    const datasets = [{ type: "bar", label: "max |x| per channel (red: salient)", data: l.channelMax, backgroundColor: l.channelMax.map((_, c) => salient.has(c) ? "#c62828" : "#90a4ae") }];
    if (l.threshold !== undefined) datasets.push({ type: "line", label: "salient threshold", data: l.channelMax.map(() => l.threshold), borderColor: "#000", pointRadius: 0, borderWidth: 1 });
    chart("ch" + i, { data: { labels: l.channelMax.map((_, c) => c), datasets }, options: opts(l.name + ": per-channel max |x|; red: the " + l.salientChannelsList.length + " channels in salient slots (" + l.salientChannels + " selected, the rest promoted to fill the slots)") });
  }
  chart("slots" + i, { type: "bar", data: { labels: l.slotsPerTile.map((_, t) => t), datasets: [{ label: "filled salient slots (S = " + l.s + ")", data: l.slotsPerTile, backgroundColor: "#c62828" }] },
    options: opts(l.name + ": salient slots per tile", { scales: { y: { min: 0, max: Math.max(1, l.s), ticks: { stepSize: 1 } } } }) });
});
document.body.dataset.rendered = "yes";
</script>
</body></html>
`;
}

/** Writes <run>/report/ (report.html, report.json, layers.csv, channels-<layer>.csv, tiles-<layer>.csv). */
export function writeRunReport(dir: string, outDir = path.join(dir, "report")): { dir: string; files: string[]; report: RunReport } {
  const rep = collectRunReport(dir);
  const files: Record<string, string> = {
    "report.html": reportHtml(rep),
    "report.json": JSON.stringify(rep, null, 1) + "\n",
    "layers.csv": csv([
      ["layer", "m", "k", "n", "act_format", "salient_type", "salient_channels", "s", "tiles", "min_tiles", "average_bits", "words_descriptors", "words_activations", "words_weights", "words_written", "mismatches", "cycles", "busy_cycles", "stall_cycles", "utilization"],
      ...rep.layers.map((l) => [l.name, l.m, l.k, l.n, l.format, l.salientType, l.salientChannels, l.s, l.tiles, l.minTiles, l.averageBits, l.traffic.descriptors, l.traffic.activations, l.traffic.weights, l.traffic.written, l.mismatches,
        l.cycles?.total ?? "", l.cycles?.busy ?? "", l.cycles?.stall ?? "", l.cycles?.utilization ?? ""]),
    ]),
  };
  for (const l of rep.layers) {
    if (l.channelMax) files[`channels-${l.name}.csv`] = csv([["channel", "max_abs_x", "salient"], ...l.channelMax.map((v, c) => [c, v, l.salientChannelsList.includes(c) ? 1 : 0])]);
    files[`tiles-${l.name}.csv`] = csv([["tile", "filled_salient_slots", "s"], ...l.slotsPerTile.map((v, t) => [t, v, l.s])]);
  }
  writeDirAtomic(outDir, (tmp) => {
    for (const [n, text] of Object.entries(files)) fs.writeFileSync(path.join(tmp, n), text);
  });
  return { dir: outDir, files: Object.keys(files).sort(), report: rep };
}
