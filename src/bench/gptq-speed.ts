/**
 * GPTQ's speed against numpy (docs/bench.md): oltron's gptqInt4 and a numpy
 * implementation of the same algorithm (src/bench/ref/gptq_numpy.py) on the same layer, one
 * after the other in the same run, with seconds per phase and how many codes agree. Target:
 * oltron within 5x of numpy. numpy's BLAS may use every core; oltron uses one, so the ratio
 * is whole-machine numpy against one oltron thread, as a user runs them.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runChild } from "../core/children.js";
import type { Tensor } from "../core/tensor.js";
import { generateLayer, type LayerType } from "../data/synthetic.js";
import { writeNpy } from "../data/tensorio.js";
import { gptqInt4, type GptqPhase } from "../quant/gptq.js";

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "bench", "ref", "gptq_numpy.py");

/** oltron may take at most this many times numpy's seconds. */
export const GPTQ_SPEED_TARGET = 5;

export interface GptqSpeedCase {
  /** The synthetic layer type the activations and weights come from. */
  layer: LayerType;
  /** Calibration tokens. */
  m: number;
  k: number;
  n: number;
}

/**
 * LLaMA-7B's two input widths (q/k/v/o, up and gate take 4096, down takes 11008) at 512
 * calibration tokens (the accuracy bench's default); N = 1024 of the output channels keeps a
 * run to minutes, and N only scales the rounding and update phases linearly.
 */
export const GPTQ_SPEED_CASES: readonly GptqSpeedCase[] = [
  { layer: "qkv", m: 512, k: 4096, n: 1024 },
  { layer: "down", m: 512, k: 11008, n: 1024 },
];
/** Quick: several 128-row blocks and a partial one, in a second or so. */
export const GPTQ_SPEED_QUICK: readonly GptqSpeedCase[] = [
  { layer: "qkv", m: 128, k: 256, n: 64 },
  { layer: "down", m: 128, k: 688, n: 64 },
];

export type GptqPhaseSeconds = Record<GptqPhase, number> & { total: number };

export interface GptqComparison {
  oltron: GptqPhaseSeconds;
  numpy: GptqPhaseSeconds;
  /** oltron total / numpy total. */
  ratio: number;
  /** Fraction of the K x N codes on which the two agree. */
  codesEqual: number;
  percDamp: { oltron: number; numpy: number };
  deadChannels: { oltron: number; numpy: number };
  numpyVersion: string;
  blas: string;
}

export interface GptqSpeedRow extends GptqSpeedCase, GptqComparison {
  meetsTarget: boolean;
}

export interface GptqSpeedBench {
  target: number;
  cpus: number;
  /** os.loadavg() (1, 5, 15 minutes) before and after the section: both sides share the machine with whatever else runs. */
  loadAverage: { before: number[]; after: number[] };
  rows: GptqSpeedRow[];
}

