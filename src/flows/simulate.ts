/**
 * Simulating an image folder on a design folder: build (cached), run, compare every layer
 * with the golden model, and the result record the CLI prints and writes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { recordOwned, sha256, writeFileAtomic } from "../core/files.js";
import { GENERATOR_VERSION, type ElaboratedDesign } from "../hw/design.js";
import type { GeneratedRtl } from "../hw/generate.js";
import { Block } from "../image/block.js";
import { loadManifest, type ManifestLayer } from "../image/manifest.js";
import { runEvents, type LayerEvents, type RunEvents } from "./events.js";
import { layerTraffic, type LayerTraffic } from "../image/traffic.js";
import { IDEAL_MEMORY, layerOutput, memAddrBitsFor, runSim, watchdogCycles, type MemoryModel, type RawRun, type RunStatus } from "../sim/driver.js";
import { buildSim, traceFormatOf, type Simulator } from "../sim/build.js";
import { loadDesign, loadRtl } from "./design.js";
import { compareOutputs, runGolden, type Mismatch } from "./golden.js";

export interface SimResult {
  design: string;
  /** The design's architecture (oltron, int4, olive, w4a8). */
  arch: string;
  simulator: Simulator;
  status: RunStatus;
  /** Why the accelerator stopped, when status is "error" (docs/architecture.md, error codes). */
  error?: { code: number; name: string; descriptor: number };
  pass: boolean;
  memory: MemoryModel;
  axi: RawRun["axi"];
  cycles: { total: number; busy: number; stall: number; watchdog: number };
  /** Set when the wall-clock limit (seconds) stopped a hung simulator. */
  wallClockLimit?: number;
  /** The waveform this run wrote (absent when none was asked for or the run ended first). */
  trace?: { file: string; format: "fst" | "vcd"; from: number; to?: number };
  words: { read: number; written: number };
  macs: number;
  utilization: number;
  idealCycles: number;
  build: { key: string; cached: boolean; seconds: number; reason?: string; dir: string };
  wallSeconds: number;
  simCyclesPerSecond: number;
  macsPerSecond: number;
  layers: {
    name: string; m: number; k: number; n: number; salientType: string;
    /** The activation format of the layer's images (tobe, int8, ovp-int, ovp-flint). */
    actFormat: string;
    /** Channels the plan selected as salient (before padding to tiles x S slots). */
    salientChannels: number;
    s: number; tiles: number; minTiles: number; mismatches: number;
    /**
     * The golden model's dequantized output against the float reference X x W (when the images
     * store one): the error of int4 weights and quantized activations together.
     */
    error?: { sqnrDb: number; mse: number };
    /** Memory words this layer reads and writes (image/traffic.ts; their sums are checked against the run's counters). */
    traffic: LayerTraffic;
    /**
     * Measured by the accelerator's per-descriptor statistics (docs/architecture.md, "Cycle
     * counts"): cycles from the previous layer's last issued token to this layer's; absent when
     * the run stopped first or the layer lies beyond the design's statsDepth descriptors.
     */
    cycles?: LayerCycles;
    /** What the layer cost in events (flows/events.ts): MACs per PE kind and mode, decoder modes, RAM and DRAM accesses. */
    events?: LayerEvents;
  }[];
  /** Whole-run RAM accesses and per-stage busy / stalled / idle cycles, from the testbench monitors. */
  events?: RunEvents;
  /** Cycles after the last layer's last token was issued: pipeline drain and final write-back. */
  drainCycles?: number;
  mismatches: number;
  firstMismatches: Mismatch[];
  /** Where this result came from: versions, command line, time, and every input with its sha256. */
  provenance: Provenance;
}

export interface LayerCycles {
  total: number;
  /** Cycles the array was fed one of this layer's token rows: exactly m x tiles x nTiles. */
  busy: number;
  stall: number;
  /** MACs / (PEs x total). */
  utilization: number;
  /** MACs / PEs: the cycles a fully used array would need. */
  ideal: number;
}

/**
 * Per-layer cycles from the per-descriptor statistics: differences of the counters recorded
 * when each descriptor's last token was issued (32-bit, so differences are taken modulo 2^32).
 * The busy figure of each layer must equal its token rows times tiles: a check of the
 * hardware's bookkeeping, not an estimate.
 */
