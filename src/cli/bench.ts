/**
 * `oltron bench` (performance) and its `bench accuracy` subcommands.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { perfMarkdown, runPerfBench } from "../bench/perf.js";
import { UserError } from "../core/errors.js";
import { registerAccuracyCommands } from "./accuracy.js";

export function registerBenchCommands(program: Command): void {
  const bench = program
    .command("bench")
    .description("performance benchmark (golden speed, generation speed, co-simulated cycles and utilization, simulation speed); see also 'bench accuracy'")
    .option("--out <dir>", "results folder", "bench/results")
    .option("--quick", "small shapes (a few seconds)")
    .action(async (o: { out: string; quick?: boolean }) => {
      if (!o.out) throw new UserError("--out needs a folder");
      const r = await runPerfBench({ out: o.out, quick: o.quick });
      console.log(perfMarkdown(r));
      console.log(`wrote ${path.join(o.out, "perf.json")} and perf.md`);
    });
  registerAccuracyCommands(bench);
}
