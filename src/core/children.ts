/**
 * Child processes and temporary folders that must not outlive oltron. Every long-running tool
 * (verilator, iverilog, the simulators, yosys) runs under a supervisor (bin/supervise.js) in
 * its own process group: on SIGINT/SIGTERM oltron kills those groups and removes the
 * temporary folders it registered before exiting, and if oltron is killed outright the
 * supervisor notices and kills its group.
 */
import { fileURLToPath } from "node:url";
import { execa, type Options } from "execa";
import { removeTemps, trackTemp } from "./temps.js";

// bin/supervise.js, found the same way from src/core (tests) and dist/core (the package).
const SUPERVISOR = fileURLToPath(new URL("../../bin/supervise.js", import.meta.url));

const groups = new Set<number>();
export { trackTemp };

/** Registers a child that leads its own process group, killed with the others on interrupt. */
export function trackGroup(pid: number): () => void {
  groups.add(pid);
  return () => groups.delete(pid);
}

export interface ChildResult {
  exitCode: number;
  all: string;
  stdout: string;
  /** The wall-clock limit ended it. */
  timedOut: boolean;
  /** The program could not be started (not on PATH, not executable). */
  notStarted: boolean;
}

/** The longest delay a Node timer honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs a command under a supervisor in its own process group. `timeoutSeconds` is a wall-clock
 * limit: the group is killed when it passes. `tmpDir` becomes the command's TMPDIR.
 */
export async function runChild(
  cmd: string, args: string[], opts: { cwd?: string; timeoutSeconds?: number; onStdout?: (chunk: string) => void; tmpDir?: string } = {},
): Promise<ChildResult> {
  // Node's timers hold at most 2^31 - 1 ms (24.8 days) and fire at once beyond it: a longer
  // limit is no limit.
  const timeoutMs = opts.timeoutSeconds ? opts.timeoutSeconds * 1000 : undefined;
  const limited = timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS;
  // tmpDir: the child's temporary files (a compiler's) go into a folder oltron removes with
  // the rest on an interrupt, instead of the shared TMPDIR they would outlive a kill in.
  const execOpts: Options = {
    reject: false, all: true, cwd: opts.cwd, detached: true, ...(limited ? { timeout: timeoutMs, killSignal: "SIGTERM" } : {}),
    ...(opts.tmpDir ? { env: { TMPDIR: opts.tmpDir } } : {}),
  };
  const p = execa(process.execPath, [SUPERVISOR, String(process.pid), cmd, ...args], execOpts);
  if (opts.onStdout) p.stdout?.on("data", (b: Buffer) => opts.onStdout!(b.toString()));
  const pid = p.pid;
  if (pid !== undefined) groups.add(pid);
  try {
    const r = await p;
    const all = String(r.all ?? "");
    return {
      exitCode: r.exitCode ?? -1, all, stdout: String(r.stdout ?? ""), timedOut: !!r.timedOut,
      notStarted: r.exitCode === 127 && all.includes(`oltron: could not start ${cmd}`),
    };
  } finally {
    if (pid !== undefined) groups.delete(pid);
  }
}

/** Kills every supervised group and removes registered temporaries (on interrupt). */
export function cleanupNow(): void {
  for (const g of groups) {
    try {
      process.kill(-g, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  groups.clear();
  removeTemps();
}

let installed = false;
/**
 * SIGINT/SIGTERM: stop children, remove temporaries, exit 130/143. A closed stdout or stderr
 * (oltron piped into `head`) likewise: Node reports it as an EPIPE error instead of a SIGPIPE,
 * which would otherwise end the process without removing its locks and temporary folders;
 * it exits 141, as a process ended by SIGPIPE does. Installed once by the CLI.
 */
export function installInterruptCleanup(log: (s: string) => void): void {
  if (installed) return;
  installed = true;
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    process.on(sig, () => {
      log(`oltron: ${sig}: stopping child processes and removing temporary files`);
      cleanupNow();
      process.exit(code);
    });
  }
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE") throw e;
      cleanupNow();
      process.exit(141);
    });
  }
}