/** Runs gptqInt4 and then the numpy script on the same X [M x K] and W [K x N]. */
export async function gptqAgainstNumpy(x: Tensor, w: Tensor, work: string): Promise<GptqComparison> {
  const [k, n] = w.shape;
  fs.mkdirSync(work, { recursive: true });
  const xFile = path.join(work, "gptq-x.npy");
  const wFile = path.join(work, "gptq-w.npy");
  const codesFile = path.join(work, "gptq-codes.bin");
  // float32 files: the tensors are float32, so both sides read exactly the same numbers.
  writeNpy(xFile, x, "f4");
  writeNpy(wFile, w, "f4");

  const phases: Partial<Record<GptqPhase, number>> = {};
  const t0 = performance.now();
  const r = gptqInt4(x, w, { onPhase: (p, s) => (phases[p] = s) });
  const total = (performance.now() - t0) / 1000;
  const oltron: GptqPhaseSeconds = { hessian: phases.hessian ?? 0, factor: phases.factor ?? 0, update: phases.update ?? 0, total };

  const py = await runChild("python3", [SCRIPT, xFile, wFile, codesFile], { tmpDir: work });
  if (py.notStarted) throw new Error("bench: python3 is not on PATH (`make deps` installs it with python3-numpy)");
  if (py.exitCode !== 0) throw new Error(`bench: ${path.basename(SCRIPT)} failed:\n${py.all.slice(-2000)}`);
  const line = py.stdout.trim().split("\n").pop() ?? "";
  const out = JSON.parse(line) as { seconds: GptqPhaseSeconds; percDamp: number; deadChannels: number; numpy: string; blas: string };
  const raw = fs.readFileSync(codesFile);
  const codes = new Int8Array(raw.buffer, raw.byteOffset, raw.length);
  if (codes.length !== k * n) throw new Error(`bench: ${path.basename(SCRIPT)} wrote ${codes.length} codes, expected ${k * n}`);
  let equal = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i] === r.wq[i]) equal++;
  for (const f of [xFile, wFile, codesFile]) fs.rmSync(f, { force: true });
  return {
    oltron, numpy: out.seconds, ratio: oltron.total / out.seconds.total, codesEqual: equal / codes.length,
    percDamp: { oltron: r.percDamp, numpy: out.percDamp }, deadChannels: { oltron: r.deadChannels, numpy: out.deadChannels },
    numpyVersion: out.numpy, blas: out.blas,
  };
}

export async function benchGptq(work: string, quick: boolean, log: (s: string) => void): Promise<GptqSpeedBench> {
  const before = os.loadavg();
  const rows: GptqSpeedRow[] = [];
  for (const c of quick ? GPTQ_SPEED_QUICK : GPTQ_SPEED_CASES) {
    log(`bench: GPTQ K=${c.k} N=${c.n} M=${c.m}, oltron then numpy...`);
    const g = generateLayer({ type: c.layer, m: c.m, k: c.k, n: c.n, seed: 1 });
    const r = await gptqAgainstNumpy(g.x, g.w, path.join(work, "gptq"));
    log(`bench:   oltron ${r.oltron.total.toFixed(1)} s, numpy ${r.numpy.total.toFixed(1)} s (${r.ratio.toFixed(2)}x), ${(100 * r.codesEqual).toFixed(3)}% of codes equal`);
    rows.push({ ...c, ...r, meetsTarget: r.ratio <= GPTQ_SPEED_TARGET });
  }
  return { target: GPTQ_SPEED_TARGET, cpus: os.cpus().length, loadAverage: { before, after: os.loadavg() }, rows };
}

export function gptqSpeedMarkdown(b: GptqSpeedBench): string {
  const s = (p: GptqPhaseSeconds) => `${p.total.toFixed(2)} (${p.hessian.toFixed(2)} / ${p.factor.toFixed(2)} / ${p.update.toFixed(2)})`;
  const lib = b.rows[0] ? `numpy ${b.rows[0].numpyVersion}, BLAS ${b.rows[0].blas}` : "numpy";
  return [
    "## GPTQ against numpy (the same algorithm on the same layer)",
    "",
    `oltron's gptqInt4 (TypeScript, one thread) and src/bench/ref/gptq_numpy.py (${lib}, free to use all ${b.cpus} cores), one after the other on the same synthetic layer. Seconds in total and per phase (X^T X / Cholesky and inverse factor / rounding and lazy-batch update). Target: oltron within ${b.target}x of numpy. Load average ${b.loadAverage.before.map((v) => v.toFixed(1)).join(" / ")} before, ${b.loadAverage.after.map((v) => v.toFixed(1)).join(" / ")} after.`,
    "",
    "| K | N | M | oltron s (phases) | numpy s (phases) | oltron / numpy | codes equal | verdict |",
    "|---|---|---|---|---|---|---|---|",
    ...b.rows.map((r) => `| ${r.k} | ${r.n} | ${r.m} | ${s(r.oltron)} | ${s(r.numpy)} | ${r.ratio.toFixed(2)} | ${(100 * r.codesEqual).toFixed(3)}% | ${r.meetsTarget ? "meets" : "MISSES"} |`),
    "",
  ].join("\n");
}
