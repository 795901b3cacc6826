/**
 * Where oltron keeps what it can rebuild (simulator builds, synthesis results): one root,
 * OLTRON_CACHE when set, else the user's cache folder ($XDG_CACHE_HOME/oltron, by default
 * ~/.cache/oltron). Entries are named by content hash; only names of that form are ever
 * removed by `oltron cache clean`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lockHeld } from "./lock.js";

export function cacheRoot(): string {
  if (process.env.OLTRON_CACHE) return path.resolve(process.env.OLTRON_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".cache");
  return path.join(base, "oltron");
}

/** What `cache clean` may remove: oltron's entry names, and leftovers of interrupted builds. */
const OWNED: Record<string, RegExp> = {
  sim: /^(verilator|icarus)-[0-9a-f]{16}(\.lock|\.tmp-[A-Za-z0-9]{6})?$/,
  area: /^[0-9a-f]{16}\.json(\.tmp-\d+)?$/,
  silicon: /^[0-9a-f]{16}(\.json(\.tmp-\d+)?|\.lock)$/,
};

export interface CacheEntry {
  path: string;
  bytes: number;
}

function sizeOf(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((a, n) => a + sizeOf(path.join(p, n)), 0);
}

/** oltron's own entries in the cache (nothing else in the folder is listed). */
export function cacheEntries(): CacheEntry[] {
  const root = cacheRoot();
  const out: CacheEntry[] = [];
  for (const [sub, pattern] of Object.entries(OWNED)) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(root, sub));
    } catch {
      continue;
    }
    for (const n of names.filter((x) => pattern.test(x)).sort()) {
      const p = path.join(root, sub, n);
      out.push({ path: p, bytes: sizeOf(p) });
    }
  }
  return out;
}

/** The lock guarding an entry (its build, its temporaries, its lock itself): `<stem>.lock`. */
function lockOf(entry: string): string {
  const dir = path.dirname(entry);
  const stem = path.basename(entry).replace(/(\.lock|\.tmp-\w+)$/, "").replace(/\.json(\.tmp-\d+)?$/, "");
  return path.join(dir, `${stem}.lock`);
}

/**
 * Removes oltron's entries (and then the folders they leave empty); returns what went and
 * what was kept because another process is building it right now (its lock is held).
 */
export function cleanCache(): { removed: CacheEntry[]; inUse: CacheEntry[] } {
  const removed: CacheEntry[] = [];
  const inUse: CacheEntry[] = [];
  for (const e of cacheEntries()) {
    if (lockHeld(lockOf(e.path))) {
      inUse.push(e);
      continue;
    }
    fs.rmSync(e.path, { recursive: true, force: true });
    removed.push(e);
  }
  const root = cacheRoot();
  for (const sub of Object.keys(OWNED)) {
    try {
      fs.rmdirSync(path.join(root, sub));
    } catch {
      // Not empty (someone else's files) or absent: left alone.
    }
  }
  return { removed, inUse };
}
