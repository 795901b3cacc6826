/**
 * Area and timing from one real flow (docs/ppa.md): Yosys maps the generated RTL to the OSU
 * 0.18 um standard cells (dfflibmap, abc -liberty), each module once, and OpenSTA reads the
 * mapped netlist for the critical path and Fmax of every logic module and of the whole top.
 * The RAMs are not synthesised: they stay black boxes in the netlist, priced and timed by the
 * documented RAM table (ramcost.ts), which also becomes a small liberty so that STA sees
 * their read access time and setup. Every figure names its source: the liberty (cell areas),
 * OpenSTA (paths), or the RAM table. Results are cached by a hash of the sources, the
 * scripts, the tool versions, the liberty and the table.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runChild, trackTemp } from "../core/children.js";
import { cacheRoot } from "../core/cache.js";
import { UserError } from "../core/errors.js";
import { sha256, writeFileAtomic } from "../core/files.js";
import { takeLock } from "../core/lock.js";
import { clog2, type ElaboratedDesign } from "./design.js";
import { generateRtl, ramShapes, type RamShape } from "./generate.js";
import { roleOf, type Role, ROLES } from "./area.js";
import { RAM_TABLE, ramCost, type RamCost } from "./ramcost.js";
import { parsePower, powerScript, stripInstances, type ModulePower } from "./power.js";

/** The standard-cell library: Debian's qflow-tech-osu018 (OSU 0.18 um, typical corner, 1.8 V). */
export const LIBRARY = {
  name: "osu018_stdcells",
  node: "0.18 um",
  vdd: 1.8,
  file: process.env.OLTRON_LIBERTY ?? "/usr/share/qflow/tech/osu018/osu018_stdcells.lib",
  debianPackage: "qflow-tech-osu018",
} as const;

/** Bump when a script or the result format changes: old cache entries are ignored. */
const FLOW_VERSION = 2;
/** The clock STA is asked about; Fmax comes from the slack, so any period that is met or not works. */
const STA_PERIOD_NS = 10;
/** ABC's delay target for mapping, buffering and sizing (ps): a 250 MHz goal the mapper works towards. */
const ABC_TARGET_PS = 4000;
/** The clock and the ports' delays every STA run states: ports registered outside at no delay. */
const CONSTRAIN = [
  `create_clock -name clk -period ${STA_PERIOD_NS} [get_ports clk]`,
  "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]",
  "set_output_delay 0 -clock clk [all_outputs]",
];
/**
 * Timing-driven mapping with buffering and gate sizing: without them a high-fanout net of X1
 * cells reads as a 100 ns path, which no real flow would leave.
 */
const ABC_MAP = `abc -D ${ABC_TARGET_PS} -liberty cells.lib -script +strash;ifraig;scorr;dc2;dretime;strash;&get,-n;&dch,-f;&nf,-D,${ABC_TARGET_PS};&put;buffer,-N,10;upsize,-D,${ABC_TARGET_PS};dnsize,-D,${ABC_TARGET_PS};stime,-p`;

export interface TimingPath {
  /** Data arrival plus the endpoint's setup: the shortest clock period this path allows. */
  minPeriodNs: number;
  fmaxMHz: number;
  from: string;
  to: string;
}

export interface ModuleSilicon {
  module: string;
  role: Role;
  instances: number;
  /** Standard-cell area of one instance, its submodules and RAMs excluded (um^2, liberty). */
  areaUm2: number;
  cells: number;
  flipFlops: number;
  /** The module alone, its ports registered outside at no delay (OpenSTA). */
  timing?: TimingPath;
  /** Energy per cycle of one instance, its submodules and RAMs excluded (OpenSTA report_power; hw/power.ts). */
  power?: ModulePower;
}

export interface RamSilicon extends RamCost {
  name: string;
  width: number;
  depth: number;
  instances: number;
  uses: string;
}

export interface SiliconReport {
  design: string;
  arch: string;
  library: { name: string; node: string; vdd: number; file: string; sha256: string };
  tools: { yosys: string; sta: string };
  modules: ModuleSilicon[];
  rams: RamSilicon[];
  /** Whole-design totals, instances multiplied out (um^2). */
  logicAreaUm2: number;
  ramAreaUm2: number;
  totalAreaUm2: number;
  byRole: Record<Role, { logicUm2: number; ramUm2: number }>;
  /** The whole top level, RAM access times included (OpenSTA). */
  timing: TimingPath;
  ramTable: { source: string; version: number };
}

