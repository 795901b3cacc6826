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
import { layerSplit, type UtilizationSplit } from "../flows/utilization.js";
import { loadDesign } from "../flows/design.js";
import { cachedSiliconReport } from "../hw/silicon.js";

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
  /** Where the measured cycles went (flows/utilization.ts); absent without per-layer cycles. */
  split?: UtilizationSplit;
  /** Held-out layer-output SQNR of the golden model against the float product (when a reference is stored). */
  sqnrDb?: number;
  /** Roofline coordinates: MACs per byte read from memory, and MACs per measured cycle. */
  roofline?: { macs: number; bytesRead: number; intensity: number; macsPerCycle: number };
}

export interface RunReport {
  design: string; arch: string; simulator: string; status: string; pass: boolean;
  cycles: { total: number; busy: number; stall: number; ideal: number }; utilization: number;
  /** Cycles after the last layer's last issue (pipeline drain and last write-back). */
  drainCycles?: number;
  /** The design's parameters, as the manifest records them. */
  params: Record<string, string | number>;
  /** The testbench memory the run used (latencies in cycles, backpressure per channel, bandwidth cap). */
  memory: SimResult["memory"];
  /** The roofline's ceilings: the array's MACs per cycle, and the bytes per cycle the read channel moves. */
  ceilings: { macsPerCycle: number; bytesPerCycle: number };
  /** Area and Fmax from the silicon flow, when it has run for this design (OSU 0.18 um; docs/ppa.md). */
  area?: { totalMm2: number; logicMm2: number; ramMm2: number; fmaxMHz: number; source: string };
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
      ...(res && layerSplit(man.design, res) ? { split: layerSplit(man.design, res) } : {}),
      ...(res?.error ? { sqnrDb: res.error.sqnrDb } : {}),
      ...(res?.cycles && traffic ? { roofline: roofline(l.m * l.k * l.n, (traffic.descriptors + traffic.activations + traffic.weights) * (man.memWordBits / 8), res.cycles.total) } : {}),
      ...(channelMax && l.plan?.threshold !== undefined ? { threshold: l.plan.threshold * median(channelMax) } : {}),
    };
  });
  const md = man.design;
  const params: Record<string, string | number> = {
    architecture: md.arch ?? "oltron", rows: md.rows, cols: md.cols, "flexible lines": md.flexLines, "memory word (bits)": md.memWordBits,
    "buffer tokens": md.bufferTokens, ...(md.loadSlots !== undefined ? { "load slots": md.loadSlots } : {}),
    ...(md.axiMaxBurst !== undefined ? { "AXI max burst (beats)": md.axiMaxBurst } : {}), ...(md.axiMaxReads !== undefined ? { "AXI reads in flight": md.axiMaxReads } : {}),
    "configuration hash": md.hash,
  };
  return {
    design: r.design, arch: r.arch ?? man.design.arch ?? "oltron", simulator: r.simulator, status: r.status, pass: r.pass,
    cycles: { total: r.cycles?.total ?? 0, busy: r.cycles?.busy ?? 0, stall: r.cycles?.stall ?? 0, ideal: r.idealCycles ?? 0 },
    utilization: r.utilization ?? 0,
    ...(r.drainCycles !== undefined ? { drainCycles: r.drainCycles } : {}),
    params, memory: r.memory,
    ceilings: { macsPerCycle: md.rows * md.cols, bytesPerCycle: (md.memWordBits / 8) * (r.memory.bandwidth ?? 1) },
    layers,
  };
}

function roofline(macs: number, bytesRead: number, cycles: number): LayerReport["roofline"] {
  return { macs, bytesRead, intensity: bytesRead > 0 ? macs / bytesRead : 0, macsPerCycle: cycles > 0 ? macs / cycles : 0 };
}

