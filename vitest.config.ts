import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Verilator builds are shared through an on-disk cache; long simulations need room.
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
