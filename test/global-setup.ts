/**
 * Compiles the sources into dist/ once, before any test file runs: the tests that run the
 * `oltron` command (bin/oltron.js runs dist/) then see the current sources, and no test
 * rewrites dist/ while another is reading it.
 */
import * as path from "node:path";
import { execa } from "execa";

export default async function setup(): Promise<void> {
  const root = path.resolve(__dirname, "..");
  const r = await execa("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`tsc failed:\n${r.all}`);
}
