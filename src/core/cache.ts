/**
 * Where oltron keeps what it can rebuild (simulator builds, synthesis results): one root,
 * overridable with OLTRON_CACHE.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export function cacheRoot(): string {
  return process.env.OLTRON_CACHE ?? path.join(PROJECT_ROOT, ".cache");
}
