/**
 * `oltron bench` (performance) and its `bench accuracy` subcommands.
 */
import { printJson } from "./json-outputs.js";
import * as path from "node:path";
import type { Command } from "commander";
import { PERF_SECTIONS, perfMarkdown, runPerfBench, SPEED_SIZES, type PerfSection } from "../bench/perf.js";
import { UserError } from "../core/errors.js";
import { checkOutputFolder, claimKeptFolder, writeFileAtomic } from "../core/files.js";
import { checkFileOutput } from "./options.js";
import { perfJunitXml } from "../bench/perf-junit.js";
import { registerAccuracyCommands } from "./accuracy.js";

export function registerBenchCommands(program: Command): void {
  const bench = program
    .command("bench")
    .description("performance benchmark (golden speed, generation speed, co-simulated cycles and utilization, simulation speed); see also 'bench accuracy'")
    .option("--out <dir>", "results folder", "bench/results")
    .option("--quick", "small shapes (a few seconds)")
    .option("--only <sections>", `comma list of sections to run: ${PERF_SECTIONS.join(", ")} (default: all)`)
    .option("--sizes <list>", `array sizes of the simulation-speed section, comma list of ${SPEED_SIZES.join(", ")} (default: all)`)
    .option("--json", "print the results as one JSON document instead of markdown")
    .option("--junit <file>", "also write a JUnit XML report: bit-exactness and the speed and PE-area targets as test cases, for CI systems")
    .action(async (o: { out: string; quick?: boolean; only?: string; sizes?: string; json?: boolean; junit?: string }) => {
      if (!o.out) throw new UserError("--out needs a folder");
      if (o.junit !== undefined) checkFileOutput("--junit", o.junit);
      checkOutputFolder("--out", o.out);
      // Refused now, not after the benchmarks ran: a folder oltron cannot prove is its own.
      claimKeptFolder("--out", o.out, []);
      const only = o.only === undefined ? undefined : o.only.split(",").map((x) => x.trim());
      for (const x of only ?? []) {
        if (!(PERF_SECTIONS as readonly string[]).includes(x)) throw new UserError(`--only: unknown section '${x}'; choose from ${PERF_SECTIONS.join(", ")}`);
      }
      const sizes = o.sizes === undefined ? undefined : o.sizes.split(",").map((x) => Number(x.trim()));
      for (const [i, n] of (sizes ?? []).entries()) {
        if (!(SPEED_SIZES as readonly number[]).includes(n)) throw new UserError(`--sizes: '${o.sizes!.split(",")[i].trim()}' is not one of ${SPEED_SIZES.join(", ")}`);
      }
      const r = await runPerfBench({ out: o.out, quick: o.quick, only: only as PerfSection[] | undefined, sizes });
      if (o.junit !== undefined) writeFileAtomic(o.junit, perfJunitXml(r));
      if (o.json) printJson("bench", r);
      else console.log(perfMarkdown(r));
      process.stderr.write(`wrote ${path.join(o.out, "perf.json")} and perf.md${o.junit !== undefined ? ` and the JUnit report ${o.junit}` : ""}\n`);
    });
  registerAccuracyCommands(bench);
}
