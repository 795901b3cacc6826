/**
 * A lock on a cache entry shared by processes on one machine or on the nodes of a cluster
 * (docs/cluster.md, "Shared storage"): a folder made atomically (mkdir), holding the owner's
 * host and pid. The owner touches it every few seconds; a lock is taken over when its owner
 * is known dead (same host, no such pid) or when it has not been touched for STALE_MS (an
 * owner on another node that died, a pid reused by an unrelated process, or a lock left
 * without an owner record), so a waiter never waits for ever.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trackTemp } from "./temps.js";

/** A lock untouched this long is stale: its owner touches it every HEARTBEAT_MS. */
export const STALE_MS = 120_000;
const HEARTBEAT_MS = 5_000;
const POLL_MS = 500;

interface Owner {
  host: string;
  pid: number;
}

function readOwner(lock: string): Owner | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(lock, "pid"), "utf8"));
    let host = os.hostname();
    try {
      host = fs.readFileSync(path.join(lock, "host"), "utf8").trim();
    } catch {
      // A lock written before hosts were recorded: this machine's.
    }
    return Number.isInteger(pid) && pid > 0 ? { host, pid } : undefined;
  } catch {
    return undefined;
  }
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
  if (owner !== undefined && owner.host === os.hostname() && !alive(owner.pid)) return `its owner, pid ${owner.pid}, has exited`;
  const idle = idleMs(lock);
  return idle > STALE_MS ? `untouched for ${Math.round(idle / 1000)} s` : undefined;
}

/** Whether `lock` is held by a live owner now. */
export function lockHeld(lock: string): boolean {
  return fs.existsSync(lock) && staleReason(lock) === undefined;
}

/**
 * Takes the lock folder `lock`. Returns undefined when, while waiting, `published()` says
 * another process finished the work; else the release function. `what` names the work in
 * the waiting message.
 */
export async function takeLock(lock: string, published: () => boolean, log: (line: string) => void, what: string): Promise<(() => void) | undefined> {
  let said = false;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      const untrack = trackTemp(lock);
      fs.writeFileSync(path.join(lock, "host"), os.hostname());
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      const beat = setInterval(() => {
        const now = new Date();
        try {
          fs.utimesSync(path.join(lock, "pid"), now, now);
        } catch {
          // Taken over after a long stall: the release below removes nothing of ours.
        }
      }, HEARTBEAT_MS);
      beat.unref();
      return () => {
        clearInterval(beat);
        const o = readOwner(lock);
        if (!o || (o.host === os.hostname() && o.pid === process.pid)) fs.rmSync(lock, { recursive: true, force: true });
        untrack();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (published()) return undefined;
    const stale = staleReason(lock);
    if (stale) {
      log(`lock: taking over ${lock} (${stale})`);
      fs.rmSync(lock, { recursive: true, force: true });
      continue;
    }
    const owner = readOwner(lock);
    if (!said) {
      const who = owner ? `pid ${owner.pid}${owner.host !== os.hostname() ? ` on ${owner.host}` : ""}` : "pid ?";
      log(`${what}: waiting for another oltron process (${who}) doing the same work (lock ${lock}; taken over if its owner exits or it goes ${STALE_MS / 1000} s untouched)...`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
