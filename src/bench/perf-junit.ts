/**
 * `oltron bench --junit`: the performance benchmark's checks as JUnit test cases. Bit-exact
 * co-simulation and the stated targets (simulation speed against the bare array, PE area
 * against the hand-written references) pass or fail; the other figures pass and carry their
 * values, so a CI system lists everything measured.
 */
import { escapeXml } from "../core/xml.js";
import type { runPerfBench } from "./perf.js";
import { GPTQ_SPEED_TARGET } from "./gptq-speed.js";

type PerfResult = Awaited<ReturnType<typeof runPerfBench>>;

export function perfCases(r: PerfResult): BenchCase[] {
  const cases: BenchCase[] = [];
  if (r.golden) {
    cases.push({ section: "golden", name: `GEMM ${r.golden.shape.join("x")}`, seconds: r.golden.seconds, out: `${(r.golden.macsPerSecond / 1e6).toFixed(1)} M MAC/s` });
  }
  for (const g of r.generation) cases.push({ section: "generation", name: g.design, seconds: g.seconds, out: `RTL generated in ${(g.seconds * 1000).toFixed(1)} ms` });
  for (const l of r.layers) {
    const bad = [!l.bitExact && "ideal memory", !l.dram.bitExact && "DRAM-like memory"].filter(Boolean);
    cases.push({
      section: "layers",
      name: `${l.design} ${l.layer} M=${l.m} K=${l.k} N=${l.n} ${l.salientType} r=${l.salientRatio}`,
      seconds: l.wallSeconds,
      failure: bad.length ? `outputs differ from the golden model under ${bad.join(" and ")}` : undefined,
      out: `utilization ${(100 * l.utilization).toFixed(1)}% (ideal memory), ${(100 * l.dram.utilization).toFixed(1)}% (DRAM-like); ${l.cycles} cycles`,
    });
  }
  for (const s of r.simulationSpeed) {
    const met = s.verdict === "meets the target" || s.verdict === "no target at this size";
    cases.push({
      section: "speed", name: `${s.design} simulation speed`, seconds: s.buildSeconds,
      failure: met ? undefined : s.verdict,
      out: `${Math.round(s.simCyclesPerSecond)} cycles/s, ${s.speedRatio.toFixed(2)}x the bare array; build ${s.buildSeconds.toFixed(1)} s (${s.buildRatio.toFixed(2)}x); ${s.verdict}`,
    });
  }
  for (const p of r.peArea) {
    cases.push({
      section: "pe-area", name: `${p.pe} PE area`,
      failure: p.meetsTarget ? undefined : `${p.ratio.toFixed(2)}x its hand-written reference (target at most 1.2x)`,
      out: `${p.generated.areaUm2.toFixed(0)} um^2 against ${p.reference.areaUm2.toFixed(0)} um^2 (${p.ratio.toFixed(2)}x)`,
    });
  }
  for (const g of r.gptq?.rows ?? []) {
    const bad = [g.ratio > GPTQ_SPEED_TARGET && `${g.ratio.toFixed(2)}x numpy's time (target at most ${GPTQ_SPEED_TARGET}x)`, g.codesEqual < 0.999 && `only ${(100 * g.codesEqual).toFixed(3)}% of the codes equal numpy's`].filter(Boolean);
    cases.push({
      section: "gptq", name: `GPTQ K=${g.k} N=${g.n}`, seconds: g.oltron.total,
      failure: bad.length ? bad.join("; ") : undefined,
      out: `oltron ${g.oltron.total.toFixed(1)} s, numpy ${g.numpy.total.toFixed(1)} s (${g.ratio.toFixed(2)}x), ${(100 * g.codesEqual).toFixed(3)}% of codes equal`,
    });
  }
  if (r.pool) cases.push({ section: "pool", name: `worker pool, ${r.pool.workers} workers`, seconds: r.pool.medianOne + r.pool.medianMany, out: `speed-up ${r.pool.speedup.toFixed(2)}x over one worker` });
  return cases;
}

/** One check of a benchmark: passed, or failed with why. */
export interface BenchCase {
  /** Section of the benchmark (the JUnit class name). */
  section: string;
  name: string;
  seconds?: number;
  /** Undefined when the check passed. */
  failure?: string;
  out: string;
}

/**
 * A benchmark run as JUnit XML: every figure with a target or a correctness check is a test
 * case (bit-exact co-simulation, the simulation-speed and PE-area targets), so a CI system
 * shows a regression as a failed test; figures without a target are passing cases carrying
 * their values, so the report lists everything that was measured.
 */
export function benchJunitXml(cases: BenchCase[], suiteName: string, startedAt: string): string {
  const failures = cases.filter((c) => c.failure !== undefined).length;
  const total = cases.reduce((s, c) => s + (c.seconds ?? 0), 0).toFixed(3);
  const body = cases.map((c) => {
    const fail = c.failure !== undefined ? `      <failure type="target" message="${escapeXml(c.failure)}"/>\n` : "";
    return `    <testcase classname="${escapeXml(`oltron.bench.${c.section}`)}" name="${escapeXml(c.name)}" time="${(c.seconds ?? 0).toFixed(3)}">\n${fail}      <system-out>${escapeXml(c.out)}</system-out>\n    </testcase>\n`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="oltron" tests="${cases.length}" failures="${failures}" errors="0" time="${total}">\n` +
    `  <testsuite name="${escapeXml(suiteName)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="0" time="${total}" timestamp="${escapeXml(startedAt)}">\n` +
    body.join("") +
    `  </testsuite>\n</testsuites>\n`;
}

export function perfJunitXml(r: PerfResult): string {
  return benchJunitXml(perfCases(r), `oltron bench${r.quick ? " --quick" : ""}`, r.generatedAt);
}
