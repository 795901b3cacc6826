#!/usr/bin/env node
// The supervisor of one child process of oltron (src/core/children.ts). It leads a fresh
// process group, starts the command in it, and kills the whole group (the command and
// everything it started: make, cc1plus, ...) when oltron, its parent, disappears, even by
// SIGKILL, or when it is itself asked to stop. Otherwise it passes the command's exit through.
// Plain JavaScript, so it runs the same from the sources and from an installed package.
//
// argv: <oltron pid> <command> [args...]
import { spawn } from "node:child_process";

const [ppidArg, cmd, ...args] = process.argv.slice(2);
const ppid = Number(ppidArg);
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };

function killGroup() {
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
  process.exit(137);
}

const child = spawn(cmd, args, { stdio: "inherit" });
child.on("error", (e) => {
  process.stderr.write(`oltron: could not start ${cmd}: ${e.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => {
  clearInterval(watch);
  process.exit(code ?? (signal ? 128 + (SIGNALS[signal] ?? 1) : 1));
});
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, killGroup);
const watch = setInterval(() => {
  try {
    process.kill(ppid, 0);
  } catch {
    killGroup();
  }
}, 250);
