/**
 * The default layers (verify and demo without a layer source) run on every design: a salient
 * type the design lacks is replaced by one it has, so `verify --preset oltron64` (fp8 only)
 * works as the README shows.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LAYERS, layersFromOptions } from "../src/cli/options.js";
import { design } from "./helpers/cosim.js";

const plans = (types: ("fp8" | "fp12")[]) =>
  layersFromOptions({ salientType: "fp8", tokens: 16, wLayout: "kn", seed: 1 }, design({ rows: 4, cols: 4, flexLines: 2, salientTypes: types }))
    .map((l) => l.plan?.salientType);

describe("default layers", () => {
  it("keep their salient types on a design that has them", () => {
    expect(DEFAULT_LAYERS.map((s) => s.split(":")[2])).toEqual(["fp8", "fp12", "fp12"]);
    expect(plans(["fp8", "fp12"])).toEqual(["fp8", "fp12", "fp12"]);
  });

  it("take a salient type the design has when it lacks theirs", () => {
    expect(plans(["fp8"])).toEqual(["fp8", "fp8", "fp8"]);
    expect(plans(["fp12"])).toEqual(["fp12", "fp12", "fp12"]);
  });

  it("a layer naming a type the design lacks is refused before anything is quantized or written, with the next step", async () => {
    const path = await import("node:path");
    const fs = await import("node:fs");
    const { execa } = await import("execa");
    const { tmpDir } = await import("./helpers/cosim.js");
    const out = path.join(tmpDir("types"), "run");
    const r = await execa("node", [path.resolve(__dirname, "..", "bin", "oltron.js"), "verify", "--preset", "oltron64", "--layer", "qkv:64x256x64:fp12", "--out", out], { reject: false, all: true });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("layer(s) L0_qkv (fp12): salient type fp12 is not supported by design r64c64f1_");
    expect(r.stderr).toContain("give the layers fp8 as their salient type, or a design with fp12 (--salient-types fp8,fp12)");
    expect(r.stderr).not.toMatch(/quantiz|generating/);
    expect(fs.existsSync(out)).toBe(false);
    expect(() => layersFromOptions({ layer: ["down:8x32x8:fp12"], tokens: 16, wLayout: "kn", salientType: "fp8", seed: 1 }, design({ rows: 4, cols: 4, flexLines: 2, salientTypes: ["fp8"] }))).toThrow(/L0_down \(fp12\)/);
  });
});
