/**
 * Area report: Yosys synthesises the generated PEs, the decoder and (for small designs) the
 * whole array, and counts cells. The all-flexible comparison shows what the hybrid grid saves.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";
import type { ElaboratedDesign } from "./design.js";
import { UserError } from "../core/errors.js";
import { generateRtl } from "./generate.js";

export interface ModuleArea {
  module: string;
  cells: number;
  /** Cell counts by type, as Yosys's stat prints them. */
  byType: Record<string, number>;
}

export interface AreaReport {
  design: string;
  peEff?: ModuleArea;
  peFlex?: ModuleArea;
  decoder: ModuleArea;
  array?: ModuleArea;
  /** PE cells of the hybrid grid vs the same grid built only from flexible PEs. */
  grid: { hybridPeCells: number; allFlexiblePeCells: number; saving: number; flexOverEff?: number };
}

/** Largest array (rows x cols) synthesised whole; bigger ones are reported from their PEs. */
export const WHOLE_ARRAY_LIMIT = 256;

async function synth(files: string[], top: string): Promise<ModuleArea> {
  const script = `${files.map((f) => `read_verilog ${f}`).join("; ")}; synth -top ${top} -flatten; stat`;
  let r;
  try {
    r = await execa("yosys", ["-q", "-p", script], { reject: false, all: true });
  } catch {
    throw new UserError("yosys not found: run 'make deps' (installs yosys from Debian packages)");
  }
  if (r.exitCode !== 0) throw new Error(`yosys failed on ${top}:\n${(r.all ?? "").split("\n").slice(-20).join("\n")}`);
  // -q silences the log; run stat again with output to parse it.
  const r2 = await execa("yosys", ["-p", script], { reject: false, all: true });
  const text = r2.all ?? "";
  const statAt = text.lastIndexOf("Number of cells:");
  if (statAt < 0) throw new Error(`yosys printed no cell count for ${top}`);
  const lines = text.slice(statAt).split("\n");
  const cells = Number(lines[0].split(":")[1]);
  const byType: Record<string, number> = {};
  for (const line of lines.slice(1)) {
    const m = line.match(/^\s+(\$\S+)\s+(\d+)$/);
    if (m) byType[m[1]] = Number(m[2]);
    else if (line.trim() === "" && Object.keys(byType).length) break;
  }
  return { module: top, cells, byType };
}

export async function areaReport(d: ElaboratedDesign, log: (s: string) => void = () => {}): Promise<AreaReport> {
  const rtl = generateRtl(d);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-area-"));
  try {
    for (const [n, t] of Object.entries(rtl.sources)) fs.writeFileSync(path.join(dir, n), t);
    const f = (part: string) => path.join(dir, `${d.prefix}_${part}.v`);
    log("area: synthesising PEs and decoder with yosys...");
    const peEff = d.effRows > 0 ? await synth([f("pe_eff")], `${d.prefix}_pe_eff`) : undefined;
    const peFlex = d.flexLines > 0 ? await synth([f("pe_flex")], `${d.prefix}_pe_flex`) : undefined;
    const decoder = await synth([f("decoder")], `${d.prefix}_decoder`);
    let array: ModuleArea | undefined;
    if (d.rows * d.cols <= WHOLE_ARRAY_LIMIT) {
      log(`area: synthesising the whole ${d.rows}x${d.cols} array...`);
      const parts = ["pe_eff", "pe_flex", "array"].filter((p) => fs.existsSync(f(p))).map(f);
      array = await synth(parts, `${d.prefix}_array`);
    }
    const eff = peEff?.cells ?? 0;
    // An all-flexible grid needs a flexible PE cell count even when this design has none.
    const flex = peFlex?.cells ?? (await synthFlexReference(d, dir));
    const hybrid = eff * d.pes.efficient + flex * d.pes.flexible;
    const allFlex = flex * d.pes.total;
    return {
      design: d.name, peEff, peFlex, decoder, array,
      grid: { hybridPeCells: hybrid, allFlexiblePeCells: allFlex, saving: 1 - hybrid / allFlex, flexOverEff: eff ? flex / eff : undefined },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function synthFlexReference(d: ElaboratedDesign, dir: string): Promise<number> {
  const { elaborate, resolveConfig } = await import("./design.js");
  const ref = elaborate(resolveConfig({ ...d.config, flexLines: 2, salientTypes: ["fp8"] }));
  const rtl = generateRtl(ref);
  const name = `${ref.prefix}_pe_flex.v`;
  fs.writeFileSync(path.join(dir, name), rtl.sources[name]);
  return (await synth([path.join(dir, name)], `${ref.prefix}_pe_flex`)).cells;
}

export function formatArea(a: AreaReport): string {
  const row = (what: string, m?: ModuleArea) => (m ? `  ${what.padEnd(24)} ${String(m.cells).padStart(8)} cells` : `  ${what.padEnd(24)} ${"-".padStart(8)}`);
  return [
    `Area (Yosys generic cells) for ${a.design}`,
    row("efficient PE", a.peEff),
    row("flexible PE", a.peFlex),
    row("decoder", a.decoder),
    a.array ? row("whole array (synthesised)", a.array) : `  whole array              not synthesised (over ${WHOLE_ARRAY_LIMIT} PEs): see PE totals`,
    `  PE cells, hybrid grid    ${String(a.grid.hybridPeCells).padStart(8)}`,
    `  PE cells, all-flexible   ${String(a.grid.allFlexiblePeCells).padStart(8)}`,
    `  saving of the hybrid grid: ${(100 * a.grid.saving).toFixed(1)}%` +
      (a.grid.flexOverEff ? `  (flexible PE = ${a.grid.flexOverEff.toFixed(2)}x efficient PE; paper: ~2.7x)` : ""),
  ].join("\n");
}
