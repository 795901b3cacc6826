/**
 * The report of a design-space sweep: explore.json (everything), points.csv and blocks.csv,
 * and explore.html with the Pareto plots (Chart.js inlined, works offline) and the
 * sensitivity of the rankings to each cost source.
 */
import type { BlockResult, PointResult } from "../flows/explore.js";
import type { ExploreConfig } from "../flows/explore-config.js";
import { ENERGY_PARTS, type CostScales, UNIT_SCALES } from "../flows/energy.js";
import { chartJsSource, csv, esc } from "./page.js";

export interface ExploreReport {
  generator: string;
  config: ExploreConfig;
  blocks: BlockResult[];
  points: PointResult[];
  /** Per cost source and factor: the energy-per-token ranking of the block results, and whether it differs from the base one. */
  sensitivity: { source: keyof CostScales; factor: number; ranking: string[]; flips: boolean }[];
  ranking: string[];
  sources: Record<string, string>;
}

/** Energy-per-token order of the designs (best first), at the base costs or with one source scaled. */
export function energyRanking(blocks: BlockResult[], source?: keyof CostScales, factor?: number): string[] {
  const e = (b: BlockResult) => (source ? b.sensitivity[source][factor === 0.5 ? 0 : 1] : b.energyPj);
  return [...blocks].sort((a, b) => e(a) - e(b)).map((b) => b.label);
}

export function sensitivityStudy(blocks: BlockResult[]): ExploreReport["sensitivity"] {
  const base = energyRanking(blocks);
  return (Object.keys(UNIT_SCALES) as (keyof CostScales)[]).flatMap((source) => [0.5, 2].map((factor) => {
    const ranking = energyRanking(blocks, source, factor);
    return { source, factor, ranking, flips: ranking.join("|") !== base.join("|") };
  }));
}

export function pointsCsv(points: PointResult[]): string {
  return csv([
    ["arch", "size", "design", "flex_lines", "salient_type", "budget", "plan", "layer", "k", "n", "seed", "sqnr_db", "act_bits", "tiles", "min_tiles", "cycles", "cycles_source",
      "activity", "psum_activity", ...ENERGY_PARTS.map((p) => `${p.replace(/ /g, "_")}_pj`), "energy_pj", "energy_per_token_pj", "tops_per_w", "tops_per_mm2", "fmax_mhz", "events_source"],
    ...points.map((r) => [r.point.arch, r.point.size, r.design, r.point.flexLines ?? "", r.point.salientType ?? "", r.point.budget ?? "", r.point.plan ?? "", r.point.layer.type, r.point.layer.k, r.point.layer.n, r.point.seed,
      r.sqnrDb, r.actBits, r.tiles, r.minTiles, r.cycles, r.cyclesSource, r.activity, r.psumActivity, ...ENERGY_PARTS.map((p) => r.energy.parts[p]), r.energy.totalPj, r.energy.perTokenPj,
      r.energy.topsPerW, r.energy.topsPerMm2, r.energy.fmaxMHz, r.eventsSource]),
  ]);
}

export function blocksCsv(blocks: BlockResult[]): string {
  return csv([
    ["label", "arch", "size", "design", "flex_lines", "salient_type", "budget", "plan", "seed", "sqnr_db_mean", "act_bits", "cycles", "energy_per_token_nj", ...ENERGY_PARTS.map((p) => `${p.replace(/ /g, "_")}_pj`),
      "area_mm2", "fmax_mhz", "tokens_per_s", "tops_per_w", "tops_per_mm2"],
    ...blocks.map((b) => [b.label, b.arch, b.size, b.design, b.flexLines ?? "", b.salientType ?? "", b.budget ?? "", b.plan ?? "", b.seed, b.sqnrDb, b.actBits, b.cycles, b.energyPerTokenNj,
      ...ENERGY_PARTS.map((p) => b.parts[p] ?? 0), b.areaMm2, b.fmaxMHz, b.tokensPerSecond, b.topsPerW, b.topsPerMm2]),
  ]);
}

/** With --rtl-sample: every point's sample co-simulated, beside what the model and the images say. */
function rtlTable(points: PointResult[]): string {
  const withRtl = points.filter((p) => p.rtlSample);
  if (withRtl.length === 0) return "<p>No RTL samples (run with --rtl-sample to co-simulate every point's accuracy sample).</p>";
  const rows = withRtl.map((p) => {
    const r = p.rtlSample!;
    // Results come from files a cluster's jobs wrote: every value goes in as text.
    return `<tr>${[`${p.design} ${p.point.layer.type}`, `${r.shape.m}x${r.shape.k}x${r.shape.n}`, r.pass ? "bit-exact" : "FAIL", r.cycles.rtl, r.cycles.model, r.toggles.rtl, r.toggles.images, r.outlierPairs.rtl, r.outlierPairs.images]
      .map((v) => `<td>${esc(String(v))}</td>`).join("")}</tr>`;
  }).join("\n");
  return `<h2>RTL samples: the co-simulated accuracy sample against the model and the images</h2>
<table><tr><th>point</th><th>sample MxKxN</th><th>RTL result</th><th>RTL cycles</th><th>model cycles</th><th>RTL row toggles</th><th>image row toggles</th><th>RTL outlier pairs</th><th>image outlier pairs</th></tr>
${rows}
</table>`;
}

