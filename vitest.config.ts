import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    globalSetup: ["test/global-setup.ts"],
    // A guard against a hung test only, never a pass/fail criterion: a busy machine (load 13 on
    // 2 cores was seen) must slow the suite down, not fail it. Tests set no timeouts of their own.
    testTimeout: 2_700_000,
    hookTimeout: 2_700_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
