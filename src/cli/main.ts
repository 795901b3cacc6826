/**
 * The `oltron` command line. Commands are thin: parse, call a flow, print. A UserError
 * prints its message and exits 1; anything else is a bug and exits 70 with its stack.
 */
import { Command, CommanderError } from "commander";
import { installInterruptCleanup } from "../core/children.js";
import { EXIT, fileSystemError, UserError } from "../core/errors.js";
import { GENERATOR_VERSION } from "../hw/design.js";
import { registerBenchCommands } from "./bench.js";
import { registerCacheCommands } from "./cache.js";
import { registerDesignCommands, registerReportCommands } from "./design.js";
import { registerExploreCommand } from "./explore.js";
import { registerPlanCommand } from "./plan.js";
import { setVerbosity } from "./options.js";
import { registerRunCommands } from "./run.js";

export function buildProgram(): Command {
  const program = new Command("oltron")
    .description("Open hardware generator for Oltron-style outlier-aware LLM accelerators")
    .version(GENERATOR_VERSION)
    .showHelpAfterError()
    .option("-q, --quiet", "print results, warnings and errors only (no progress)")
    .option("--verbose", "also print details: build reasons and folders, simulator commands")
    .exitOverride();
  program.hook("preAction", () => {
    const g = program.opts<{ quiet?: boolean; verbose?: boolean }>();
    if (g.quiet && g.verbose) throw new UserError("--quiet and --verbose contradict each other: give one");
    setVerbosity(g.quiet ? "quiet" : g.verbose ? "verbose" : "normal");
  });
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });

  registerDesignCommands(program);
  registerRunCommands(program);
  registerReportCommands(program);
  registerExploreCommand(program);
  registerPlanCommand(program);
  registerBenchCommands(program);
  registerCacheCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  installInterruptCleanup((s) => process.stderr.write(`${s}\n`));
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const user = e instanceof UserError ? e : fileSystemError(e);
    if (user) {
      process.stderr.write(`oltron: error: ${user.message}\n`);
      process.exitCode = EXIT.badInput;
      return;
    }
    throw e;
  }
}
