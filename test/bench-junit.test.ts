/**
 * `oltron bench --junit`: the benchmark's checks reach a CI system as JUnit test cases. The
 * XML is read back with an independent parser; a missed target must show as a failure.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { XMLParser } from "fast-xml-parser";
import { perfCases, perfJunitXml } from "../src/bench/perf-junit.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");
const parse = (xml: string) => new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "", isArray: (n) => n === "testcase" }).parse(xml);

describe("bench --junit", () => {
  it("writes one test case per measured figure, and the results folder as before", async () => {
    const dir = tmpDir("bench-junit");
    const out = path.join(dir, "results");
    const junit = path.join(dir, "bench.xml");
    const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "bench", "--quick", "--only", "golden,generation", "--out", out, "--junit", junit], { reject: false, all: true, cwd: ROOT });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toContain(`the JUnit report ${junit}`);
    const doc = parse(fs.readFileSync(junit, "utf8"));
    const suite = doc.testsuites.testsuite;
    expect(suite.name).toBe("oltron bench --quick");
    expect(Number(suite.failures)).toBe(0);
    const cases = suite.testcase as { classname: string; name: string; failure?: unknown }[];
    expect(cases.map((c) => c.classname)).toEqual(["oltron.bench.golden", "oltron.bench.generation"]);
    expect(cases[0].name).toBe("GEMM 16x512x512");
    expect(fs.existsSync(path.join(out, "perf.json"))).toBe(true);
  });

  it("a folder given as --junit is refused before any benchmark runs", async () => {
    const dir = tmpDir("bench-junit-bad");
    const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "bench", "--quick", "--only", "golden", "--out", path.join(dir, "results"), "--junit", dir], { reject: false, all: true, cwd: ROOT });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`--junit ${dir}: exists and is not a file`);
    expect(r.stderr).not.toContain("bench: golden");
  });

  it("a layer that is not bit-exact, a missed speed target and a missed PE-area target are failures", () => {
    const mapping = (areaUm2: number) => ({ areaUm2, cells: 1 }) as never;
    const result = {
      generatedAt: "2026-12-06T00:00:00.000Z", machine: { cpus: 2, node: "v20" }, quick: false, golden: undefined, generation: [],
      layers: [
        { design: "d", layer: "qkv", m: 64, k: 4096, n: 4096, salientType: "fp8", salientRatio: 0.045, bitExact: true, wallSeconds: 1, utilization: 0.9, cycles: 10, dram: { bitExact: false, utilization: 0.5, cycles: 20 } },
        { design: "d", layer: "down", m: 64, k: 11008, n: 4096, salientType: "fp8", salientRatio: 0.045, bitExact: true, wallSeconds: 1, utilization: 0.9, cycles: 10, dram: { bitExact: true, utilization: 0.8, cycles: 12 } },
      ],
      simulationSpeed: [{ design: "d", buildSeconds: 3, buildRatio: 1, simCyclesPerSecond: 1000, speedRatio: 0.3, verdict: "speed ratio 0.30 misses the 0.7 target by 0.40 (2.3x too slow)" }],
      peArea: [{ pe: "eff", ratio: 2.5, meetsTarget: false, generated: mapping(250), reference: mapping(100) }],
      pool: undefined,
    } as unknown as Parameters<typeof perfCases>[0];
    const cases = perfCases(result);
    expect(cases.filter((c) => c.failure !== undefined).map((c) => c.section)).toEqual(["layers", "speed", "pe-area"]);
    expect(cases.find((c) => c.section === "layers" && c.failure)!.failure).toContain("DRAM-like memory");
    const doc = parse(perfJunitXml(result));
    expect(Number(doc.testsuites.failures)).toBe(3);
    expect(Number(doc.testsuites.tests)).toBe(4);
    const pe = (doc.testsuites.testsuite.testcase as { name: string; failure?: { message: string } }[]).find((c) => c.name === "eff PE area")!;
    expect(pe.failure!.message).toBe("2.50x its hand-written reference (target at most 1.2x)");
  });
});