/** The versions of the silicon flow's tools, as their first output line (what results are keyed by). */
export async function siliconToolVersions(): Promise<{ yosys: string; sta: string; liberty: string }> {
  return { yosys: await toolVersion("yosys", ["-V"], "yosys"), sta: await toolVersion("sta", ["-version"], "opensta"), liberty: sha256(libertyText()).slice(0, 16) };
}

async function toolVersion(cmd: string, args: string[], what: string): Promise<string> {
  const r = await runChild(cmd, args, {});
  if (r.notStarted) throw new UserError(`${cmd} not found: run 'make deps' (installs ${what} from Debian packages)`);
  return r.all.trim().split("\n")[0];
}

/** Cell areas of the liberty (um^2), by cell name. */
export function libertyAreas(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = /cell\s*\(\s*"?([A-Za-z0-9_]+)"?\s*\)\s*\{[^}]*?area\s*:\s*([0-9.eE+-]+)/g;
  for (const m of text.matchAll(re)) out.set(m[1], Number(m[2]));
  return out;
}

function libertyText(): string {
  if (!fs.existsSync(LIBRARY.file)) {
    throw new UserError(`${LIBRARY.file}: the OSU 0.18 um liberty is missing; run 'make deps' (installs ${LIBRARY.debianPackage} from Debian packages)`);
  }
  return fs.readFileSync(LIBRARY.file, "utf8");
}

/** A liberty for the design's RAM shapes: area, leakage, read access time and input setup from the RAM table. */
export function ramLiberty(rams: RamShape[]): string {
  const unique = new Map(rams.map((r) => [r.name, r]));
  const types = new Set<number>();
  const cells: string[] = [];
  const setup = () => `      timing() { related_pin : "clk"; timing_type : setup_rising; rise_constraint(scalar) { values("${RAM_TABLE.setupNs}"); } fall_constraint(scalar) { values("${RAM_TABLE.setupNs}"); } }`;
  const inBus = (name: string, bits: number) => {
    if (bits === 1) return `    pin(${name}) { direction : input; capacitance : ${RAM_TABLE.pinCapPf};\n${setup()}\n    }`;
    types.add(bits);
    return `    bus(${name}) { bus_type : bus${bits}; direction : input; capacitance : ${RAM_TABLE.pinCapPf};\n${setup()}\n    }`;
  };
  for (const r of unique.values()) {
    const c = ramCost(r.width, r.depth);
    const aw = Math.max(1, clog2(r.depth));
    types.add(r.width);
    cells.push([
      `  cell(${r.name}) {`,
      `    area : ${c.areaUm2.toFixed(1)};`,
      `    cell_leakage_power : ${c.leakageNw.toFixed(1)};`,
      `    pin(clk) { direction : input; capacitance : ${RAM_TABLE.pinCapPf}; clock : true; }`,
      inBus("we", 1),
      inBus("waddr", aw),
      inBus("wdata", r.width),
      ...(r.lanes > 1 ? [inBus("wmask", r.lanes)] : []),
      inBus("re", 1),
      inBus("raddr", aw),
      `    bus(rdata) { bus_type : bus${r.width}; direction : output;`,
      `      timing() { related_pin : "clk"; timing_type : rising_edge; cell_rise(scalar) { values("${c.accessNs.toFixed(3)}"); } cell_fall(scalar) { values("${c.accessNs.toFixed(3)}"); }`,
      `        rise_transition(scalar) { values("${RAM_TABLE.outSlewNs}"); } fall_transition(scalar) { values("${RAM_TABLE.outSlewNs}"); } }`,
      `    }`,
      `  }`,
    ].join("\n"));
  }
  return [
    "library(oltron_rams) {",
    "  delay_model : table_lookup;",
    '  time_unit : "1ns"; voltage_unit : "1V"; current_unit : "1uA"; leakage_power_unit : "1nW"; pulling_resistance_unit : "1kohm";',
    "  capacitive_load_unit (1,pf);",
    "  slew_upper_threshold_pct_rise : 80; slew_lower_threshold_pct_rise : 20; slew_upper_threshold_pct_fall : 80; slew_lower_threshold_pct_fall : 20;",
    "  input_threshold_pct_rise : 50; input_threshold_pct_fall : 50; output_threshold_pct_rise : 50; output_threshold_pct_fall : 50;",
    "  nom_process : 1; nom_voltage : 1.8; nom_temperature : 25;",
    ...[...types].sort((a, b) => a - b).map((w) => `  type(bus${w}) { base_type : array; data_type : bit; bit_width : ${w}; bit_from : ${w - 1}; bit_to : 0; downto : true; }`),
    ...cells,
    "}",
    "",
  ].join("\n");
}