export function layerCycles(d: ElaboratedDesign, man: ReturnType<typeof loadManifest>, run: RawRun): { layers: (LayerCycles | undefined)[]; drain?: number } {
  const st = run.descriptorStats;
  const out: (LayerCycles | undefined)[] = [];
  let last: { issueEnd: number; busy: number } | undefined;
  for (const l of man.layers) {
    const end = l.descriptors.first + l.descriptors.count - 1;
    if (run.status !== "done" || end >= st.length) {
      out.push(undefined);
      continue;
    }
    const prev = l.descriptors.first === 0 ? { issueEnd: 0, busy: 0 } : st[l.descriptors.first - 1];
    const total = (st[end].issueEnd - prev.issueEnd) >>> 0;
    const busy = (st[end].busy - prev.busy) >>> 0;
    const expectBusy = l.m * l.tiles * l.nTiles;
    if (busy !== expectBusy) {
      throw new Error(`layer ${l.name}: the accelerator counted ${busy} busy cycles, its ${l.m} tokens x ${l.tiles} tiles x ${l.nTiles} N-tiles need ${expectBusy}`);
    }
    const macs = l.m * l.k * l.n;
    out.push({ total, busy, stall: total - busy, utilization: total > 0 ? macs / (d.pes.total * total) : 0, ideal: macs / d.pes.total });
    last = st[end];
  }
  const complete = run.status === "done" && st.length === man.descriptorTable.count;
  return { layers: out, ...(complete && last ? { drain: Number((BigInt(run.cyclesTotal) - BigInt(last.issueEnd)) & 0xffffffffn) } : {}) };
}

export interface Provenance {
  oltron: string;
  node: string;
  simulator: { name: Simulator; version: string };
  command: string[];
  cwd: string;
  startedAt: string;
  finishedAt: string;
  inputs: { file: string; sha256: string }[];
  /** RTL simulated as found in the design folder (--allow-edited-rtl): files that differ from the generator's, and extra ones. */
  editedRtl?: { edited: string[]; added: string[] };
  /** The folder of the user's expected outputs the run was compared with (--expected), instead of the golden model's. */
  expectedFrom?: string;
}

export interface SimOptions {
  simulator?: Simulator;
  trace?: { file: string; from?: number; to?: number };
  log?: (s: string) => void;
  /** Skip the comparison (for timing-only runs). */
  compare?: boolean;
  /** The testbench memory (default: one-cycle latency, no stalls). */
  memory?: MemoryModel;
  /** The host aborts the run this many cycles after start. */
  abortAt?: number;
  /** Watchdog override, in cycles. */
  maxCycles?: number;
  /** Wall-clock limit of the simulator run, in seconds (default: derived from the watchdog). */
  maxSeconds?: number;
  /** Build the simulator again even when the cache has a valid build. */
  rebuild?: boolean;
  /** Extra flags for verilator / iverilog, passed as given. */
  buildFlags?: string[];
  /** Verilator model threads. */
  threads?: number;
  /** Files the run was made from (tensors, configuration), recorded with their sha256. */
  inputs?: string[];
  /** Simulate the design folder's RTL as it is, edited or with extra files (--allow-edited-rtl). */
  allowEditedRtl?: boolean;
  /** Compare with the user's own expected outputs, <layer>.expected.hex in this folder, instead of the golden model's (--expected). */
  expectedDir?: string;
}

/** Runs one image folder on one design; compares every layer against the golden model. */
export async function simulate(designDir: string, imagesDir: string, opts: SimOptions = {}): Promise<SimResult> {
  const d = loadDesign(designDir);
  const rtl = loadRtl(designDir, d, { allowEdited: opts.allowEditedRtl });
  if (rtl.edited.length || rtl.added.length) {
    opts.log?.(`sim: warning: co-simulating the design folder's own RTL: ${[...rtl.edited.map((f) => `${f} (edited)`), ...rtl.added.map((f) => `${f} (added)`)].join(", ")}`);
  }
  const r = await simulateDesign(d, rtl, imagesDir, opts);
  return rtl.edited.length || rtl.added.length ? { ...r, provenance: { ...r.provenance, editedRtl: { edited: rtl.edited, added: rtl.added } } } : r;
}

