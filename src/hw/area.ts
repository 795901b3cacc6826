/**
 * Area of the whole accelerator: Yosys synthesises the generated top level hierarchically
 * (each module once, instances counted), keeps the buffers and accumulators as memories (their
 * bits are reported apart from logic: they become SRAM macros or block RAM), and maps the rest
 * to generic gates. The same is done for the all-flexible variant of the design, so the
 * hybrid grid's saving is measured on the whole accelerator. Results are cached by a hash of
 * the sources, the script and the Yosys version.
 */
import { ARCHS } from "./parts.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";
import { runChild, trackTemp } from "../core/children.js";
import { cacheRoot } from "../core/cache.js";
import { UserError } from "../core/errors.js";
import { sha256, writeFileAtomic } from "../core/files.js";
import { elaborate, resolveConfig, type ElaboratedDesign } from "./design.js";
import { generateRtl, ramShapes } from "./generate.js";

export type Role = "pe grid" | "decoder" | "buffers" | "control" | "pipeline and AXI";
export const ROLES: readonly Role[] = ["pe grid", "decoder", "buffers", "control", "pipeline and AXI"];

export interface ModuleArea {
  module: string;
  role: Role;
  /** Instances in the whole design. */
  instances: number;
  /** Generic gate and flip-flop cells of one instance (memories and submodules excluded). */
  cells: number;
  flipFlops: number;
  /** Memory bits of one instance (RAM modules only). */
  memoryBits: number;
  byType: Record<string, number>;
}

export interface DesignArea {
  design: string;
  modules: ModuleArea[];
  /** Whole-design totals (instances multiplied out). */
  cells: number;
  flipFlops: number;
  memoryBits: number;
  byRole: Record<Role, { cells: number; memoryBits: number }>;
}

export interface AreaReport {
  design: string;
  yosys: string;
  /** The design itself (named for Oltron's hybrid grid; any architecture's design). */
  hybrid: DesignArea;
  /** The same configuration with every row flexible (architectures with flexible lines only). */
  allFlexible?: DesignArea;
  /** 1 - hybrid / all-flexible, for the PE grid alone and for the whole accelerator's logic. */
  saving?: { peGrid: number; whole: number };
  /** Cells of one flexible PE over one efficient PE (the paper reports about 2.7x). */
  flexOverEff?: number;
  cached: { hybrid: boolean; allFlexible?: boolean };
}

/** Bump when the synthesis script or the result format changes: old cache entries are ignored. */
const SCRIPT_VERSION = 2;

let yosysVersion: string | undefined;
async function yosys(): Promise<string> {
  if (yosysVersion) return yosysVersion;
  try {
    const r = await execa("yosys", ["-V"], { reject: false });
    yosysVersion = (r.stdout || r.stderr).trim();
    return yosysVersion;
  } catch {
    throw new UserError("yosys not found: run 'make deps' (installs yosys from Debian packages)");
  }
}

export function roleOf(d: ElaboratedDesign, module: string): Role {
  const part = module.slice(d.prefix.length + 1);
  if (part === "array" || part.startsWith("pe_")) return "pe grid";
  if (part.startsWith("decoder")) return "decoder";
  if (part.startsWith("ram_")) return "buffers";
  if (part === "ctrl") return "control";
  // top and the modules it connects: runctl, axi_rd, loader, preload, compute, accum, writeback, stats.
  return "pipeline and AXI";
}

/** Yosys 0.23's `stat -json` interleaves a few plain-text hierarchy lines: drop them. */
function parseStatJson(text: string): { modules: Record<string, { num_cells_by_type: Record<string, number> }> } {
  const clean = text.split("\n").filter((l) => !/^\s+[\w$\\]+\s+\d+\s*$/.test(l)).join("\n");
  const raw = JSON.parse(clean) as { modules: Record<string, { num_cells_by_type: Record<string, number> }> };
  // Module names may carry Yosys's escape backslash; cell types name modules without it.
  const plain = (s: string) => s.replace(/^\\/, "");
  const modules = Object.fromEntries(Object.entries(raw.modules).map(([m, s]) => [
    plain(m), { num_cells_by_type: Object.fromEntries(Object.entries(s.num_cells_by_type).map(([k, v]) => [plain(k), v])) },
  ]));
  return { modules };
}