/** The worst path of a `report_checks` block. */
export function parseReportChecks(text: string, periodNs: number): TimingPath | undefined {
  const slack = /(-?[0-9.]+)\s+slack\s+\((MET|VIOLATED)\)/.exec(text);
  if (!slack) return undefined;
  const minPeriodNs = periodNs - Number(slack[1]);
  return {
    minPeriodNs,
    fmaxMHz: 1000 / minPeriodNs,
    from: /Startpoint:\s*(\S+)/.exec(text)?.[1] ?? "?",
    to: /Endpoint:\s*(\S+)/.exec(text)?.[1] ?? "?",
  };
}

/**
 * The silicon report of a design if an earlier run of the flow left it in the cache, without
 * running the flow (a page that shows area "when known" must not start an hour of synthesis).
 */
export async function cachedSiliconReport(d: ElaboratedDesign): Promise<SiliconReport | undefined> {
  try {
    return await siliconReport(d, () => {}, { cachedOnly: true });
  } catch (e) {
    // Not in the cache, or the flow's tools are not installed: the area is not known.
    if (e instanceof NotCached || e instanceof UserError) return undefined;
    throw e;
  }
}

class NotCached extends Error {}

/** Synthesises, maps and times a design; cached. */
export async function siliconReport(d: ElaboratedDesign, log: (s: string) => void = () => {}, opts: { cachedOnly?: boolean } = {}): Promise<SiliconReport & { cached: boolean }> {
  const lib = libertyText();
  const libSha = sha256(lib);
  const yosysV = await toolVersion("yosys", ["-V"], "yosys");
  const staV = await toolVersion("sta", ["-version"], "opensta");
  const rtl = generateRtl(d);
  const rams = Object.values(ramShapes(d));
  const ramNames = new Set(rams.map((r) => r.name));
  const names = Object.keys(rtl.sources).sort();
  const ramFiles = names.filter((n) => ramNames.has(n.replace(/\.v$/, "")));
  const logicFiles = names.filter((n) => !ramFiles.includes(n));
  const logicModules = logicFiles.map((n) => n.replace(/\.v$/, ""));
  const ys = [
    ...ramFiles.map((n) => `read_verilog -lib ${n}`),
    ...logicFiles.map((n) => `read_verilog ${n}`),
    `hierarchy -check -top ${rtl.top}`,
    `synth -top ${rtl.top}`,
    "dfflibmap -liberty cells.lib",
    ABC_MAP,
    "opt_clean",
    "tee -q -o stat.json stat -json",
    // OpenSTA reads no concatenations on the left of an assignment.
    "write_verilog -noattr -noexpr -nohex -nodec -simple-lhs mapped.v",
  ].join("\n");
  const tcl = [
    "read_liberty cells.lib",
    "read_liberty rams.lib",
    // Linking consumes the netlist: read it again for every module timed.
    ...[...logicModules, rtl.top].flatMap((m) => [
      "read_verilog mapped.v",
      `link_design ${m}`,
      ...CONSTRAIN,
      `puts "=== ${m}"`,
      "report_checks -path_delay max -digits 3",
    ]),
  ].join("\n");
  const ramLib = ramLiberty(rams);
  const inputs = { ...rtl.sources, "cells.lib": lib, "rams.lib": ramLib, "map.ys": ys + "\n", "sta.tcl": tcl + "\nexit\n" };
  const key = { v: FLOW_VERSION, yosysV, staV, libSha, table: RAM_TABLE.version };
  return runFlow<SiliconReport>(`design-${d.name}`, key, inputs, async (dir) => {
    log(`silicon: mapping ${d.name} to ${LIBRARY.name} with yosys (${logicModules.length} logic modules, each once; RAMs from the RAM table)...`);
    const t0 = performance.now();
    const { sta, stat } = await mapAndTime(dir, d.name, () => log(`silicon: mapped in ${((performance.now() - t0) / 1000).toFixed(0)} s; timing ${logicModules.length + 1} modules with OpenSTA...`));
    const timings = new Map<string, TimingPath | undefined>();
    for (const block of sta.split(/^=== /m).slice(1)) {
      const m = block.slice(0, block.indexOf("\n")).trim();
      timings.set(m, parseReportChecks(block, STA_PERIOD_NS));
    }
    log(`silicon: power per module with OpenSTA (quiet cycle and each input group switching)...`);
    const power = await modulePower(dir, logicModules.filter((m) => m !== rtl.top), new Set([...logicModules, ...ramNames]), d.name, log);
    return summarize(d, rtl.top, stat, timings, rams, libertyAreas(lib), { libSha, yosysV, staV }, power);
  }, log, opts.cachedOnly);
}

