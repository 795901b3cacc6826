#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (built by `make deps`, `npm run build`,
// or `npm pack` before packing). Without it, say so instead of a module-resolution stack trace.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error("oltron: the compiled CLI (dist/cli/main.js) is missing: run 'npm run build' (or 'make deps') in the oltron folder");
  process.exit(70);
}
const { main } = await import(entry.href);
main(process.argv).catch((err) => {
  console.error(`oltron: internal error: ${err && err.stack ? err.stack : err}`);
  process.exit(70);
});
