/**
 * The `--json` contract: every command's JSON document, as a script reads it from stdout,
 * validates against its schema in docs/schemas/cli/ (read by ajv, not by oltron's zod), and
 * those files are exactly what the code's schemas generate. Failures print one JSON error
 * object on stdout with a stable code, the option at fault, the value and a hint.
 * (explore and bench accuracy are checked in their own tests, which run them anyway.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { JSON_OUTPUTS, jsonOutputSchemaDocument, type JsonOutputName } from "../src/cli/json-outputs.js";
import { expectJsonOutput, publishedSchema } from "./helpers/contract.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");
const OLTRON = path.join(ROOT, "bin", "oltron.js");
const oltron = (args: string[], env: Record<string, string> = {}) => execa("node", [OLTRON, ...args], { reject: false, all: true, cwd: ROOT, env });

describe("published --json schemas", () => {
  it("docs/schemas/cli/ holds one schema per output, equal to what the code generates", () => {
    const files = fs.readdirSync(path.join(ROOT, "docs", "schemas", "cli")).sort();
    expect(files).toEqual(Object.keys(JSON_OUTPUTS).map((n) => `${n}.schema.json`).sort());
    for (const n of Object.keys(JSON_OUTPUTS) as JsonOutputName[]) expect(publishedSchema(n), n).toEqual(JSON.parse(JSON.stringify(jsonOutputSchemaDocument(n))));
  });
});

describe("every command's --json output against its schema", () => {
  it("formats, generate, quantize, golden, sim, verify, verify status, plan, report run/registers, bench, cache", async () => {
    const dir = tmpDir("contract");
    for (const t of ["int4", "fp12", "int8", "ovp-flint"]) {
      const r = await oltron(["formats", t, "--json"]);
      expect(r.exitCode, r.all).toBe(0);
      expect(expectJsonOutput("formats", r.stdout).length).toBeGreaterThan(8);
    }
    const design = path.join(dir, "design");
    const g = await oltron(["generate", "--preset", "tiny", "--out", design, "--json"]);
    expect(g.exitCode, g.all).toBe(0);
    expect(expectJsonOutput("generate", g.stdout).project).toContain(`${expectJsonOutput("generate", g.stdout).top.replace(/_top$/, "")}.core`);
    const images = path.join(dir, "images");
    const q = await oltron(["quantize", "--design", design, "--layer", "qkv:6x24x8:fp8", "--out", images, "--golden", "--json"]);
    expect(q.exitCode, q.all).toBe(0);
    expect(expectJsonOutput("quantize", q.stdout).golden.length).toBe(1);
    const gold = await oltron(["golden", "--images", images, "--json"]);
    expect(gold.exitCode, gold.all).toBe(0);
    expect(expectJsonOutput("golden", gold.stdout)[0].name).toBe("L0_qkv");
    const sim = await oltron(["sim", "--design", design, "--images", images, "--json"]);
    expect(sim.exitCode, sim.all).toBe(0);
    expect(expectJsonOutput("sim-result", sim.stdout).pass).toBe(true);
    const run = path.join(dir, "run");
    const v = await oltron(["verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run, "--json"]);
    expect(v.exitCode, v.all).toBe(0);
    expectJsonOutput("sim-result", v.stdout);
    const rr = await oltron(["report", run, "--json"]);
    expect(rr.exitCode, rr.all).toBe(0);
    expect(expectJsonOutput("report-run", rr.stdout).layers.length).toBe(1);
    const regs = await oltron(["report", "registers", "--preset", "tiny", "--json"]);
    expect(regs.exitCode, regs.all).toBe(0);
    expect(expectJsonOutput("report-registers", regs.stdout).errors.length).toBeGreaterThan(10);
    const planned = path.join(dir, "planned");
    const p = await oltron(["verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--layer", "down:4x16x4", "--out", planned, "--plan"]);
    expect(p.exitCode, p.all).toBe(0);
    const st = await oltron(["verify", "status", planned, "--json"]);
    expect(expectJsonOutput("status", st.stdout).states.map((s: { state: string }) => s.state)).toEqual(["pending", "pending"]);
    const plan = await oltron(["plan", "--example", "tiny-llama", "--json"]);
    expect(plan.exitCode, plan.all).toBe(0);
    expect(expectJsonOutput("plan", plan.stdout).entries.length).toBeGreaterThan(0);
    const bench = await oltron(["bench", "--quick", "--only", "golden,generation", "--out", path.join(dir, "bench"), "--json"]);
    expect(bench.exitCode, bench.all).toBe(0);
    expect(expectJsonOutput("bench", bench.stdout).quick).toBe(true);
    // A private cache, so cleaning it touches nothing another test uses.
    const cache = { OLTRON_CACHE: path.join(dir, "cache") };
    const list = await oltron(["cache", "list", "--json"], cache);
    expect(expectJsonOutput("cache-list", list.stdout).entries).toEqual([]);
    const clean = await oltron(["cache", "clean", "--json"], cache);
    expect(expectJsonOutput("cache-clean", clean.stdout).removed).toEqual([]);
  });

  it("report area and report energy (the silicon flow)", async () => {
    const dir = tmpDir("contract-ppa");
    const run = path.join(dir, "run");
    const v = await oltron(["verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run]);
    expect(v.exitCode, v.all).toBe(0);
    const area = await oltron(["report", "area", "--design", path.join(run, "design"), "--json"]);
    expect(area.exitCode, area.all).toBe(0);
    expect(expectJsonOutput("report-area", area.stdout).silicon.totalAreaUm2).toBeGreaterThan(0);
    const energy = await oltron(["report", "energy", run, "--json"]);
    expect(energy.exitCode, energy.all).toBe(0);
    expect(expectJsonOutput("report-energy", energy.stdout).layers[0].energy.totalPj).toBeGreaterThan(0);
  });
});

describe("errors under --json", () => {
  it("are one object on stdout with the code, the option, the value and a hint, and the exit code the README gives", async () => {
    const cases: [string[], number, Record<string, unknown>][] = [
      [["generate", "--rows", "300"], 1, { kind: "bad-input", code: "bad-input", field: "--rows", value: "300", hint: "must be an integer in 2..256" }],
      [["generate", "--rows", "abc"], 1, { kind: "bad-input", code: "invalid-option-value", field: "--rows", value: "abc" }],
      [["sim", "--design", "d", "--images", "i", "--mem-backpressure", "1.5"], 1, { code: "invalid-option-value", field: "--mem-backpressure", value: "1.5" }],
      [["sim", "--design", "d", "--images", "i", "--simulator", "vcs"], 1, { code: "invalid-option-value", field: "--simulator", value: "vcs" }],
      [["generate", "--rowz", "3"], 2, { kind: "usage", code: "unknown-option", field: "--rowz", hint: "did you mean --rows?" }],
      [["sim"], 2, { kind: "usage", code: "missing-option", field: "--design" }],
      [["generat"], 2, { kind: "usage", code: "unknown-command", value: "generat" }],
      [["generate", "--preset", "tiny", "--top-name", "9lives", "--out", path.join(tmpDir("err"), "x")], 1, { code: "bad-input", field: "--top-name", value: "9lives" }],
    ];
    for (const [args, exit, want] of cases) {
      const r = await oltron([...args, "--json"]);
      expect(r.exitCode, args.join(" ")).toBe(exit);
      const doc = expectJsonOutput("error", r.stdout);
      expect(doc.error, args.join(" ")).toMatchObject({ ...want, exitCode: exit });
      expect(r.stdout.trim().split("\n").length).toBe(1);
      // The text stays on stderr, one line and a hint, not the whole help.
      expect(r.stderr.split("\n").length, r.stderr).toBeLessThan(5);
    }
  });
});