export async function simulateDesign(d: ElaboratedDesign, rtl: GeneratedRtl, imagesDir: string, opts: SimOptions = {}): Promise<SimResult> {
  const startedAt = new Date().toISOString();
  const simulator = opts.simulator ?? "verilator";
  const man = loadManifest(imagesDir);
  if (man.design.hash !== d.hash) {
    throw new UserError(
      `${imagesDir}: images were quantized for design ${man.design.name} (hash ${man.design.hash}), not ${d.name}; re-run 'oltron quantize --design' with this design`,
    );
  }
  const geometry: [string, number, number][] = [
    ["memWordBits", man.design.memWordBits, d.config.memWordBits], ["bufferTokens", man.design.bufferTokens, d.config.bufferTokens],
    ["cols", man.design.cols, d.cols], ["actStrideBits", man.design.actStrideBits, d.act.strideBits],
    ["wgtStrideBits", man.design.wgtStrideBits, d.wgt.strideBits], ["outStrideBits", man.design.outStrideBits, d.out.strideBits],
    ["descriptorWords", man.design.descriptorWords, d.descriptorWords],
  ];
  for (const [what, got, want] of geometry) {
    if (got !== want) throw new UserError(`${imagesDir}/manifest.json: design.${what} is ${got}, but design ${d.name} has ${want}; the manifest was edited`);
  }
  const build = await buildSim(rtl, { simulator, memAddrBits: memAddrBitsFor(man, simulator), trace: opts.trace ? traceFormatOf(opts.trace.file) : undefined, log: opts.log, rebuild: opts.rebuild, extraFlags: opts.buildFlags, threads: opts.threads, maxWaitSeconds: opts.maxSeconds });
  const memory = opts.memory ?? IDEAL_MEMORY;
  const watchdog = opts.maxCycles ?? watchdogCycles(d, man, memory);
  const run = await runSim(build, imagesDir, man, { maxCycles: watchdog, maxSeconds: opts.maxSeconds, trace: opts.trace, log: opts.log, memory, abortAt: opts.abortAt });
  const macs = man.layers.reduce((a, l) => a + l.m * l.k * l.n, 0);
  const layers: SimResult["layers"] = [];
  const firstMismatches: Mismatch[] = [];
  let mismatches = 0;
  const compare = opts.compare !== false && run.status === "done";
  const perLayer = layerCycles(d, man, run);
  const events = runEvents(d, man, run);
  // Recomputed every run (it is fast): a stale or edited expected file is never trusted.
  const golden = compare ? runGolden(imagesDir, man) : [];
  for (const [i, l] of man.layers.entries()) {
    let count = 0;
    if (compare) {
      const actual = layerOutput(run, man, l.name);
      writeFileAtomic(path.join(imagesDir, l.out.file), actual.toHex());
      recordOwned(imagesDir, [l.out.file]);
      const expected = opts.expectedDir ? userExpected(opts.expectedDir, l, man.memWordBits)
        : Block.fromHex(fs.readFileSync(path.join(imagesDir, `${l.name}.expected.hex`), "utf8"), man.memWordBits, `${l.name}.expected.hex`);
      const c = compareOutputs(man, l, expected, actual, 10 - firstMismatches.length);
      count = c.count;
      firstMismatches.push(...c.first);
    }
    mismatches += count;
    layers.push({
      name: l.name, m: l.m, k: l.k, n: l.n, salientType: l.salientType, actFormat: l.actFormat ?? "tobe", salientChannels: l.salientChannels, s: l.s, tiles: l.tiles, minTiles: l.minTiles, mismatches: count,
      ...(golden[i]?.error ? { error: { sqnrDb: golden[i].error!.sqnrDb, mse: golden[i].error!.mse } } : {}),
      traffic: layerTraffic(man, l),
      ...(perLayer.layers[i] ? { cycles: perLayer.layers[i] } : {}),
      ...(events?.layers[i] ? { events: events.layers[i] } : {}),
    });
  }
  if (run.status === "done") {
    // The hardware's counters must agree with the traffic the layout implies, word for word.
    const read = layers.reduce((a, l) => a + l.traffic.read, 0);
    const written = layers.reduce((a, l) => a + l.traffic.written, 0);
    if (read !== run.wordsRead || written !== run.wordsWritten) {
      throw new Error(`traffic mismatch: the run read ${run.wordsRead} and wrote ${run.wordsWritten} words, the layout implies ${read} and ${written}`);
    }
  }
  const total = run.cyclesTotal;
  return {
    design: d.name,
    arch: d.arch,
    simulator,
    status: run.status,
    ...(run.status === "error" ? { error: { code: run.errorCode, name: run.errorName, descriptor: run.errorDescriptor } } : {}),
    memory,
    axi: run.axi,
    pass: run.status === "done" && (!compare || mismatches === 0) && opts.compare !== false,
    cycles: { total, busy: run.cyclesBusy, stall: run.cyclesStall, watchdog },
    ...(run.wallClockLimit !== undefined ? { wallClockLimit: run.wallClockLimit } : {}),
    ...(opts.trace && fs.existsSync(opts.trace.file)
      ? { trace: { file: path.resolve(opts.trace.file), format: traceFormatOf(opts.trace.file), from: opts.trace.from ?? 0, ...(opts.trace.to !== undefined ? { to: opts.trace.to } : {}) } }
      : {}),
    words: { read: run.wordsRead, written: run.wordsWritten },
    macs,
    utilization: total > 0 ? macs / (d.pes.total * total) : 0,
    idealCycles: macs / d.pes.total,
    build: { key: build.key, cached: build.cached, seconds: build.buildSeconds, reason: build.reason, dir: build.dir },
    wallSeconds: run.wallSeconds,
    simCyclesPerSecond: total / Math.max(run.wallSeconds, 1e-9),
    macsPerSecond: macs / Math.max(run.wallSeconds, 1e-9),
    layers,
    ...(perLayer.drain !== undefined ? { drainCycles: perLayer.drain } : {}),
    ...(events ? { events: events.run } : {}),
    mismatches,
    firstMismatches,
    provenance: {
      oltron: GENERATOR_VERSION, node: process.version, simulator: { name: simulator, version: build.version },
      command: ["oltron", ...process.argv.slice(2)], cwd: process.cwd(), startedAt, finishedAt: new Date().toISOString(),
      inputs: [
        path.join(imagesDir, "manifest.json"), ...(opts.inputs ?? []),
        ...(opts.expectedDir && compare ? man.layers.map((l) => path.join(opts.expectedDir!, `${l.name}.expected.hex`)) : []),
      ].map((f) => ({ file: path.resolve(f), sha256: sha256(fs.readFileSync(f)) })),
      ...(opts.expectedDir ? { expectedFrom: path.resolve(opts.expectedDir) } : {}),
    },
  };
}