/** The silicon figures of the run's design, if the flow has run for it (never runs it). */
async function knownArea(dir: string): Promise<RunReport["area"]> {
  const designJson = [path.join(dir, "design", "design.json"), path.join(dir, "..", "design", "design.json")].find((f) => fs.existsSync(f));
  if (!designJson) return undefined;
  let d;
  try {
    d = loadDesign(path.dirname(designJson));
  } catch {
    return undefined;
  }
  const si = await cachedSiliconReport(d);
  if (!si) return undefined;
  return {
    totalMm2: si.totalAreaUm2 / 1e6, logicMm2: si.logicAreaUm2 / 1e6, ramMm2: si.ramAreaUm2 / 1e6, fmaxMHz: si.timing.fmaxMHz,
    source: `Yosys + OpenSTA on ${si.library.name} (${si.library.node}); RAMs from the RAM table (oltron report area)`,
  };
}

/** The page: tables in HTML, charts drawn by the embedded Chart.js from the embedded data. */
export function reportHtml(rep: RunReport): string {
  const chartJs = chartJsSource();
  // Every value goes in as text: a run folder may come from someone else.
  const t = (v: unknown) => esc(String(v));
  const rows = rep.layers.map((l) => `<tr>${[l.name, l.m, l.k, l.n, l.format, l.salientType, l.salientChannels, l.s, `${l.tiles} (${l.minTiles})`, l.averageBits.toFixed(2),
    l.traffic.descriptors + l.traffic.activations + l.traffic.weights, l.traffic.written, l.sqnrDb !== undefined ? l.sqnrDb.toFixed(2) : "-",
    l.cycles ? l.cycles.total : "-", l.cycles ? `${(100 * l.cycles.utilization).toFixed(1)}%` : "-", l.mismatches].map((v) => `<td>${t(v)}</td>`).join("")}</tr>`).join("\n");
  const m = rep.memory;
  const lat = (v: [number, number]) => (v[0] === v[1] ? `${v[0]}` : `${v[0]}..${v[1]}`);
  const bp = Object.entries(m.backpressure).filter(([, p]) => p > 0).map(([ch, p]) => `${ch} ${p}`).join(", ") || "none";
  type Row = [string, string | number];
  const settings: Row[] = [
    ...Object.entries(rep.params),
    ["memory read latency (cycles)", lat(m.readLatency)] as Row, ["memory write latency (cycles)", lat(m.writeLatency)] as Row,
    ["memory backpressure (stall chance per cycle)", bp] as Row, ["read bursts reordered", m.reorder ? "yes" : "no"] as Row,
    ["memory bandwidth cap (beats per cycle)", m.bandwidth ?? "none (one read and one write beat per cycle)"] as Row, ["memory seed", m.seed] as Row,
    ...(rep.area ? [
      ["area, whole accelerator (mm²)", rep.area.totalMm2.toFixed(3)], ["area, logic / RAMs (mm²)", `${rep.area.logicMm2.toFixed(3)} / ${rep.area.ramMm2.toFixed(3)}`],
      ["Fmax (MHz)", rep.area.fmaxMHz.toFixed(1)], ["area and Fmax from", rep.area.source],
    ] as Row[] : [["area", "not known: run 'oltron report area' for this design, then this report again"] as Row]),
  ];
  const varying = (l: LayerReport) => new Set(l.slotsPerTile).size > 1;
  const perLayer = rep.layers.map((l, i) => `
<h3>${esc(l.name)}</h3>
${l.channelMax ? `<div class="chart"><canvas id="ch${i}"></canvas></div>` : "<p>No float reference stored: per-channel magnitudes unavailable.</p>"}
${varying(l) ? `<div class="chart small"><canvas id="slots${i}"></canvas></div>` : `<p>Salient slots: every one of the ${t(l.tiles)} tiles fills ${t(l.slotsPerTile[0] ?? 0)} of its ${t(l.s)} slot(s).</p>`}`).join("\n");
  const hasCycles = rep.layers.some((l) => l.split);
  const data = JSON.stringify(rep).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oltron run report: ${esc(rep.design)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1600px; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, table.settings td { text-align: left; }
.chart { width: 100%; height: 340px; margin: 1em 0; } .chart.small { height: 220px; } .chart.tall { height: 460px; }
.pass { color: #1a7f37; } .fail { color: #c00; } .note { color: #555; max-width: 70em; }
</style></head><body>
<h1>oltron run report</h1>
<p>Design <b>${esc(rep.design)}</b> (architecture ${esc(rep.arch)}) on ${esc(rep.simulator)}: <b class="${rep.pass ? "pass" : "fail"}">${rep.pass ? "PASS (bit-exact)" : `FAIL (${esc(rep.status)})`}</b>.
${t(rep.cycles.total)} cycles (ideal ${t(Math.ceil(rep.cycles.ideal))}), utilization ${t((100 * rep.utilization).toFixed(1))}%, ${t(rep.cycles.busy)} busy and ${t(rep.cycles.stall)} stall cycles${rep.drainCycles !== undefined ? `, of which ${t(rep.drainCycles)} drain after the last layer` : ""}.</p>
<h2>Design and memory model</h2>
<table class="settings">${settings.map(([k, v]) => `<tr><td>${t(k)}</td><td>${t(v)}</td></tr>`).join("")}</table>
<h2>Layers</h2>
<table><tr><th>layer</th><th>M</th><th>K</th><th>N</th><th>format</th><th>salient</th><th>salient channels</th><th>S</th><th>tiles (min)</th><th>avg bits</th><th>words read</th><th>words written</th><th>SQNR (dB)</th><th>cycles</th><th>utilization</th><th>mismatches</th></tr>
${rows}
</table>
<p class="note">SQNR: the golden model's output (bit-exact with the RTL) against the float product X W, on the run's tokens. Utilization: useful MACs / (rows x cols x cycles).</p>
<h2>Where the cycles went</h2>
${hasCycles ? `<div class="chart"><canvas id="split"></canvas></div>
<p class="note">Each layer's measured cycles (per-descriptor statistics) split exactly into useful MACs (M K N / (rows cols)), padding (K and N rounded up to whole tiles and passes), extra tiles (salient channels beyond what a tile's flexible lanes hold) and stall (no token row entered the array: memory waits and, for the first layer, pipeline fill). The run bar adds the drain after the last layer.</p>
<div class="chart tall"><canvas id="roofline"></canvas></div>
<p class="note">Roofline: each layer at its operational intensity (MACs per byte read from memory: descriptors, activations and weights) and its measured MACs per cycle, under the design's ceilings: ${t(rep.ceilings.macsPerCycle)} MACs per cycle (the array) and ${t(rep.ceilings.bytesPerCycle)} bytes per cycle (one ${t(rep.params["memory word (bits)"])}-bit read beat per cycle${rep.memory.bandwidth !== undefined ? ", times the bandwidth cap" : ""}). A layer under the sloped line is bound by memory, under the flat one by compute; the gap to the roof is padding, extra tiles and stalls.</p>`
    : "<p>No per-layer cycles recorded (the run stopped early, or its layers lie past the design's statsDepth descriptors).</p>"}
<div class="chart small"><canvas id="sqnr"></canvas></div>
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
  window.__charts.push({ id, points: c.data.datasets.reduce((a, d) => a + d.data.length, 0), axes: Object.values(c.options.scales || {}).map((s) => (s.title && s.title.display ? s.title.text : "")) });
  return c;
}
// Ten distinguishable colours (Okabe-Ito and Tableau), and a marker per series where points are drawn.
const COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000", "#8c564b", "#7f7f7f"];
const MARKERS = ["circle", "triangle", "rect", "rectRot", "star", "crossRot", "cross", "rectRounded", "dash", "line"];
const names = DATA.layers.map((l) => l.name);
const axis = (text, extra) => Object.assign({ title: { display: true, text } }, extra || {});
const opts = (title, x, y, extra) => Object.assign({ responsive: true, maintainAspectRatio: false, plugins: { title: { display: true, text: title } },
  scales: { x: axis(x, extra && extra.x), y: axis(y, extra && extra.y) } }, extra && extra.rest || {});
const withSplit = DATA.layers.filter((l) => l.split);
if (withSplit.length) {
  const parts = [["useful", "useful MACs"], ["padding", "padding (K, N to whole tiles)"], ["extraTiles", "extra tiles (salient overflow)"], ["stall", "stall (memory waits, fill)"]];
  const labels = withSplit.map((l) => l.name + " (" + (100 * l.split.useful / l.split.total).toFixed(1) + "% useful)");
  const run = {}; for (const [k] of parts) run[k] = withSplit.reduce((a, l) => a + l.split[k], 0);
  const runTotal = withSplit.reduce((a, l) => a + l.split.total, 0) + (DATA.drainCycles || 0);
  labels.push("whole run (" + (100 * run.useful / runTotal).toFixed(1) + "% useful)");
  const datasets = parts.map(([k, label], i) => ({ label, data: [...withSplit.map((l) => l.split[k]), run[k]], backgroundColor: COLORS[i] }));
  datasets.push({ label: "drain after the last layer", data: [...withSplit.map(() => 0), DATA.drainCycles || 0], backgroundColor: COLORS[4] });
  chart("split", { type: "bar", data: { labels, datasets }, options: opts("Where the cycles went, per layer and for the run", "cycles", "layer", { x: { stacked: true }, y: { stacked: true }, rest: { indexAxis: "y" } }) });
  const pts = withSplit.filter((l) => l.roofline);
  const xs = pts.map((l) => l.roofline.intensity);
  const lo = Math.min(...xs, DATA.ceilings.macsPerCycle / DATA.ceilings.bytesPerCycle) / 4, hi = Math.max(...xs, DATA.ceilings.macsPerCycle / DATA.ceilings.bytesPerCycle) * 4;
  const roof = []; for (let i = 0; i <= 60; i++) { const x = lo * Math.pow(hi / lo, i / 60); roof.push({ x, y: Math.min(DATA.ceilings.macsPerCycle, x * DATA.ceilings.bytesPerCycle) }); }
  chart("roofline", { type: "scatter", data: { datasets: [
    { label: "roof: min(array, intensity x memory)", data: roof, showLine: true, pointRadius: 0, borderColor: "#444", borderWidth: 2 },
    ...pts.map((l, i) => ({ label: l.name, data: [{ x: l.roofline.intensity, y: l.roofline.macsPerCycle }], backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length], pointStyle: MARKERS[i % MARKERS.length], pointRadius: 8 }))] },
    options: opts("Roofline: measured throughput against the design's compute and memory ceilings", "operational intensity (MACs per byte read)", "throughput (MACs per cycle)",
      { x: { type: "logarithmic" }, y: { type: "logarithmic", max: DATA.ceilings.macsPerCycle * 2 } }) });
}
const sq = DATA.layers.filter((l) => l.sqnrDb !== undefined);
if (sq.length) chart("sqnr", { type: "bar", data: { labels: sq.map((l) => l.name), datasets: [{ label: "layer-output SQNR", data: sq.map((l) => l.sqnrDb), backgroundColor: COLORS[0] }] },
  options: opts("Layer-output SQNR against the float product", "layer", "SQNR (dB)") });
else document.getElementById("sqnr").parentElement.outerHTML = "<p>No float reference stored: no SQNR.</p>";
chart("bits", { type: "bar", data: { labels: names, datasets: [{ label: "average activation bits", data: DATA.layers.map((l) => l.averageBits), backgroundColor: COLORS[2] }] },
  options: opts("Average activation bits per layer", "layer", "bits per activation") });
chart("tiles", { type: "bar", data: { labels: names, datasets: [
  { label: "tiles", data: DATA.layers.map((l) => l.tiles), backgroundColor: COLORS[3] },
  { label: "minimum tiles (all int4)", data: DATA.layers.map((l) => l.minTiles), backgroundColor: COLORS[9] }] },
  options: opts("Tiles per layer: the cycle cost of the salient channels", "layer", "tiles (K-passes per N-pass)") });
chart("traffic", { type: "bar", data: { labels: names, datasets: ["descriptors", "activations", "weights", "written"].map((k, i) => (
  { label: k, data: DATA.layers.map((l) => l.traffic[k]), backgroundColor: COLORS[[9, 0, 2, 1][i]] })) },
  options: opts("Memory traffic per layer", "layer", "memory words (" + DATA.params["memory word (bits)"] + " bits each)", { x: { stacked: true }, y: { stacked: true } }) });
DATA.layers.forEach((l, i) => {
  if (l.channelMax) {
    const salient = new Set(l.salientChannelsList);
    const datasets = [{ type: "bar", label: "max |x| per channel (red: salient)", data: l.channelMax, backgroundColor: l.channelMax.map((_, c) => salient.has(c) ? "#c62828" : "#90a4ae") }];
    if (l.threshold !== undefined) datasets.push({ type: "line", label: "salient threshold", data: l.channelMax.map(() => l.threshold), borderColor: "#000", pointRadius: 0, borderWidth: 1 });
    chart("ch" + i, { data: { labels: l.channelMax.map((_, c) => c), datasets }, options: opts(l.name + ": per-channel max |x|; red: the " + l.salientChannelsList.length + " channels in salient slots (" + l.salientChannels + " selected, the rest promoted to fill the slots)", "input channel", "max |x| over the tokens") });
  }
  if (new Set(l.slotsPerTile).size > 1) chart("slots" + i, { type: "bar", data: { labels: l.slotsPerTile.map((_, t) => t), datasets: [{ label: "filled salient slots (S = " + l.s + ")", data: l.slotsPerTile, backgroundColor: "#c62828" }] },
    options: opts(l.name + ": salient slots per tile", "tile", "filled salient slots", { y: { min: 0, max: Math.max(1, l.s), ticks: { stepSize: 1 } } }) });
});
document.body.dataset.rendered = "yes";
</script>
</body></html>
`;
}

/** Writes <run>/report/ (report.html, report.json, layers.csv, channels-<layer>.csv, tiles-<layer>.csv). */
export async function writeRunReport(dir: string, outDir = path.join(dir, "report")): Promise<{ dir: string; files: string[]; report: RunReport }> {
  const rep = collectRunReport(dir);
  const area = await knownArea(dir);
  if (area) rep.area = area;
  const files: Record<string, string> = {
    "report.html": reportHtml(rep),
    "report.json": JSON.stringify(rep, null, 1) + "\n",
    "layers.csv": csv([
      ["layer", "m", "k", "n", "act_format", "salient_type", "salient_channels", "s", "tiles", "min_tiles", "average_bits", "words_descriptors", "words_activations", "words_weights", "words_written", "mismatches", "sqnr_db",
        "useful_cycles", "padding_cycles", "extra_tile_cycles", "macs_per_byte_read", "macs_per_cycle", "cycles", "busy_cycles", "stall_cycles", "utilization"],
      ...rep.layers.map((l) => [l.name, l.m, l.k, l.n, l.format, l.salientType, l.salientChannels, l.s, l.tiles, l.minTiles, l.averageBits, l.traffic.descriptors, l.traffic.activations, l.traffic.weights, l.traffic.written, l.mismatches,
        l.sqnrDb ?? "", l.split?.useful ?? "", l.split?.padding ?? "", l.split?.extraTiles ?? "", l.roofline?.intensity ?? "", l.roofline?.macsPerCycle ?? "",
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
