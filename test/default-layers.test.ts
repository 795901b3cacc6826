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
});