/** A layer's expected outputs from the user's folder (--expected), in the layout of <layer>.expected.hex. */
function userExpected(dir: string, l: ManifestLayer, wordBits: number): Block {
  const file = path.join(dir, `${l.name}.expected.hex`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new UserError(`--expected ${dir}: no ${l.name}.expected.hex for layer ${l.name} (every layer of the images needs one, in the layout 'oltron golden' writes)`);
  }
  const b = Block.fromHex(text, wordBits, file);
  if (b.words !== l.out.words) throw new UserError(`${file}: ${b.words} words, but layer ${l.name}'s outputs take ${l.out.words} words of ${wordBits} bits`);
  return b;
}

/** Why a run did not finish (status other than done), in words. */
export function whyUnfinished(r: SimResult): string {
  return r.wallClockLimit !== undefined ? `the simulator passed its ${r.wallClockLimit} s wall-clock limit`
    : r.status === "timeout" ? `hang: still busy after ${r.cycles.watchdog} cycles`
    : r.status === "protocol" ? "the accelerator broke the AXI protocol (see the testbench message)"
      : `the accelerator stopped with error ${r.error?.name} (code ${r.error?.code}) at descriptor ${r.error?.descriptor}`;
}

export function summarize(r: SimResult): string {
  const why = whyUnfinished(r);
  const verdict = r.status !== "done" ? `FAIL (${why})`
    : r.pass ? "PASS (bit-exact)" : `FAIL (${r.mismatches} mismatching outputs)`;
  const own = r.provenance.editedRtl ? ` (the design folder's own RTL: ${r.provenance.editedRtl.edited.length} edited, ${r.provenance.editedRtl.added.length} added file(s))` : "";
  return `${verdict}: ${r.design}${own} on ${r.simulator}, ${r.layers.length} layer(s), ${r.macs} MACs in ${r.cycles.total} cycles ` +
    `(ideal ${Math.ceil(r.idealCycles)}), utilization ${(100 * r.utilization).toFixed(1)}%, stalls ${r.cycles.stall}`;
}
