/**
 * Rotation and TOBE together (no published system has both): a randomised Hadamard rotation
 * first, as QuaRot fuses it (X Q, Q^T W), then TOBE keeps the channels that stay large after
 * the rotation in fp8/fp12 on the hybrid grid, with GPTQ on the rotated weights and per-token
 * scales. The rotated layers co-simulate bit-exact on both simulators, and the plan records
 * the rotation.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");

describe("rotation + TOBE on the hybrid grid", () => {
  for (const simulator of ["verilator", "icarus"] as const) {
    it(`co-simulates bit-exact on ${simulator}: fp8 and fp12 salient channels of rotated layers, GPTQ, per-token scales`, async () => {
      const out = path.join(tmpDir(`rot-tobe-${simulator}`), "run");
      const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "small8", "--rotate", "--seed", "3",
        "--layer", "down:32x96x16:fp12:r0.05", "--layer", "qkv:24x64x16:fp8:r0.05", "--weights", "gptq", "--act-scaling", "token",
        "--weight-model", "heavy", "--simulator", simulator, "--out", out, "--json"], { reject: false, all: true, cwd: ROOT });
      expect(r.exitCode, r.all).toBe(0);
      const res = JSON.parse(r.stdout);
      expect(res.pass).toBe(true);
      expect(res.layers.map((l: { salientType: string }) => l.salientType)).toEqual(["fp12", "fp8"]);
      for (const l of res.layers) expect(l.salientChannels).toBeGreaterThan(0);
      const man = JSON.parse(fs.readFileSync(path.join(out, "images", "manifest.json"), "utf8"));
      // K = 96 is padded to the rotation's 128 channels; the plan says so, with the seed.
      expect(man.layers[0].plan.rotation).toEqual({ kind: "randomized-hadamard", seed: 3, size: 128, originalK: 96 });
      expect(man.layers[0].k).toBe(128);
      expect(man.layers[0].plan.weights).toBe("gptq");
      expect(man.layers[0].plan.scaling).toBe("token");
    });
  }
});
