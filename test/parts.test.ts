/**
 * Designs described by their parts (config key `parts`, flags --grid/--decoder): each
 * composition the parts build resolves to the same design as its architecture's flags, every
 * other composition is refused with a message naming the bad part. A composition is the
 * same design (same hash) as its architecture's flags, so the co-simulation of every design it
 * can name (the all-flexible grid included: cosim.test.ts, axi.test.ts) covers it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { UserError } from "../src/core/errors.js";
import { elaborate, resolveConfig, type DesignInput } from "../src/hw/design.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");
const cli = (...args: string[]) => execa("node", [path.join(ROOT, "bin", "oltron.js"), ...args], { reject: false, cwd: ROOT, all: true });

const named = (partial: DesignInput, preset = "default") => elaborate(resolveConfig(partial, preset)).name;

function refusal(partial: DesignInput): string {
  try {
    elaborate(resolveConfig(partial));
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(partial)}`);
}

describe("parts compositions", () => {
  it("resolve to the designs the architecture flags give, hash included", () => {
    // Each pair: the parts, then the same accelerator by architecture name and sizes.
    const pairs: [DesignInput, DesignInput][] = [
      [{ parts: { grid: [{ pe: "eff", rows: 14 }, { pe: "flex", rows: 2 }] } }, {}],
      [{ parts: { decoder: "tobe", grid: [{ pe: "eff", rows: 14 }, { pe: "flex", rows: 2 }] } }, { arch: "oltron", rows: 16, flexLines: 2 }],
      [{ parts: { grid: [{ pe: "eff", rows: 16 }] } }, { arch: "int4" }],
      [{ parts: { decoder: "ovp", grid: [{ pe: "ovp", rows: 16 }] } }, { arch: "olive" }],
      [{ parts: { grid: [{ pe: "w4a8", rows: 16 }] } }, { arch: "w4a8" }],
      [{ parts: { grid: [{ pe: "flex", rows: 4 }] }, cols: 8 }, { rows: 4, cols: 8, flexLines: 4 }],
      [{ parts: { grid: [{ pe: "eff", rows: 31 }, { pe: "flex", rows: 1 }] }, salientTypes: ["fp8"] }, { rows: 32, flexLines: 1, salientTypes: ["fp8"] }],
    ];
    for (const [parts, flags] of pairs) expect(named(parts), JSON.stringify(parts)).toBe(named(flags));
    expect(named({ parts: { grid: [{ pe: "ovp", rows: 64 }] } }, "olive-64x64")).toBe(named({}, "olive-64x64"));
    expect(named({ parts: { grid: [{ pe: "ovp", rows: 64 }] } }, "oltron64")).toBe(named({}, "olive-64x64"));
  });

  it("record the grid they were given", () => {
    const d = elaborate(resolveConfig({ parts: { grid: [{ pe: "eff", rows: 12 }, { pe: "flex", rows: 4 }] } }));
    expect(d.grid).toEqual([{ pe: "eff", rows: 12 }, { pe: "flex", rows: 4 }]);
    expect(d.decoder).toBe("tobe");
    expect(d.arch).toBe("oltron");
  });

  it("refuse every composition the parts do not build, naming the part", () => {
    expect(refusal({ parts: { grid: [{ pe: "flex", rows: 2 }, { pe: "eff", rows: 14 }] } })).toMatch(/flex row group must come last/);
    expect(refusal({ parts: { grid: [{ pe: "ovp", rows: 8 }, { pe: "eff", rows: 8 }] } })).toMatch(/PE kind eff .* takes the operand of decoder tobe, not decoder ovp/);
    expect(refusal({ parts: { grid: [{ pe: "ovp", rows: 14 }, { pe: "flex", rows: 2 }] } })).toMatch(/PE kind flex .* not decoder ovp; the parts build these grids/);
    expect(refusal({ parts: { decoder: "none", grid: [{ pe: "eff", rows: 16 }] } })).toMatch(/PE kind eff .* not decoder none/);
    expect(refusal({ parts: { grid: [{ pe: "eff", rows: 8 }, { pe: "eff", rows: 8 }] } })).toMatch(/PE kind eff appears in two row groups/);
    expect(refusal({ parts: { grid: [{ pe: "int2", rows: 8 }] } })).toMatch(/invalid parts.grid\[0\].pe = "int2": expected one of eff, flex/);
    expect(refusal({ parts: { grid: [{ pe: "eff", rows: 0 }] } })).toMatch(/invalid parts.grid\[0\].rows = 0: must be an integer in 1..256/);
    expect(refusal({ parts: { grid: [] } })).toMatch(/invalid parts.grid = \[\]: expected a non-empty list/);
    expect(refusal({ parts: { decoder: "tobe2", grid: [{ pe: "eff", rows: 8 }] } })).toMatch(/invalid parts.decoder = "tobe2": expected one of tobe, ovp, none/);
    expect(refusal({ parts: { grid: [{ pe: "eff", rows: 8 }], extra: 1 } })).toMatch(/unknown key 'extra' in parts/);
    expect(refusal({ parts: { grid: [{ pe: "eff", rows: 16 }] }, rows: 16 })).toMatch(/parts fix arch, rows and flexLines, so rows \(--rows\) cannot be given/);
    expect(refusal({ parts: { grid: [{ pe: "eff", rows: 16 }] }, arch: "int4" })).toMatch(/arch \(--arch\) cannot be given/);
    // Rules of the architecture a composition resolves to still apply.
    expect(refusal({ parts: { grid: [{ pe: "ovp", rows: 15 }] } })).toMatch(/invalid rows \(--rows\) = 15 for arch olive: must be an even number/);
    expect(refusal({ parts: { grid: [{ pe: "eff", rows: 15 }, { pe: "flex", rows: 1 }] } })).toMatch(/fp12 needs flexLines \(--flex-lines\) >= 2/);
  });
});

describe("parts on the command line", () => {
  it("--grid, --decoder and a YAML parts file give the architecture's design; bad groups exit 1 with the group named", async () => {
    const dir = tmpDir("parts-cli");
    const byGrid = await cli("generate", "--grid", "ovp:32", "--decoder", "ovp", "--cols", "32", "--mem-word-bits", "512", "--out", path.join(dir, "a"), "--json");
    expect(byGrid.exitCode, byGrid.all).toBe(0);
    const yaml = path.join(dir, "olive.yaml");
    fs.writeFileSync(yaml, "parts:\n  decoder: ovp\n  grid:\n    - { pe: ovp, rows: 32 }\ncols: 32\nmemWordBits: 512\n");
    const byFile = await cli("generate", "--config", yaml, "--out", path.join(dir, "b"), "--json");
    expect(byFile.exitCode, byFile.all).toBe(0);
    const expected = elaborate(resolveConfig({}, "olive-32x32")).name;
    expect(JSON.parse(byGrid.stdout).design).toBe(expected);
    expect(JSON.parse(byFile.stdout).design).toBe(expected);
    const designJson = JSON.parse(fs.readFileSync(path.join(dir, "b", "design.json"), "utf8"));
    expect(designJson.grid).toEqual([{ pe: "ovp", rows: 32 }]);

    for (const [args, msg] of [
      [["--grid", "eff:x"], /invalid --grid group 'eff:x': rows = 'x' must be an integer in 1..256/],
      [["--grid", "eff14"], /invalid --grid group 'eff14': expected <pe>:<rows>/],
      [["--decoder", "ovp"], /--decoder needs --grid/],
      [["--grid", "eff:14,flex:2", "--rows", "16"], /--grid\/--decoder: parts fix arch, rows and flexLines/],
      [["--config", yaml, "--grid", "eff:14,flex:2"], /olive.yaml with --grid\/--decoder: invalid combination: PE kind eff .* not decoder ovp/],
    ] as [string[], RegExp][]) {
      const out = path.join(dir, `bad-${args.join("_").replace(/[^a-z0-9]/gi, "")}`);
      const r = await cli("generate", ...args, "--out", out);
      expect(r.exitCode, r.all).toBe(1);
      expect(r.all).toMatch(msg);
      expect(r.all).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(out)).toBe(false);
    }
  });
});
