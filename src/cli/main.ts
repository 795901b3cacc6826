/**
 * The `oltron` command line. Commands are thin: parse, call a flow, print. A UserError
 * prints its message and exits 1; anything else is a bug and exits 70 with its stack.
 */
import { badInputDocument, usageErrorDocument, type ErrorDocument } from "./error-json.js";
import { printJson } from "./json-outputs.js";
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
    // A hint, not the whole help: the error (and commander's "did you mean ...?") stays in view.
    .showHelpAfterError("(see 'oltron <command> --help' for its options)")
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
  const hint = (cmd: Command, name: string) => {
    cmd.showHelpAfterError(`(see 'oltron ${name} --help' for its options)`);
    for (const sub of cmd.commands) hint(sub, `${name} ${sub.name()}`);
  };
  for (const cmd of program.commands) hint(cmd, cmd.name());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  installInterruptCleanup((s) => process.stderr.write(`${s}\n`));
  const program = buildProgram();
  // Under --json, stdout carries one JSON document even when the command fails.
  const json = argv.includes("--json");
  const fail = (doc: ErrorDocument) => {
    process.exitCode = doc.error.exitCode;
    if (json) printJson("error", doc, 0);
  };
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) {
        process.exitCode = EXIT.ok;
        return;
      }
      // A value the option's parser or choices refused is bad input (1), like any other bad
      // value; an unknown or missing option or command is bad usage (2).
      const badValue = e.code === "commander.invalidArgument";
      fail(usageErrorDocument(e.code, e.message.replace(/^error: /, ""), badValue ? EXIT.badInput : EXIT.usage, badValue));
      return;
    }
    const user = e instanceof UserError ? e : fileSystemError(e);
    if (user) {
      process.stderr.write(`oltron: error: ${user.message}\n`);
      fail(badInputDocument(user, EXIT.badInput));
      return;
    }
    throw e;
  }
}
