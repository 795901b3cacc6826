/**
 * Commands about formats and designs: `formats`, `generate`, and the `report` group.
 */
import { printJson } from "./json-outputs.js";
import { UserError } from "../core/errors.js";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { writeAccuracyReport } from "../report/accuracy.js";
import { runReportInputs, writeRunReport } from "../report/run.js";
import { checkOutputApart } from "../core/files.js";
import { decodeTable, parseElemType, type TableRow } from "../core/formats.js";
import { decodeInt8, decodeOvpPair, OVP_VICTIM } from "../core/actformats.js";
import { PE_KINDS } from "../hw/parts.js";
import { loadDesign, writeDesign } from "../flows/design.js";
import { areaReport, formatArea } from "../hw/area.js";
import { formatSilicon, siliconReport } from "../hw/silicon.js";
import { formatEnergy, layerEnergy } from "../flows/energy.js";
import { loadRun } from "../flows/run-folder.js";
import { ERROR_CODES, errorCodesMarkdown, registerMapMarkdown, registers } from "../hw/registers.js";
import { addDesignOptions, designFromOptions, log } from "./options.js";

export function registerDesignCommands(program: Command): void {
  program
    .command("formats")
    .description("print the full decode table of a number format (SPEC section 2; int8 and OVP: docs/formats.md)")
    .argument("<type>", "int4, fp8, fp12, int8, ovp-int or ovp-flint")
    .option("--json", "print a JSON array of {code, value, fields, pairs} (OVP: {code, normal, outlier})")
    .action((type: string, o: { json?: boolean }) => {
      if (type === "int8") {
        const rows = Array.from({ length: 256 }, (_, code) => ({ code, value: decodeInt8(code) }));
        if (o.json) return printJson("formats", rows, 0);
        console.log(["int8 decode table (256 codes, two's complement; the quantizer writes -127..127)",
          ...rows.map((r) => `0x${r.code.toString(16).padStart(2, "0")}  ${String(r.value).padStart(4)}`)].join("\n"));
        return;
      }
      if (type === "ovp-int" || type === "ovp-flint") {
        const t = type === "ovp-int" ? "int" : "flint";
        // A normal code sits beside a normal partner (0); an outlier code beside the victim marker.
        const rows = Array.from({ length: 16 }, (_, code) => {
          const [normal] = decodeOvpPair(t, code === OVP_VICTIM ? 0 : code, 0);
          const [outlier] = decodeOvpPair(t, code, OVP_VICTIM);
          return { code, normal: code === OVP_VICTIM ? null : normal, outlier };
        });
        const pair = (p: { shift: number; int: number }) => `${String(p.int * 2 ** p.shift).padStart(4)} (${p.shift},${p.int})`;
        if (o.json) return printJson("formats", rows, 0);
        console.log([
          `${type} decode table (16 codes; a pair (c0, c1): c1 = 1000 makes c0 an outlier, else c0 = 1000 makes c1 one, else both normal).`,
          "value (exponent, integer) in units of the activation scale",
          "code  normal          outlier",
          ...rows.map((r) => `${r.code.toString(2).padStart(4, "0")}  ${r.normal ? pair(r.normal) : "victim marker".padEnd(14)}  ${pair(r.outlier)}`),
        ].join("\n"));
        return;
      }
      if (!["int4", "fp8", "fp12"].includes(type)) throw new UserError(`unknown format '${type}': expected one of int4, fp8, fp12, int8, ovp-int, ovp-flint`);
      const t = parseElemType(type);
      const rows = decodeTable(t);
      if (o.json) printJson("formats", rows, 0);
      else console.log(formatTable(rows, t));
    });

  addDesignOptions(
    program.command("generate").description("generate Verilog RTL, testbench and design.json for an array configuration"),
  )
    .option("--out <dir>", "output folder (default rtl-out/<design-name>)")
    .option("--top-name <module>", "also write <module>.v, the top level under this stable name (a wrapper of <prefix>_top), for an SoC that instantiates it by a fixed name; the filelist, FuseSoC core and IP-XACT name it as the top")
    .option("--json", "print one JSON document: the design, its parameters and the files written")
    .action((o: Record<string, unknown>) => {
      const t0 = performance.now();
      const d = designFromOptions(o);
      const dir = String(o.out ?? path.join("rtl-out", d.name));
      const rtl = writeDesign(dir, d, { stableTop: o.topName === undefined ? undefined : String(o.topName) });
      const ms = performance.now() - t0;
      if (o.json) {
        printJson("generate", {
          design: d.name, out: path.resolve(dir), config: d.config, pes: d.pes, top: rtl.top,
          ...(o.topName !== undefined ? { stableTop: String(o.topName) } : {}), project: rtl.project,
          files: fs.readdirSync(dir).filter((f) => !f.startsWith(".")).sort(),
        });
        return;
      }
      const grid = d.grid.map((g) => `${g.rows * d.cols} ${PE_KINDS[g.pe].doc.split(":")[0]}s`).join(" + ");
      console.log(`generated ${d.name}: ${d.arch} architecture, ${d.rows}x${d.cols} array, ${d.flexLines} flexible line(s): ${grid}`);
      console.log(`  ${Object.keys(rtl.sources).length} RTL files + testbench + design.json in ${dir} (${ms.toFixed(0)} ms)`);
      console.log(`  project files: ${rtl.project.join(", ")} (docs/architecture.md, "Project files")`);
    });

}

