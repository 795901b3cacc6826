/**
 * `oltron report <bench-results-folder>`: the accuracy benchmark (accuracy.json, written by
 * `oltron bench accuracy`) as SQNR-vs-bits curves per layer: adaptive TOBE as a curve over its
 * budgets (unconstrained, and with no extra tiles: equal cycles), every baseline as a point;
 * against information bits and against the image bits each method really stores. One
 * self-contained HTML page (Chart.js embedded) plus the points as CSV.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { writeDirAtomic } from "../core/files.js";
import { chartJsSource, csv, esc } from "./page.js";

/** The parts of accuracy.json this report reads (bench/accuracy.ts writes it). */
interface AccuracyJson {
  setup?: { m: number; k: number; n: number };
  layers: {
    layer: string; design: string; weights?: string;
    baselines: { method: string; label: string; bits: number; sqnrDb: number; cost?: { imageBits: number | null; cycleRatio: number | null } }[];
    adaptive: { budget: number; noExtraTiles: boolean; bits: number; sqnrDb: number; imageBits?: number; cycleRatio?: number }[];
  }[];
}

export interface CurvePoint {
  design: string; layer: string; method: string; label: string; bits: number; sqnrDb: number;
  /** Image bits per activation and cycles over the design's fewest (null: not in the file, or the design cannot run it). */
  imageBits: number | null; cycleRatio: number | null;
}