type YosysStat = Record<string, { num_cells_by_type: Record<string, number> }>;

/**
 * Runs a flow step in a scratch folder holding `inputs`, unless a result for the same inputs
 * and `key` is cached; a damaged cache entry is recomputed.
 */
async function runFlow<T extends object>(
  tag: string, key: object, inputs: Record<string, string>, compute: (dir: string) => Promise<T>, log: (s: string) => void = () => {}, cachedOnly = false,
): Promise<T & { cached: boolean }> {
  const names = Object.keys(inputs).sort();
  const hash = sha256(JSON.stringify({ key, files: names.map((n) => [n, sha256(inputs[n])]) })).slice(0, 16);
  const cacheFile = path.join(cacheRoot(), "silicon", `${hash}.json`);
  if (fs.existsSync(cacheFile)) {
    try {
      return { ...(JSON.parse(fs.readFileSync(cacheFile, "utf8")) as T), cached: true };
    } catch {
      // A damaged entry is recomputed below.
    }
  }
  if (cachedOnly) throw new NotCached();
  const cached = (): T | undefined => {
    try {
      return JSON.parse(fs.readFileSync(cacheFile, "utf8")) as T;
    } catch {
      return undefined;
    }
  };
  // One process per flow: jobs of a sweep (on one machine or the nodes of a cluster) that need
  // the same design's silicon wait for the first instead of repeating it.
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  const release = await takeLock(cacheFile.replace(/\.json$/, ".lock"), () => cached() !== undefined, log, "silicon");
  if (!release) return { ...cached()!, cached: true };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `oltron-silicon-${tag.replace(/[^\w-]/g, "_")}-`));
  const untrack = trackTemp(dir);
  try {
    const again = cached();
    if (again) return { ...again, cached: true };
    for (const n of names) fs.writeFileSync(path.join(dir, n), inputs[n]);
    const result = await compute(dir);
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    writeFileAtomic(cacheFile, JSON.stringify(result));
    return { ...result, cached: false };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    untrack();
    release();
  }
}

/** Yosys (map.ys) then OpenSTA (sta.tcl) in `dir`: the timing report and the cell statistics. */
async function mapAndTime(dir: string, what: string, mapped: () => void = () => {}): Promise<{ sta: string; stat: YosysStat }> {
  const y = await runChild("yosys", ["-q", "-s", "map.ys"], { cwd: dir });
  if (y.exitCode !== 0) throw new Error(`yosys failed on ${what}:\n${y.all.split("\n").slice(-20).join("\n")}`);
  mapped();
  const s = await runChild("sta", ["-no_splash", "-exit", "sta.tcl"], { cwd: dir });
  if (s.exitCode !== 0 || /^Error/m.test(s.all)) throw new Error(`OpenSTA failed on ${what}:\n${s.all.split("\n").filter((l) => /Error|error/.test(l)).slice(0, 10).join("\n")}`);
  // Yosys 0.23's `stat -json` interleaves a few plain-text hierarchy lines: drop them.
  const text = fs.readFileSync(path.join(dir, "stat.json"), "utf8").split("\n").filter((l) => !/^\s+[\w$\\]+\s+\d+\s*$/.test(l)).join("\n");
  const raw = (JSON.parse(text) as { modules: YosysStat }).modules;
  return { sta: s.all, stat: Object.fromEntries(Object.entries(raw).map(([m, v]) => [m.replace(/^\\/, ""), v])) };
}

