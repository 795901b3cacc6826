/**
 * `oltron cache`: where the build cache lives, what is in it, and cleaning it.
 */
import { printJson } from "./json-outputs.js";
import type { Command } from "commander";
import * as path from "node:path";
import { cacheEntries, cacheRoot, cleanCache } from "../core/cache.js";

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function registerCacheCommands(program: Command): void {
  const cache = program
    .command("cache")
    .description(`the cache of simulator builds and synthesis results (OLTRON_CACHE, else $XDG_CACHE_HOME/oltron or ~/.cache/oltron)`);
  cache
    .command("list")
    .description("list the cache's entries and their sizes")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) => {
      const entries = cacheEntries();
      if (o.json) {
        printJson("cache-list", { root: cacheRoot(), entries });
        return;
      }
      for (const e of entries) console.log(`${mib(e.bytes).padStart(10)}  ${e.path}`);
      console.log(`${entries.length} entries, ${mib(entries.reduce((a, e) => a + e.bytes, 0))} in ${cacheRoot()}`);
    });
  cache
    .command("clean")
    .description("remove every cached build and synthesis result (only oltron's own entries; anything else in the folder stays)")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) => {
      const { removed: gone, inUse } = cleanCache();
      const bytes = gone.reduce((a, e) => a + e.bytes, 0);
      if (o.json) printJson("cache-clean", { root: cacheRoot(), removed: gone.map((e) => e.path), bytes, inUse: inUse.map((e) => e.path) });
      else {
        console.log(`removed ${gone.length} entries (${mib(bytes)}) from ${cacheRoot()}`);
        if (inUse.length) console.log(`kept ${inUse.length} entries another oltron process is building now: ${inUse.map((e) => path.basename(e.path)).join(", ")}`);
      }
    });
}