async function synthDesign(d: ElaboratedDesign, log: (s: string) => void): Promise<{ area: DesignArea; cached: boolean }> {
  const version = await yosys();
  const rtl = generateRtl(d);
  const names = Object.keys(rtl.sources).sort();
  const rams = Object.values(ramShapes(d));
  const ramNames = new Set(rams.map((r) => r.name));
  const modules = names.map((n) => n.replace(/\.v$/, ""));
  const logicModules = modules.filter((m) => !ramNames.has(m));
  // synth's coarse steps, then memories kept (RAM modules) or mapped to flip-flops (small
  // register arrays elsewhere), then generic gates.
  const script = [
    ...names.map((n) => `read_verilog ${n}`),
    `hierarchy -check -top ${rtl.top}`,
    "proc; opt_expr; opt_clean; check; opt -nodffe -nosdff; fsm; opt; wreduce; peepopt; opt_clean",
    "alumacc; share; opt; memory -nomap; opt_clean",
    `memory_map ${logicModules.join(" ")}`,
    "opt -full; techmap; opt -fast; abc -fast; opt -fast",
    "tee -q -o stat.json stat -json",
  ].join("\n");
  const key = sha256(JSON.stringify({ v: SCRIPT_VERSION, version, script, files: names.map((n) => [n, sha256(rtl.sources[n])]) })).slice(0, 16);
  const cacheFile = path.join(cacheRoot(), "area", `${key}.json`);
  if (fs.existsSync(cacheFile)) {
    try {
      return { area: JSON.parse(fs.readFileSync(cacheFile, "utf8")) as DesignArea, cached: true };
    } catch {
      // A damaged entry is rebuilt below.
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-area-"));
  const untrack = trackTemp(dir);
  try {
    for (const n of names) fs.writeFileSync(path.join(dir, n), rtl.sources[n]);
    fs.writeFileSync(path.join(dir, "area.ys"), script + "\n");
    log(`area: synthesising ${d.name} (${modules.length} modules, each once) with yosys...`);
    const t0 = performance.now();
    const r = await runChild("yosys", ["-q", "-s", "area.ys"], { cwd: dir });
    if (r.notStarted) throw new UserError("yosys could not be started: run 'make deps' (installs yosys from Debian packages)");
    if (r.exitCode !== 0) throw new Error(`yosys failed on ${d.name}:\n${r.all.split("\n").slice(-20).join("\n")}`);
    log(`area: ${d.name} synthesised in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const stat = parseStatJson(fs.readFileSync(path.join(dir, "stat.json"), "utf8"));
    const area = summarize(d, stat.modules, rtl.top, rams);
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    writeFileAtomic(cacheFile, JSON.stringify(area));
    return { area, cached: false };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    untrack();
  }
}

function summarize(
  d: ElaboratedDesign, stat: Record<string, { num_cells_by_type: Record<string, number> }>, top: string,
  rams: ReturnType<typeof ramShapes>[keyof ReturnType<typeof ramShapes>][],
): DesignArea {
  const instances = new Map<string, number>([[top, 1]]);
  // Walk the hierarchy from the top, multiplying instance counts.
  const visit = (m: string, n: number) => {
    for (const [type, count] of Object.entries(stat[m]?.num_cells_by_type ?? {})) {
      if (stat[type]) {
        instances.set(type, (instances.get(type) ?? 0) + n * count);
        visit(type, n * count);
      }
    }
  };
  visit(top, 1);
  const bitsOf = new Map(rams.map((r) => [r.name, r.width * r.depth]));
  const modules: ModuleArea[] = Object.entries(stat).map(([module, s]) => {
    const byType: Record<string, number> = {};
    for (const [type, count] of Object.entries(s.num_cells_by_type)) {
      if (!stat[type] && type !== "$mem_v2") byType[type] = count;
    }
    const cells = Object.values(byType).reduce((a, b) => a + b, 0);
    const flipFlops = Object.entries(byType).filter(([t]) => /DFF|DLATCH|SR_/.test(t)).reduce((a, [, c]) => a + c, 0);
    return { module, role: roleOf(d, module), instances: instances.get(module) ?? 0, cells, flipFlops, memoryBits: bitsOf.get(module) ?? 0, byType };
  });
  modules.sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role) || a.module.localeCompare(b.module));
  const byRole = Object.fromEntries(ROLES.map((r) => [r, { cells: 0, memoryBits: 0 }])) as DesignArea["byRole"];
  let cells = 0;
  let flipFlops = 0;
  let memoryBits = 0;
  for (const m of modules) {
    cells += m.cells * m.instances;
    flipFlops += m.flipFlops * m.instances;
    memoryBits += m.memoryBits * m.instances;
    byRole[m.role].cells += m.cells * m.instances;
    byRole[m.role].memoryBits += m.memoryBits * m.instances;
  }
  return { design: d.name, modules, cells, flipFlops, memoryBits, byRole };
}

/** The same configuration with every row flexible (what the hybrid grid is compared with). */
/** The Yosys area of one design (cached like areaReport's). */
export async function designArea(d: ElaboratedDesign, log: (s: string) => void = () => {}): Promise<DesignArea> {
  return (await synthDesign(d, log)).area;
}

export function allFlexibleVariant(d: ElaboratedDesign): ElaboratedDesign {
  return elaborate(resolveConfig({ ...d.config, flexLines: d.rows, salientTypes: d.config.salientTypes.length ? d.config.salientTypes : ["fp8"] }));
}

export async function areaReport(d: ElaboratedDesign, log: (s: string) => void = () => {}): Promise<AreaReport> {
  const hybrid = await synthDesign(d, log);
  // Only a grid with flexible lines has an all-flexible counterpart to weigh it against.
  if (!ARCHS[d.arch].salient) {
    return { design: d.name, yosys: await yosys(), hybrid: hybrid.area, cached: { hybrid: hybrid.cached } };
  }
  const flex = d.flexLines === d.rows ? hybrid : await synthDesign(allFlexibleVariant(d), log);
  const cellsOf = (a: DesignArea, part: string) => a.modules.find((m) => m.module.endsWith(`_${part}`))?.cells;
  const eff = cellsOf(hybrid.area, "pe_eff");
  const flexPe = cellsOf(hybrid.area, "pe_flex") ?? cellsOf(flex.area, "pe_flex");
  return {
    design: d.name,
    yosys: await yosys(),
    hybrid: hybrid.area,
    allFlexible: flex.area,
    saving: {
      peGrid: 1 - hybrid.area.byRole["pe grid"].cells / flex.area.byRole["pe grid"].cells,
      whole: 1 - hybrid.area.cells / flex.area.cells,
    },
    flexOverEff: eff && flexPe ? flexPe / eff : undefined,
    cached: { hybrid: hybrid.cached, allFlexible: flex.cached },
  };
}

export function formatArea(a: AreaReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const h = a.hybrid;
  const flex = a.allFlexible;
  const lines = [
    `Area of the whole accelerator ${a.design} (${a.yosys}; generic gates, memories kept as memories)`,
    "",
    `| part | logic cells | of which flip-flops | memory bits |${flex ? " all-flexible: logic cells |" : ""}`,
    `|---|---|---|---|${flex ? "---|" : ""}`,
  ];
  for (const r of ROLES) {
    const ffs = h.modules.filter((m) => m.role === r).reduce((s, m) => s + m.flipFlops * m.instances, 0);
    lines.push(`| ${r} | ${h.byRole[r].cells} | ${ffs} | ${h.byRole[r].memoryBits} |${flex ? ` ${flex.byRole[r].cells} |` : ""}`);
  }
  lines.push(`| **whole accelerator** | **${h.cells}** | ${h.flipFlops} | ${h.memoryBits} |${flex ? ` **${flex.cells}** |` : ""}`);
  lines.push("");
  if (a.saving) lines.push(`Hybrid grid saving against all-flexible: ${pct(a.saving.peGrid)} of the PE grid, ${pct(a.saving.whole)} of the whole accelerator's logic.`);
  if (a.flexOverEff) lines.push(`One flexible PE = ${a.flexOverEff.toFixed(2)}x an efficient PE (the paper reports about 2.7x).`);
  lines.push("");
  lines.push("| module | instances | cells each | memory bits each |");
  lines.push("|---|---|---|---|");
  for (const m of h.modules) lines.push(`| ${m.module} | ${m.instances} | ${m.cells} | ${m.memoryBits} |`);
  lines.push("");
  lines.push(`${a.cached.hybrid && a.cached.allFlexible !== false ? "From the synthesis cache" : "Synthesised now"} (${path.join(cacheRoot(), "area")}).`);
  return lines.join("\n");
}