/** OpenSTA's power analysis of every logic module alone (hw/power.ts), on the netlist just mapped in `dir`. */
async function modulePower(dir: string, modules: string[], strip: ReadonlySet<string>, what: string, log: (s: string) => void): Promise<Map<string, ModulePower>> {
  fs.writeFileSync(path.join(dir, "power.v"), stripInstances(fs.readFileSync(path.join(dir, "mapped.v"), "utf8"), strip));
  fs.writeFileSync(path.join(dir, "power.tcl"), powerScript(modules));
  const s = await runChild("sta", ["-no_splash", "-threads", "1", "-exit", "power.tcl"], { cwd: dir });
  if (s.exitCode !== 0 || /^Error/m.test(s.all)) throw new Error(`OpenSTA power analysis failed on ${what} (exit ${s.exitCode}):\n${s.all.split("\n").filter((l) => /rror/.test(l)).slice(0, 10).join("\n")}`);
  const summed = [...s.all.matchAll(/oltron: summed per instance, (\d+) instances/g)].map((m) => Number(m[1]));
  if (summed.length) log(`silicon: OpenSTA gave a non-numeric power for ${Math.max(...summed)} gates (wide counters' carry logic) in ${summed.length} report(s) of ${what}; those reports are summed per instance without them (hw/power.ts)`);
  return parsePower(s.all);
}

function summarize(
  d: ElaboratedDesign, top: string, stat: YosysStat,
  timings: Map<string, TimingPath | undefined>, rams: RamShape[], cellArea: Map<string, number>,
  v: { libSha: string; yosysV: string; staV: string }, power: Map<string, ModulePower>,
): SiliconReport {
  const ramByName = new Map(rams.map((r) => [r.name, r]));
  const instances = new Map<string, number>([[top, 1]]);
  const visit = (m: string, n: number) => {
    for (const [type, count] of Object.entries(stat[m]?.num_cells_by_type ?? {})) {
      const t = type.replace(/^\\/, "");
      if (stat[t] || ramByName.has(t)) {
        instances.set(t, (instances.get(t) ?? 0) + n * count);
        if (stat[t]) visit(t, n * count);
      }
    }
  };
  visit(top, 1);
  const modules: ModuleSilicon[] = Object.entries(stat).filter(([m]) => !ramByName.has(m)).map(([module, s]) => {
    let areaUm2 = 0;
    let cells = 0;
    let flipFlops = 0;
    for (const [type, count] of Object.entries(s.num_cells_by_type)) {
      const a = cellArea.get(type);
      if (a === undefined) continue; // a submodule or a RAM
      areaUm2 += a * count;
      cells += count;
      if (/^DFF/.test(type)) flipFlops += count;
    }
    const timing = timings.get(module);
    const pw = power.get(module);
    return { module, role: roleOf(d, module), instances: instances.get(module) ?? 0, areaUm2, cells, flipFlops, ...(timing ? { timing } : {}), ...(pw ? { power: pw } : {}) };
  });
  modules.sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role) || a.module.localeCompare(b.module));
  const ramRows: RamSilicon[] = [...new Map(rams.map((r) => [r.name, r])).values()].map((r) => ({
    name: r.name, width: r.width, depth: r.depth, instances: instances.get(r.name) ?? 0, uses: r.uses, ...ramCost(r.width, r.depth),
  }));
  const byRole = Object.fromEntries(ROLES.map((r) => [r, { logicUm2: 0, ramUm2: 0 }])) as SiliconReport["byRole"];
  let logicAreaUm2 = 0;
  for (const m of modules) {
    logicAreaUm2 += m.areaUm2 * m.instances;
    byRole[m.role].logicUm2 += m.areaUm2 * m.instances;
  }
  let ramAreaUm2 = 0;
  for (const r of ramRows) {
    ramAreaUm2 += r.areaUm2 * r.instances;
    byRole.buffers.ramUm2 += r.areaUm2 * r.instances;
  }
  const timing = timings.get(top);
  if (!timing) throw new Error(`OpenSTA reported no path for ${top}`);
  return {
    design: d.name, arch: d.arch,
    library: { name: LIBRARY.name, node: LIBRARY.node, vdd: LIBRARY.vdd, file: LIBRARY.file, sha256: v.libSha },
    tools: { yosys: v.yosysV, sta: v.staV },
    modules, rams: ramRows, logicAreaUm2, ramAreaUm2, totalAreaUm2: logicAreaUm2 + ramAreaUm2, byRole, timing,
    ramTable: { source: RAM_TABLE.source, version: RAM_TABLE.version },
  };
}