export function readAccuracy(dir: string): CurvePoint[] {
  const file = path.join(dir, "accuracy.json");
  let a: AccuracyJson;
  try {
    a = JSON.parse(fs.readFileSync(file, "utf8")) as AccuracyJson;
  } catch (e) {
    throw new UserError(`${file}: not readable as JSON (${(e as Error).message}); write it with 'oltron bench accuracy'`);
  }
  if (!a || !Array.isArray(a.layers)) throw new UserError(`${file}: not an accuracy benchmark result (no 'layers')`);
  const points: CurvePoint[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  for (const [i, l] of a.layers.entries()) {
    // Each row checked before use: a hand-edited file is named, never half-read.
    const rows = isObj(l) ? [...(Array.isArray(l.baselines) ? l.baselines : []), ...(Array.isArray(l.adaptive) ? l.adaptive : [])] : [];
    if (!isObj(l) || typeof l.layer !== "string" || typeof l.design !== "string" || rows.some((r) => !isObj(r) || !num(r.bits) || !(num(r.sqnrDb) || r.sqnrDb === null))
      || (l.baselines ?? []).some((b) => typeof b.method !== "string" || typeof b.label !== "string")) {
      throw new UserError(`${file}: layers[${i}] is not an accuracy result row (needs layer, design, and baselines/adaptive entries with numeric bits and sqnrDb); write it with 'oltron bench accuracy'`);
    }
    const layer = l.weights ? `${l.layer} (${l.weights} weights)` : l.layer;
    for (const b of l.baselines ?? []) {
      // The authors' quantizer has one row per budget: one curve per salient type.
      const perBudget = /^(oltron_authors_fp\d+)_b[\d.]+$/.exec(b.method);
      const method = perBudget ? perBudget[1] : b.method;
      const label = perBudget ? `Oltron authors' quantizer (${method.slice(-4).replace("_", "")}, fixed ratio per budget)` : b.label;
      points.push({ design: l.design, layer, method, label, bits: b.bits, sqnrDb: b.sqnrDb, imageBits: costOf(b.cost?.imageBits), cycleRatio: costOf(b.cost?.cycleRatio) });
    }
    for (const r of l.adaptive ?? []) {
      points.push({
        design: l.design, layer, method: r.noExtraTiles ? "adaptive_tobe_1x" : "adaptive_tobe",
        label: r.noExtraTiles ? "adaptive TOBE (ours), no extra tiles: equal cycles" : "adaptive TOBE (ours)",
        bits: r.bits, sqnrDb: r.sqnrDb, imageBits: costOf(r.imageBits), cycleRatio: costOf(r.cycleRatio),
      });
    }
  }
  return points;
}

const costOf = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export function accuracyHtml(points: CurvePoint[]): string {
  const groups = [...new Set(points.map((p) => `${p.design} ${p.layer}`))];
  const data = JSON.stringify({ groups, points }).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oltron accuracy benchmark</title>
<style>body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1600px; } .chart { width: 100%; height: 440px; margin: 1em 0; }</style></head><body>
<h1>Accuracy benchmark: SQNR vs activation bits</h1>
<p>Held-out layer-output SQNR (dB, int4 weights, mean over seeds) against average activation bits, per layer and weight quantization: adaptive TOBE and the Oltron authors' fixed-ratio quantizer as curves over the budgets, every other baseline as a point. Higher and further left is better. Each series has its own colour and marker; the second chart of each layer is the 3.95-4.6 bit range, where the budgets and the 4-bit baselines lie. The third puts every method at the image bits it really stores per activation on hardware of the design's size (the hybrid design's flexible lanes are in every tile row, so its fewest image bits are above 4; extra tiles add more), which is also its memory traffic.</p>
${groups.map((g, i) => `<h2>${esc(g)}</h2><div class="chart"><canvas id="acc${i}"></canvas></div><div class="chart"><canvas id="accz${i}"></canvas></div><div class="chart"><canvas id="acci${i}"></canvas></div>`).join("\n")}
<script>${chartJsSource()}</script>
<script>
const DATA = ${data};
Chart.defaults.animation = false;
window.__charts = [];
// Ten colours and eight markers: colour j % 10 with marker j % 8 tells 40 series apart.
const COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#8c564b", "#7f7f7f", "#bcbd22"];
const MARKERS = ["circle", "triangle", "rect", "rectRot", "star", "crossRot", "cross", "rectRounded"];
const allMethods = [...new Set(DATA.points.map((p) => p.method))];
const ZOOM = [3.95, 4.6];
DATA.groups.forEach((g, i) => {
  const pts = DATA.points.filter((p) => p.design + " " + p.layer === g);
  const methods = [...new Set(pts.map((p) => p.method))];
  // A method keeps its colour and marker in every chart of the page.
  const datasets = (inRange, xOf = (p) => p.bits) => methods.map((m) => {
    const j = allMethods.indexOf(m);
    const mine = pts.filter((p) => p.method === m && xOf(p) !== null && (!inRange || (xOf(p) >= ZOOM[0] && xOf(p) <= ZOOM[1]))).sort((a, b) => xOf(a) - xOf(b));
    const curve = m.startsWith("adaptive_tobe") || m.startsWith("oltron_authors");
    return { method: m, label: pts.find((p) => p.method === m).label, data: mine.map((p) => ({ x: xOf(p), y: p.sqnrDb })), showLine: curve, borderColor: COLORS[j % COLORS.length],
      backgroundColor: COLORS[j % COLORS.length], pointRadius: curve ? 4 : 7, pointStyle: MARKERS[j % MARKERS.length] };
  });
  const axes = (x, xTitle) => ({ x: Object.assign({ title: { display: true, text: xTitle || "average activation bits (information bits per activation)" } }, x || {}), y: { title: { display: true, text: "layer-output SQNR (dB)" } } });
  const draw = (id, sets, title, x, xTitle) => {
    new Chart(document.getElementById(id), { type: "scatter", data: { datasets: sets }, options: { responsive: true, maintainAspectRatio: false,
      plugins: { title: { display: true, text: title }, legend: { position: "right", labels: { usePointStyle: true } } }, scales: axes(x, xTitle) } });
    window.__charts.push({ id, points: sets.reduce((a, d) => a + d.data.length, 0) });
  };
  draw("acc" + i, datasets(false), g + ": SQNR vs bits");
  draw("accz" + i, datasets(true).filter((d) => d.data.length), g + ": the " + ZOOM[0] + "-" + ZOOM[1] + " bit range", { min: ZOOM[0], max: ZOOM[1] });
  draw("acci" + i, datasets(false, (p) => p.imageBits).filter((d) => d.data.length), g + ": SQNR vs image bits stored per activation", undefined, "image bits per activation (memory image, hardware of the design's size)");
});
document.body.dataset.rendered = "yes";
</script></body></html>
`;
}

/** Writes <dir>/report/ (accuracy.html, accuracy-points.csv). */
export function writeAccuracyReport(dir: string, outDir = path.join(dir, "report")): { dir: string; files: string[]; points: CurvePoint[] } {
  const points = readAccuracy(dir);
  const files: Record<string, string> = {
    "accuracy.html": accuracyHtml(points),
    "accuracy-points.csv": csv([
      ["design", "layer", "method", "label", "bits", "sqnr_db", "image_bits", "cycle_ratio"],
      ...points.map((p) => [p.design, p.layer, p.method, p.label, p.bits, p.sqnrDb, p.imageBits ?? "", p.cycleRatio ?? ""]),
    ]),
  };
  writeDirAtomic(outDir, (tmp) => {
    for (const [n, text] of Object.entries(files)) fs.writeFileSync(path.join(tmp, n), text);
  });
  return { dir: outDir, files: Object.keys(files).sort(), points };
}