export function registerReportCommands(program: Command): void {
  const report = program
    .command("report")
    .description("reports: 'report <run-folder>' writes an HTML page with charts (and CSV/JSON) about a run; 'report area', 'report registers' describe a design");
  // The default subcommand, so 'oltron report <run-folder>' works and each subcommand keeps its own options.
  report
    .command("run", { isDefault: true })
    .description("an HTML page with charts about a run (per-channel magnitudes and salient channels, salient slots per tile, bits, tiles, cycles, traffic), with every table as CSV and the whole as JSON")
    .argument("<run-folder>", "a run folder written by 'oltron verify' (or an image folder 'oltron sim' ran on), or a bench results folder with accuracy.json")
    .option("--out <dir>", "report folder (default <run-folder>/report)")
    .option("--json", "print the report data as JSON")
    .action(async (folder: string, o: { out?: string; json?: boolean }) => {
      // A bench results folder (accuracy.json, no run) gets the SQNR-vs-bits curves.
      if (fs.existsSync(path.join(folder, "accuracy.json")) && !fs.existsSync(path.join(folder, "sim-result.json"))) {
        checkOutputApart({ flag: "--out", path: o.out ?? path.join(folder, "report") }, [{ flag: "the results file", path: path.join(folder, "accuracy.json") }]);
        const a = writeAccuracyReport(folder, o.out);
        if (o.json) printJson("report-accuracy", a.points);
        (o.json ? log : console.log)(`wrote ${path.join(a.dir, "accuracy.html")} (SQNR vs bits per layer and method; works offline) and accuracy-points.csv in ${a.dir}`);
        return;
      }
      // The report never replaces or buries what it reads (--out naming the run or its images).
      checkOutputApart({ flag: "--out", path: o.out ?? path.join(folder, "report") }, runReportInputs(folder).map((p) => ({ flag: "the run's file", path: p })));
      const r = await writeRunReport(folder, o.out);
      if (o.json) printJson("report-run", r.report);
      (o.json ? log : console.log)(`wrote ${path.join(r.dir, "report.html")} (open it in a browser; it works offline) and ${r.files.filter((f) => f !== "report.html").join(", ")} in ${r.dir}`);
    });
  addDesignOptions(report.command("area").description(
    "area (um^2) and Fmax of the whole accelerator on the OSU 0.18 um cells (Yosys + OpenSTA; RAMs from the RAM table, docs/ppa.md), per module and part; Yosys generic cells beside (hybrid vs all-flexible for Oltron)",
  ))
    .option("--design <dir>", "a design folder written by 'oltron generate' (instead of the design flags)")
    .option("--json", "print JSON: {silicon, cells}")
    .action(async (o: Record<string, unknown>) => {
      const d = o.design !== undefined ? loadDesign(String(o.design)) : designFromOptions(o);
      const silicon = await siliconReport(d, log);
      const cells = await areaReport(d, log);
      if (o.json) printJson("report-area", { silicon, cells });
      else console.log(`${formatSilicon(silicon)}\n\n## Generic cells (secondary)\n\n${formatArea(cells)}`);
    });
  report.command("energy")
    .description("energy per layer and per token of a co-simulated run, by part (PE grid, decoder, pipeline and control, buffers, DRAM, leakage), TOPS/W and TOPS/mm^2 at Fmax: the run's RTL event counts priced by OpenSTA power, the RAM table and a DRAM pJ/bit (docs/ppa.md)")
    .argument("<run-folder>", "a run folder written by 'oltron verify' (design/ and images/sim-result.json)")
    .option("--json", "print JSON")
    .action(async (folder: string, o: { json?: boolean }) => {
      const { d, result } = loadRun(folder);
      const silicon = await siliconReport(d, log);
      const layers = result.layers.map((l) => {
        if (!l.events || !l.cycles) throw new UserError(`${folder}: layer ${l.name} has no event counts or cycles in sim-result.json (the run did not finish, or the layer lies past the design's statsDepth descriptors; raise --stats-depth)`);
        return { name: l.name, m: l.m, k: l.k, n: l.n, cycles: l.cycles.total, energy: layerEnergy(d, silicon, { m: l.m, k: l.k, n: l.n, cycles: l.cycles.total, events: l.events }) };
      });
      if (o.json) {
        printJson("report-energy", { design: d.name, arch: d.arch, fmaxMHz: silicon.timing.fmaxMHz, areaMm2: silicon.totalAreaUm2 / 1e6, layers });
        return;
      }
      console.log(formatEnergy(d.name, silicon, layers));
    });
  addDesignOptions(report.command("registers").description("the AXI4-Lite register map and the error codes of a design (markdown, or --json)"))
    .option("--json", "print JSON")
    .action((o: Record<string, unknown>) => {
      const d = designFromOptions(o);
      if (o.json) printJson("report-registers", { design: d.name, registers: registers(d), errors: ERROR_CODES });
      else console.log(`${registerMapMarkdown(d)}\n\n${errorCodesMarkdown()}`);
    });
}

function formatTable(rows: TableRow[], type: string): string {
  const out = [`${type} decode table (${rows.length} codes). value = decoded integer in units of the activation scale; pairs = (shift, integer)`];
  for (const r of rows) {
    const f = "sign" in r.fields ? `s=${r.fields.sign} e=${String(r.fields.exp).padStart(2)} m=${String(r.fields.man).padStart(2)}` : `q=${r.fields.value}`;
    const pairs = r.pairs.map((p) => `(${p.shift},${p.int})`).join(" ");
    out.push(`0x${r.hex}  ${f.padEnd(18)} ${String(r.value).padStart(13)}  ${pairs}${r.reserved ? "  [reserved exponent]" : ""}`);
  }
  return out.join("\n");
}
