#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (built by `make deps` / `npm run build`).
import { main } from "../dist/cli/main.js";
main(process.argv).catch((err) => {
  console.error(`oltron: internal error: ${err && err.stack ? err.stack : err}`);
  process.exit(70);
});