export function formatSilicon(r: SiliconReport): string {
  const mm2 = (um2: number) => (um2 / 1e6).toFixed(3);
  const lines = [
    `Silicon of ${r.design} (${r.arch}) on ${r.library.name} (${r.library.node}, ${r.library.vdd} V, typical): Yosys-mapped standard cells, OpenSTA timing, RAMs from the RAM table`,
    "",
    `Fmax ${r.timing.fmaxMHz.toFixed(0)} MHz (critical path ${r.timing.minPeriodNs.toFixed(2)} ns, ${r.timing.from} -> ${r.timing.to}; OpenSTA)`,
    `Area ${mm2(r.totalAreaUm2)} mm^2: logic ${mm2(r.logicAreaUm2)} mm^2 (liberty cell areas), RAM ${mm2(r.ramAreaUm2)} mm^2 (RAM table: ${r.ramTable.source})`,
    "",
    "| part | logic mm^2 | RAM mm^2 |",
    "|---|---|---|",
    ...ROLES.map((role) => `| ${role} | ${mm2(r.byRole[role].logicUm2)} | ${mm2(r.byRole[role].ramUm2)} |`),
    "",
    "| module | instances | um^2 each | cells each | flip-flops each | alone: critical path ns / Fmax MHz |",
    "|---|---|---|---|---|---|",
    ...r.modules.map((m) => `| ${m.module} | ${m.instances} | ${m.areaUm2.toFixed(0)} | ${m.cells} | ${m.flipFlops} | ${m.timing ? `${m.timing.minPeriodNs.toFixed(2)} / ${m.timing.fmaxMHz.toFixed(0)}` : "no path"} |`),
    "",
    "| RAM | instances | um^2 each | read pJ | write pJ | leakage nW | access ns |",
    "|---|---|---|---|---|---|---|",
    ...r.rams.map((m) => `| ${m.name} (${m.uses}) | ${m.instances} | ${m.areaUm2.toFixed(0)} | ${m.readPj.toFixed(2)} | ${m.writePj.toFixed(2)} | ${m.leakageNw.toFixed(1)} | ${m.accessNs.toFixed(2)} |`),
  ];
  return lines.join("\n");
}

export interface ModuleMapping {
  module: string;
  areaUm2: number;
  cells: number;
  flipFlops: number;
  timing?: TimingPath;
}

/**
 * One module (with its submodules flattened) through the same flow: Yosys to the liberty with
 * the same mapping script, OpenSTA for its critical path. For comparisons such as a generated
 * PE against a hand-written reference; cached like whole designs.
 */
export async function mapModule(files: Record<string, string>, top: string, params: Record<string, number> = {}): Promise<ModuleMapping & { cached: boolean }> {
  const lib = libertyText();
  const yosysV = await toolVersion("yosys", ["-V"], "yosys");
  const staV = await toolVersion("sta", ["-version"], "opensta");
  const names = Object.keys(files).sort();
  const ys = [
    ...names.map((n) => `read_verilog ${n}`),
    ...Object.entries(params).map(([k, v]) => `chparam -set ${k} ${v} ${top}`),
    `hierarchy -check -top ${top}`,
    `synth -flatten -top ${top}`,
    "dfflibmap -liberty cells.lib",
    ABC_MAP,
    "opt_clean",
    "rename -top mapped_top",
    "tee -q -o stat.json stat -json",
    "write_verilog -noattr -noexpr -nohex -nodec -simple-lhs mapped.v",
  ].join("\n");
  const tcl = [
    "read_liberty cells.lib",
    "read_verilog mapped.v",
    "link_design mapped_top",
    ...CONSTRAIN,
    "report_checks -path_delay max -digits 3",
  ].join("\n");
  const inputs = { ...files, "cells.lib": lib, "map.ys": ys + "\n", "sta.tcl": tcl + "\nexit\n" };
  return runFlow<ModuleMapping>(`module-${top}`, { v: FLOW_VERSION, yosysV, staV }, inputs, async (dir) => {
    const { sta, stat } = await mapAndTime(dir, top);
    const cellArea = libertyAreas(lib);
    const byType = Object.values(stat)[0]?.num_cells_by_type ?? {};
    let areaUm2 = 0;
    let cells = 0;
    let flipFlops = 0;
    for (const [type, count] of Object.entries(byType)) {
      areaUm2 += (cellArea.get(type) ?? 0) * count;
      cells += count;
      if (/^DFF/.test(type)) flipFlops += count;
    }
    const timing = parseReportChecks(sta, STA_PERIOD_NS);
    return { module: top, areaUm2, cells, flipFlops, ...(timing ? { timing } : {}) };
  });
}
