/**
 * Energy per event of every logic module, from OpenSTA's power analysis of the mapped netlist
 * (liberty internal, switching and leakage power). Each module is analysed alone, its
 * submodule and RAM instances removed (as its area is counted), with its input ports at set
 * switching activities. OpenSTA propagates them through the combinational logic; every
 * flip-flop's clock pin switches every cycle (no clock gating in the RTL).
 *
 * Per module the flow measures the energy of one clock cycle with all inputs quiet (the clock
 * alone), and the extra energy per cycle of each port group switching at activity 0.5 (toggles
 * per bit per cycle); the energy model (flows/energy.ts) scales the extra linearly to the
 * activity measured in co-simulation. Why linear: OpenSTA's propagation is probabilistic and
 * first order in the input densities (checked by hand on the efficient PE of an 8x8 design:
 * 0.465 mW quiet, 2.00 mW with the operands at 0.5, 1.23 mW at 0.25, the linear figure).
 * The clock is 10 ns: dynamic energy per cycle does not depend on it; leakage is reported
 * apart, in watts.
 */

/** Input-port groups whose activity the energy model sets from co-simulation. */
export type PortGroup = "operand" | "psum" | "row" | "inputs";

export interface ModulePower {
  /** Energy of one cycle with every input quiet: the clock into every flip-flop (pJ, OpenSTA). */
  idlePj: number;
  /** Extra energy per cycle per port group, at activity 1 (pJ per cycle per unit activity). */
  perActivityPj: Partial<Record<PortGroup, number>>;
  /** Leakage of one instance (W, liberty). */
  leakageW: number;
}

export const POWER_REFERENCE_ACTIVITY = 0.5;
const PERIOD_NS = 10;

/** The port groups of a module, by its role in the design: patterns over port names. */
export function portGroups(module: string): Partial<Record<PortGroup, string>> {
  if (/_pe_\w+$/.test(module)) return { operand: "act_in* op_in*", psum: "psum_in*" };
  if (/_decoder(_ovp)?$/.test(module)) return { row: "row*" };
  return { inputs: "*" };
}

/**
 * The mapped netlist with every instance of the given cell types (submodules, RAMs) removed
 * from every module body: each module keeps only its own standard cells.
 */
export function stripInstances(netlist: string, types: ReadonlySet<string>): string {
  return netlist.replace(/^ {2}(\\?[\w$.[\]]+) (\\?\S+)\s+\([\s\S]*?^ {2}\);\n/gm, (whole, type: string) =>
    types.has(type.replace(/^\\/, "")) ? "" : whole);
}

/** An OpenSTA script: for every module, the quiet cycle and each port group at the reference activity. */
/**
 * OpenSTA 2.0.17 propagates a wide counter's high-bit activity down to denormal numbers, and
 * for some gate structures (ABC's choice, which varies from run to run under load) a gate's
 * power comes out as 0/0: report_power then fails on the NaN. Such a report is made again as
 * the sum over instances, leaving out the gates whose power is not a number (counter carry
 * gates that switch about once in 2^50 cycles: their energy is nil), and says how many.
 */
const REPORT_POWER_PROC = String.raw`proc oltron_report_power {} {
  if {![catch {report_power -digits 6}]} { return }
  set i 0.0; set s 0.0; set l 0.0; set skipped 0
  foreach c [get_cells *] {
    sta::redirect_string_begin
    set bad [catch {report_power -instances $c -digits 6}]
    set text [sta::redirect_string_end]
    if {$bad || ![regexp {\n\s*([-0-9.e+]+)\s+([-0-9.e+]+)\s+([-0-9.e+]+)\s+([-0-9.e+]+)\s+\S+\s*$} $text -> ci cs cl ct]} { incr skipped; continue }
    set i [expr {$i + $ci}]; set s [expr {$s + $cs}]; set l [expr {$l + $cl}]
  }
  puts "oltron: summed per instance, $skipped instances with a non-numeric power left out"
  puts [format "Total %e %e %e %e" $i $s $l [expr {$i + $s + $l}]]
}`;

export function powerScript(modules: readonly string[], netlist = "power.v"): string {
  const lines = ["read_liberty cells.lib", REPORT_POWER_PROC];
  for (const m of modules) {
    const groups = portGroups(m);
    const runs: [string, string[]][] = [["idle", []], ...Object.entries(groups).map(([g, pat]) => [g, pat!.split(" ")] as [string, string[]])];
    lines.push(
      `read_verilog ${netlist}`,
      `link_design ${m}`,
      // A combinational module has no clock port: the clock is virtual.
      `if {[llength [get_ports -quiet clk]]} { create_clock -name clk -period ${PERIOD_NS} [get_ports clk] } else { create_clock -name clk -period ${PERIOD_NS} }`,
      "set data_in [delete_from_list [all_inputs] [get_ports -quiet clk]]",
      "set_input_delay 0 -clock clk $data_in",
      "set_output_delay 0 -clock clk [all_outputs]",
    );
    for (const [name, pats] of runs) {
      lines.push("set_power_activity -input_ports $data_in -activity 0 -duty 0.5");
      if (pats.length) {
        const ports = pats.map((p) => `[get_ports -quiet ${p}]`).join(" ");
        lines.push(`set g [delete_from_list [concat ${ports}] [get_ports -quiet clk]]`);
        lines.push(`if {[llength $g]} { set_power_activity -input_ports $g -activity ${POWER_REFERENCE_ACTIVITY} -duty 0.5 }`);
      }
      lines.push(`puts "=== ${m} ${name}"`, "oltron_report_power");
    }
  }
  return lines.join("\n") + "\nexit\n";
}

/** The Total row of one report_power: internal, switching, leakage, total (W). */
function totalRow(block: string): number[] | undefined {
  const m = block.match(/^Total\s+([-\d.e+]+)\s+([-\d.e+]+)\s+([-\d.e+]+)\s+([-\d.e+]+)/m);
  return m ? m.slice(1, 5).map(Number) : undefined;
}

/** Parses the script's output into per-module energies. */
export function parsePower(text: string): Map<string, ModulePower> {
  const runs = new Map<string, Map<string, number[]>>();
  for (const block of text.split(/^=== /m).slice(1)) {
    const [m, name] = block.slice(0, block.indexOf("\n")).trim().split(/\s+/);
    const row = totalRow(block);
    if (!row) throw new Error(`OpenSTA printed no power total for ${m} (${name})`);
    if (!runs.has(m)) runs.set(m, new Map());
    runs.get(m)!.set(name, row);
  }
  const out = new Map<string, ModulePower>();
  const pj = (w: number) => w * PERIOD_NS * 1e3; // W x ns = nJ; x 1e3 = pJ
  for (const [m, r] of runs) {
    const idle = r.get("idle");
    if (!idle) throw new Error(`OpenSTA printed no quiet-cycle power for ${m}`);
    const dyn = (row: number[]) => row[0] + row[1];
    const perActivityPj: Partial<Record<PortGroup, number>> = {};
    for (const [name, row] of r) {
      if (name !== "idle") perActivityPj[name as PortGroup] = Math.max(0, pj(dyn(row) - dyn(idle)) / POWER_REFERENCE_ACTIVITY);
    }
    out.set(m, { idlePj: pj(dyn(idle)), perActivityPj, leakageW: idle[2] });
  }
  return out;
}
