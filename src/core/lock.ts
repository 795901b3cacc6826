/**
 * A lock on a cache entry or an output folder, shared by processes on one machine or on the
 * nodes of a cluster (docs/cluster.md, "Shared storage"): a folder made atomically (mkdir),
 * holding the owner's host, pid and process start time. The owner touches it every few
 * seconds; a lock is taken over when its owner is known gone (same host: no such pid, or the
 * pid now belongs to a process started at another time), when it holds no owner record a
 * while after it was made, or when it has not been touched for STALE_MS (an owner on another
 * node that died). Every wait is bounded, and its message names the lock file.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UserError } from "./user-error.js";
import { trackTemp } from "./temps.js";

/** A lock untouched this long is stale: its owner touches it every HEARTBEAT_MS. */
export const STALE_MS = 120_000;
const HEARTBEAT_MS = 5_000;
const POLL_MS = 500;
/** A lock folder still without a valid owner record this long after it was made is malformed (its maker writes the record at once). */
const MALFORMED_MS = 10_000;
/** The longest wait for another process's lock when the caller gives no bound. */
export const DEFAULT_WAIT_MS = 4 * 3600_000;

interface Owner {
  host: string;
  pid: number;
  /** The process's start time (field 22 of /proc/<pid>/stat), when the platform has it. */
  start?: string;
}

/** When process `pid` started, in clock ticks since boot (Linux), so a reused pid is told apart. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function readOwner(lock: string): Owner | undefined {
  const read = (f: string) => {
    try {
      return fs.readFileSync(path.join(lock, f), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  const pidText = read("pid");
  if (pidText === undefined || !/^[1-9]\d{0,9}$/.test(pidText)) return undefined;
  const start = read("start");
  // A lock written before hosts were recorded is this machine's.
  return { host: read("host") ?? os.hostname(), pid: Number(pidText), ...(start ? { start } : {}) };
}

function writeOwner(lock: string): void {
  fs.writeFileSync(path.join(lock, "host"), os.hostname());
  const start = processStart(process.pid);
  if (start) fs.writeFileSync(path.join(lock, "start"), start);
  // Written last: a lock with its pid file has its whole record.
  fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
}

/** Milliseconds since the lock or its pid file was last touched (Infinity when gone). */
function idleMs(lock: string): number {
  let t = 0;
  for (const f of [lock, path.join(lock, "pid")]) {
    try {
      t = Math.max(t, fs.statSync(f).mtimeMs);
    } catch {
      // Missing: the other one decides.
    }
  }
  return t === 0 ? Infinity : Date.now() - t;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Why an existing lock may be taken over (its owner is dead here, or it went untouched), or undefined while it is held. */
function staleReason(lock: string): string | undefined {
  const owner = readOwner(lock);
  const idle = idleMs(lock);
  if (owner === undefined) return idle > MALFORMED_MS ? `it holds no valid owner record (pid file missing or not a pid) after ${Math.round(idle / 1000)} s` : undefined;
  if (owner.host === os.hostname()) {
    if (!alive(owner.pid)) return `its owner, pid ${owner.pid}, has exited`;
    const start = processStart(owner.pid);
    if (owner.start !== undefined && start !== undefined) {
      // Known to be the very process that took it: held however long its work keeps the event loop (and the heartbeat) busy.
      if (start === owner.start) return undefined;
      return `pid ${owner.pid} now belongs to another process (started at tick ${start}, the owner at ${owner.start})`;
    }
  }
  return idle > STALE_MS ? `untouched for ${Math.round(idle / 1000)} s` : undefined;
}

function describeOwner(owner: Owner | undefined): string {
  return owner ? `pid ${owner.pid}${owner.host !== os.hostname() ? ` on ${owner.host}` : ""}` : "pid ?";
}

/**
 * One attempt at `lock`, without waiting: the release function when taken (a stale lock is
 * taken over, said through `log`), else who holds it.
 */
export function tryLock(lock: string, log: (line: string) => void): { release: () => void } | { holder: string } {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.mkdirSync(lock);
      const untrack = trackTemp(lock);
      writeOwner(lock);
      const beat = setInterval(() => {
        const now = new Date();
        try {
          fs.utimesSync(path.join(lock, "pid"), now, now);
        } catch {
          // Taken over after a long stall: the release below removes nothing of ours.
        }
      }, HEARTBEAT_MS);
      beat.unref();
      return {
        release: () => {
          clearInterval(beat);
          const o = readOwner(lock);
          if (!o || (o.host === os.hostname() && o.pid === process.pid)) fs.rmSync(lock, { recursive: true, force: true });
          untrack();
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const stale = staleReason(lock);
    if (!stale) return { holder: describeOwner(readOwner(lock)) };
    log(`lock: taking over ${lock} (${stale})`);
    fs.rmSync(lock, { recursive: true, force: true });
  }
  return { holder: describeOwner(readOwner(lock)) };
}

/** Whether `lock` is held by a live owner now. */
export function lockHeld(lock: string): boolean {
  return fs.existsSync(lock) && staleReason(lock) === undefined;
}

/**
 * Takes the lock folder `lock`, waiting for a live owner at most `maxWaitMs`. Returns
 * undefined when, while waiting, `published()` says another process finished the work; else
 * the release function. `what` names the work in the messages.
 */
export async function takeLock(lock: string, published: () => boolean, log: (line: string) => void, what: string, maxWaitMs = DEFAULT_WAIT_MS): Promise<(() => void) | undefined> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    const got = tryLock(lock, log);
    if ("release" in got) return got.release;
    if (published()) return undefined;
    const waited = Date.now() - t0;
    if (waited >= maxWaitMs) {
      throw new UserError(`${what}: waited ${Math.round(waited / 1000)} s for another oltron process (${got.holder}) holding ${lock}; stopped at the wait limit (--max-seconds). If no oltron process is running, remove ${lock}`);
    }
    if (!said) {
      log(`${what}: waiting for another oltron process (${got.holder}) doing the same work (lock ${lock}; taken over if its owner exits or it goes ${STALE_MS / 1000} s untouched; waiting at most ${Math.round(maxWaitMs / 1000)} s)...`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, maxWaitMs - waited))));
  }
}
