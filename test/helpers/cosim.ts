/**
 * Co-simulation test helpers: build layers from raw codes (any bit pattern, bypassing the
 * quantizer), write them as images, simulate, and read back per-layer outputs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { elaborate, resolveConfig, type ArchConfig, type ElaboratedDesign } from "../../src/hw/design.js";
import { simulateDesign, type SimResult } from "../../src/flows/simulate.js";
import { writeImageDir } from "../../src/flows/quantize.js";
import type { MemoryModel } from "../../src/sim/driver.js";
import type { Simulator } from "../../src/sim/build.js";
import { type QuantizedLayer } from "../../src/quant/quantizer.js";
import { buildImageSet } from "../../src/image/build.js";
import { generateRtl } from "../../src/hw/generate.js";
import { Rng } from "../../src/core/rng.js";
import { tileGeometry } from "../../src/quant/tobe.js";
import { plainGeometry } from "../../src/quant/actquant.js";
import { type SalientKind } from "../../src/core/formats.js";

export function design(cfg: Partial<ArchConfig>): ElaboratedDesign {
  return elaborate(resolveConfig(cfg));
}

// One scratch root per test file, removed after the file's tests (test/setup.ts), pass or
// fail, and when the process exits: runs leave no litter.
let root: string | undefined;
export function tmpDir(tag: string): string {
  if (!root) {
    const r = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-tests-"));
    root = r;
    process.on("exit", () => fs.rmSync(r, { recursive: true, force: true }));
  }
  return fs.mkdtempSync(path.join(root, `${tag}-`));
}

export function removeScratch(): void {
  if (root) fs.rmSync(root, { recursive: true, force: true });
  root = undefined;
}

export interface CodeLayerOpts {
  name?: string;
  m: number;
  k: number;
  n: number;
  type: SalientKind;
  /** Salient channels in the layer (before balancing); default: as many as fit in one tile per tile. */
  salient?: number;
  /** Activation code at (token, padded position, isSalientSlot). */
  act: (r: number, i: number, salient: boolean) => number;
  /** int4 weight code at (padded row, column). */
  wgt: (i: number, j: number) => number;
}

/** A QuantizedLayer made directly from codes: every bit pattern reaches the images. */
export function codeLayer(d: ElaboratedDesign, o: CodeLayerOpts): QuantizedLayer {
  const maxS = o.type === "none" ? 0 : d.maxSalientPerTile[o.type] ?? 0;
  const p = o.salient ?? Math.min(o.k, maxS * Math.ceil(o.k / d.rows));
  const g = tileGeometry(d, o.k, o.type === "none" ? 0 : p, o.type);
  const K = g.paddedK;
  const actCodes = new Uint16Array(o.m * K);
  const wgtCodes = new Uint8Array(K * o.n);
  for (let r = 0; r < o.m; r++) {
    for (let i = 0; i < K; i++) {
      const sal = i % g.tileChannels < g.s;
      actCodes[r * K + i] = o.act(r, i, sal) & (sal ? (g.salientType === "fp8" ? 0xff : 0xfff) : 0xf);
    }
  }
  for (let i = 0; i < K; i++) for (let j = 0; j < o.n; j++) wgtCodes[i * o.n + j] = o.wgt(i, j) & 0xf;
  return {
    name: o.name ?? "L0", m: o.m, k: o.k, n: o.n, plan: { salientType: o.type }, geometry: g,
    actScale: 1, weightScales: new Float64Array(o.n).fill(1), perm: Int32Array.from({ length: K }, (_, i) => (i < o.k ? i : -1)),
    salientSet: [], actCodes, wgtCodes, trueSalient: p,
  };
}

/**
 * A layer of an architecture with its own activation format (int8, OVP) made directly from
 * codes: `act` gives the code at (token, padded position), any bit pattern.
 */
export function formatCodeLayer(
  d: ElaboratedDesign,
  o: { name?: string; m: number; k: number; n: number; format: "int8" | "ovp-int" | "ovp-flint"; act: (r: number, i: number) => number; wgt: (i: number, j: number) => number },
): QuantizedLayer {
  const g = plainGeometry(d, o.k, o.format);
  const K = g.paddedK;
  const mask = o.format === "int8" ? 0xff : 0xf;
  const actCodes = new Uint16Array(o.m * K);
  // Padding channels hold code 0 (a zero of every format), as the quantizer writes them.
  for (let r = 0; r < o.m; r++) for (let i = 0; i < o.k; i++) actCodes[r * K + i] = o.act(r, i) & mask;
  const wgtCodes = new Uint8Array(K * o.n);
  for (let i = 0; i < K; i++) for (let j = 0; j < o.n; j++) wgtCodes[i * o.n + j] = o.wgt(i, j) & 0xf;
  return {
    name: o.name ?? "L0", m: o.m, k: o.k, n: o.n, plan: { salientType: "none" }, geometry: g,
    actScale: 1, weightScales: new Float64Array(o.n).fill(1), perm: Int32Array.from({ length: K }, (_, i) => (i < o.k ? i : -1)),
    salientSet: [], actCodes, wgtCodes, trueSalient: 0,
  };
}

export function randomCodeLayer(d: ElaboratedDesign, rng: Rng, o: Omit<CodeLayerOpts, "act" | "wgt">): QuantizedLayer {
  return codeLayer(d, { ...o, act: () => rng.u32(), wgt: () => rng.u32() });
}

/** Writes the layers as one image folder and co-simulates them; overflow allowed (hardware wraps). */
export async function cosim(
  d: ElaboratedDesign, layers: QuantizedLayer[], simulator: Simulator = "verilator", tag = "run",
  opts: { memory?: MemoryModel; abortAt?: number } = {},
): Promise<SimResult> {
  const dir = tmpDir(tag);
  try {
    writeImageDir(dir, buildImageSet(d, layers, { allowOverflow: true }));
    return await simulateDesign(d, generateRtl(d), dir, { simulator, log: () => {}, ...opts });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Failure text that carries everything needed to reproduce. */
export function explain(r: SimResult, what: string): string {
  return `${what}: status ${r.status}, ${r.mismatches} mismatches, first: ${JSON.stringify(r.firstMismatches.slice(0, 3))}`;
}