const COLORS: Record<string, string> = { oltron: "#c62828", olive: "#1565c0", int4: "#2e7d32", w4a8: "#6a1b9a" };

export function exploreHtml(rep: ExploreReport): string {
  const f = (v: number, d = 2) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(d) : "n/a");
  const t = (v: unknown) => esc(String(v));
  const rows = rep.blocks.map((b) => `<tr>${[b.label, b.design, f(b.sqnrDb), f(b.actBits), b.cycles, f(b.energyPerTokenNj, 1), f(b.areaMm2, 3), f(b.fmaxMHz, 0), f(b.tokensPerSecond, 1), f(b.topsPerW, 4), f(b.topsPerMm2, 5)]
    .map((v) => `<td>${t(v)}</td>`).join("")}</tr>`).join("\n");
  const sens = rep.sensitivity.map((s) => `<tr><td>${t(s.source)}</td><td>x${t(s.factor)}</td><td class="${s.flips ? "flip" : ""}">${s.flips ? "ranking changes" : "same ranking"}</td><td>${t(s.ranking.join(" < "))}</td></tr>`).join("\n");
  const data = JSON.stringify({ blocks: rep.blocks, colors: COLORS }).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oltron explore: ${t(rep.blocks.length)} designs</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child { text-align: left; } .flip { color: #c00; font-weight: bold; }
.chart { width: 900px; height: 420px; margin: 1em 0; }
</style></head><body>
<h1>oltron explore</h1>
<p>${t(rep.blocks.length)} design points (a decoder block of ${t(rep.config.layers.length)} layers at ${t(rep.config.tokens)} tokens each), ${t(rep.points.length)} layer points. Generator ${esc(rep.generator)}.
Energy-per-token ranking, best first: ${esc(rep.ranking.join(" < "))}.</p>
<h2>Pareto plots</h2>
<p>Hollow markers are dominated (another design is better on both axes).</p>
<div class="chart"><canvas id="sqnr_energy"></canvas></div>
<div class="chart"><canvas id="sqnr_area"></canvas></div>
<div class="chart"><canvas id="thr_area"></canvas></div>
<h2>Designs</h2>
<table><tr><th>design point</th><th>design</th><th>SQNR dB (mean of layers, held out)</th><th>activation bits stored</th><th>cycles (model)</th><th>energy nJ/token</th><th>area mm^2</th><th>Fmax MHz</th><th>tokens/s at Fmax</th><th>TOPS/W</th><th>TOPS/mm^2</th></tr>
${rows}
</table>
${rtlTable(rep.points)}
<h2>Sensitivity: each cost source x0.5 and x2, one at a time</h2>
<table><tr><th>source</th><th>factor</th><th>energy ranking</th><th>order (best first)</th></tr>
${sens}
</table>
<h2>Where every number comes from</h2>
<ul>${Object.entries(rep.sources).map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`).join("")}</ul>
<script>${chartJsSource()}</script>
<script>
const DATA = ${data};
Chart.defaults.animation = false;
window.__charts = [];
function dominated(b, x, y, xUp) {
  return DATA.blocks.some((o) => o !== b && y(o) >= y(b) && (xUp ? x(o) >= x(b) : x(o) <= x(b)) && (y(o) > y(b) || (xUp ? x(o) > x(b) : x(o) < x(b))));
}
function scatter(id, title, xLabel, yLabel, x, y, xUp) {
  const archs = [...new Set(DATA.blocks.map((b) => b.arch))];
  const datasets = archs.map((a) => {
    const bs = DATA.blocks.filter((b) => b.arch === a);
    return { label: a, data: bs.map((b) => ({ x: x(b), y: y(b), label: b.label })), backgroundColor: bs.map((b) => dominated(b, x, y, xUp) ? "#fff" : DATA.colors[a]),
      borderColor: DATA.colors[a], pointRadius: 7, pointBorderWidth: 2 };
  });
  const c = new Chart(document.getElementById(id), { type: "scatter", data: { datasets }, options: { responsive: true, maintainAspectRatio: false,
    plugins: { title: { display: true, text: title }, tooltip: { callbacks: { label: (ctx) => ctx.raw.label + ": (" + ctx.raw.x.toPrecision(4) + ", " + ctx.raw.y.toPrecision(4) + ")" } } },
    scales: { x: { title: { display: true, text: xLabel } }, y: { title: { display: true, text: yLabel } } } } });
  window.__charts.push({ id, points: datasets.reduce((a, d) => a + d.data.length, 0) });
}
scatter("sqnr_energy", "Accuracy vs energy (up and left is better)", "energy per token (nJ, decoder block)", "SQNR (dB, mean over layers, held-out tokens)", (b) => b.energyPerTokenNj, (b) => b.sqnrDb, false);
scatter("sqnr_area", "Accuracy vs area (up and left is better)", "area (mm^2, logic + RAM)", "SQNR (dB, mean over layers, held-out tokens)", (b) => b.areaMm2, (b) => b.sqnrDb, false);
scatter("thr_area", "Throughput vs area (up and left is better)", "area (mm^2, logic + RAM)", "throughput (tokens/s at Fmax, decoder block)", (b) => b.areaMm2, (b) => b.tokensPerSecond, false);
document.body.dataset.rendered = "yes";
</script>
</body></html>
`;
}
