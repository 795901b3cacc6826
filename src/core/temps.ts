/**
 * Temporary paths that must not outlive oltron: registered while in use, removed on an
 * interrupt (core/children.ts). Kept apart from the child-process code so that light modules
 * (locks, the cache) can register temporaries without loading it.
 */
import * as fs from "node:fs";

const temps = new Set<string>();

/** Registers a temporary path to remove on interrupt; returns its unregister function. */
export function trackTemp(p: string): () => void {
  temps.add(p);
  return () => temps.delete(p);
}

/** Removes every registered temporary (on interrupt). */
export function removeTemps(): void {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
  temps.clear();
}
