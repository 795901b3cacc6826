/**
 * Simulation driver: assembles the memory image from an image folder, runs a simulator build
 * (./build.ts) over it, and reads the dumps back. The testbench sees only files and plusargs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runChild, trackTemp } from "../core/children.js";
import { progress } from "../core/console.js";
import { UserError } from "../core/errors.js";
import type { ElaboratedDesign } from "../hw/design.js";
import { Block, readImage } from "../image/block.js";
import { sha256 } from "../core/files.js";
import type { ArrayCounts } from "../image/activity.js";
import type { Manifest } from "../image/manifest.js";
import { traceFormatOf, type SimBuild, type Simulator } from "./build.js";
import { errorName } from "../hw/registers.js";

/**
 * Verilator testbench memory in bytes: one generous size, so a different image size never
 * forces a rebuild (only images beyond it do). Its pages are touched when the model zeroes
 * them at start, which costs tens of milliseconds per run.
 */
export const VERILATOR_MEMORY_BYTES = 2 ** 28;

/**
 * Testbench memory depth (log2 words) for an image set. Verilator builds take the generous
 * fixed depth (VERILATOR_MEMORY_BYTES) and grow only for images beyond it; Icarus builds,
 * which compile in a second but allocate their memory slowly, take the smallest depth of at
 * least 2^16 words.
 */
export function memAddrBitsFor(man: Manifest, simulator: Simulator = "verilator"): number {
  let b = simulator === "verilator" ? Math.log2(VERILATOR_MEMORY_BYTES / (man.memWordBits / 8)) : 16;
  while (2 ** b < man.memoryWords) b++;
  return b;
}

/** One $readmemh file holding every input image at its offset. */
export function assembleMemoryImage(dir: string, man: Manifest): string {
  const W = man.memWordBits;
  const parts: string[] = [];
  const add = (file: string, offset: number, sha: string, words: number) => {
    readImage(dir, file, sha, W, words); // verifies sha256 and word count
    parts.push(`@${offset.toString(16)}\n`);
    parts.push(fs.readFileSync(path.join(dir, file), "utf8"));
  };
  const t = man.descriptorTable;
  add(t.file, t.offset, t.sha256, t.words);
  for (const l of man.layers) {
    add(l.act.file, l.act.offset, l.act.sha256, l.act.words);
    add(l.wgt.file, l.wgt.offset, l.wgt.sha256, l.wgt.words);
  }
  return parts.join("");
}

/**
 * The testbench's AXI4 memory (templates/tb.v.hbs, docs/architecture.md "Testbench memory").
 * Latencies in cycles (>= 1), from the address handshake to the first data beat (reads) or
 * from the last data beat to the response (writes), drawn per burst in [min, max].
 */
export interface MemoryModel {
  seed: number;
  readLatency: [number, number];
  writeLatency: [number, number];
  /** Chance, per cycle, that a channel stalls (AR/AW/W: not ready; R/B: no beat offered), 0..1. */
  backpressure: { ar: number; r: number; aw: number; w: number; b: number };
  /** Read bursts of different IDs may complete out of order and interleave. */
  reorder: boolean;
  /** Cap on R plus W beats per cycle, (0, 1]; undefined = one R and one W beat per cycle. */
  bandwidth?: number;
  /** Answer the n-th read burst (1-based) with SLVERR: an error-path test. */
  slverrAt?: number;
  /**
   * Illegal slave behaviour, an error-path test: the n-th read burst's beats carry an ID no
   * burst has (rid), lack RLAST (no-rlast) or carry it on every beat (early-rlast); or the n-th
   * write response carries an ID no burst has (bid).
   */
  fault?: { kind: MemoryFault; at: number };
}

export type MemoryFault = "rid" | "no-rlast" | "early-rlast" | "bid";
export const MEMORY_FAULTS: readonly MemoryFault[] = ["rid", "no-rlast", "early-rlast", "bid"];

export const IDEAL_MEMORY: MemoryModel = {
  seed: 1, readLatency: [1, 1], writeLatency: [1, 1], backpressure: { ar: 0, r: 0, aw: 0, w: 0, b: 0 }, reorder: false,
};

export function memoryPlusargs(m: MemoryModel): string[] {
  const pm = (p: number) => String(Math.round(p * 1000));
  const args = [
    `+seed=${m.seed}`, `+rd_lat_min=${m.readLatency[0]}`, `+rd_lat_max=${m.readLatency[1]}`,
    `+wr_lat_min=${m.writeLatency[0]}`, `+wr_lat_max=${m.writeLatency[1]}`,
    `+bp_ar=${pm(m.backpressure.ar)}`, `+bp_r=${pm(m.backpressure.r)}`, `+bp_aw=${pm(m.backpressure.aw)}`,
    `+bp_w=${pm(m.backpressure.w)}`, `+bp_b=${pm(m.backpressure.b)}`, `+reorder=${m.reorder ? 1 : 0}`,
  ];
  if (m.bandwidth !== undefined) args.push(`+bw=${Math.max(1, Math.round(m.bandwidth * 1000))}`);
  if (m.slverrAt !== undefined) args.push(`+slverr_at=${m.slverrAt}`);
  if (m.fault) args.push(`+fault=${MEMORY_FAULTS.indexOf(m.fault.kind) + 1}`, `+fault_at=${m.fault.at}`);
  return args;
}

export interface RunOptions {
  maxCycles: number;
  memory?: MemoryModel;
  /** The host aborts the run this many cycles after start. */
  abortAt?: number;
  /** DESC_BASE as a raw byte address (default: the descriptor table's word offset x word bytes). */
  descBaseBytes?: number;
  /** DESC_LIMIT for the run (0: no limit, the reset value). */
  descLimit?: number;
  /** Waveform file and cycle window (build must have trace enabled). */
  trace?: { file: string; from?: number; to?: number };
  /** Wall-clock limit of the run in seconds (default: wallClockLimit of the watchdog). */
  maxSeconds?: number;
  log?: (line: string) => void;
}

/**
 * A wall-clock limit for a run, next to the cycle watchdog: generous (ten times slower than
 * this project's measured speeds, plus two minutes), so only a hung simulator meets it.
 */
export function wallClockLimit(maxCycles: number, pes: number, simulator: Simulator): number {
  const peCyclesPerSecond = simulator === "verilator" ? 1e7 : 1e5;
  return Math.ceil(120 + (maxCycles * Math.max(16, pes)) / peCyclesPerSecond);
}

export type RunStatus = "done" | "timeout" | "error" | "protocol";

/** What the testbench's monitors counted on the accelerator's own signals during the run. */
export interface RawEvents {
  /** Port accesses per on-chip RAM role (ibuf, wbuf, acc, out, stats). */
  ram: Record<string, { writes: number; reads: number }>;
  /** Cycles per pipeline stage (read, preload, issue, write) busy and stalled; run: cycles of the run. */
  stages: Record<string, { busy: number; stall: number }>;
  /** Per descriptor (the first statsDepth), what entered the array. */
  descriptors: ArrayCounts[];
}

/** The result file's "ev" and "evd" lines (templates/tb_events.hbs writes them). */
export function parseEvents(lines: readonly string[]): RawEvents | undefined {
  const ev: RawEvents = { ram: {}, stages: {}, descriptors: [] };
  let seen = false;
  for (const line of lines) {
    const f = line.split(/\s+/);
    if (f[0] === "ev" && f.length === 5) {
      seen = true;
      const [a, b] = [Number(f[3]), Number(f[4])];
      if (f[1] === "ram") ev.ram[f[2]] = { writes: a, reads: b };
      else ev.stages[f[2]] = { busy: a, stall: b };
    } else if (f[0] === "evd" && f.length === 8) {
      const [tokens, salientLanes, secondMode, outlierPairs, toggles, psumToggles] = f.slice(2).map(Number);
      ev.descriptors[Number(f[1])] = { tokens, salientLanes, secondMode, outlierPairs, toggles, psumToggles };
    }
  }
  return seen ? ev : undefined;
}

export interface RawRun {
  status: RunStatus;
  /** The accelerator's ERROR code (hw/registers.ts) when status is "error". */
  errorCode: number;
  errorName: string;
  /** Index of the descriptor the error belongs to (ERROR_INFO): the failing burst's, the refused one, or the one being loaded at an abort. */
  errorDescriptor: number;
  /** The ID register as the testbench's host read it over AXI4-Lite. */
  registerId: number;
  axi: { readBursts: number; readBeats: number; writeBursts: number; writeBeats: number; writeResponses: number; maxReadsInFlight: number };
  cyclesTotal: number;
  cyclesBusy: number;
  cyclesStall: number;
  wordsRead: number;
  wordsWritten: number;
  /** Descriptors whose last token was issued (STATS_COUNT). */
  statsCount: number;
  /** Per descriptor, in order, the first statsDepth of them: CYCLES_TOTAL and CYCLES_BUSY (bits 31:0) when its last token was issued. */
  descriptorStats: { issueEnd: number; busy: number }[];
  /** The testbench's event monitors (templates/tb_events.hbs); absent when the run stopped before the host read its counters. */
  events?: RawEvents;
  wallSeconds: number;
  /** Output words [outLo, outHi] of the run, or undefined when it did not finish. */
  outputs?: Block;
  outLo: number;
  /** Set when the wall-clock limit (seconds) ended the run: a hung simulator, not the design. */
  wallClockLimit?: number;
}

/** Runs a built simulator over an image folder. */
export async function runSim(build: SimBuild, imagesDir: string, man: Manifest, opts: RunOptions): Promise<RawRun> {
  const log = opts.log ?? defaultLog;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-run-"));
  const untrack = trackTemp(work);
  try {
    const imageFile = path.join(work, "mem.hex");
    fs.writeFileSync(imageFile, assembleMemoryImage(imagesDir, man));
    const outLo = Math.min(...man.layers.map((l) => l.out.offset));
    const outHi = Math.max(...man.layers.map((l) => l.out.offset + l.out.words)) - 1;
    const args = [
      `+image=${imageFile}`, `+max_cycles=${opts.maxCycles}`, `+desc_base=${man.descriptorTable.offset}`,
      `+dump=${path.join(work, "out.hex")}`, `+dump_lo=${outLo}`, `+dump_hi=${outHi}`,
      `+result=${path.join(work, "result.txt")}`,
      ...memoryPlusargs(opts.memory ?? IDEAL_MEMORY),
    ];
    if (opts.abortAt !== undefined) args.push(`+abort_at=${opts.abortAt}`);
    if (opts.descLimit !== undefined) args.push(`+desc_limit=${opts.descLimit}`);
    if (opts.descBaseBytes !== undefined) args.push(`+desc_base_bytes=${opts.descBaseBytes}`);
    if (opts.trace) {
      args.push(`+trace=${path.resolve(opts.trace.file)}`);
      if (opts.trace.from !== undefined) args.push(`+trace_from=${opts.trace.from}`);
      if (opts.trace.to !== undefined) args.push(`+trace_to=${opts.trace.to}`);
    }
    const cmd = build.simulator === "verilator" ? build.binary : "vvp";
    // vvp writes FST when asked by its extended argument; Verilator builds carry their format.
    const fst = opts.trace !== undefined && traceFormatOf(opts.trace.file) === "fst";
    const cmdArgs = build.simulator === "verilator" ? args : ["-n", build.binary, ...(fst ? ["-fst"] : []), ...args];
    const t0 = performance.now();
    // The bar counts simulated cycles against an estimate (every token row of every tile, plus
    // a little), raised when the run goes past it; the testbench reports about 200 times a run.
    let estimate = Math.ceil(1.05 * busyCycles(man)) + 1000;
    args.push(`+progress=${Math.max(1024, Math.ceil(estimate / 200))}`);
    const bar = progress(`sim: ${build.simulator}`, estimate, "cycles", log);
    let pending = "";
    const onStdout = (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^oltron-progress (\d+)/.exec(line);
        if (!m) continue;
        const c = Number(m[1]);
        if (c >= estimate) estimate = Math.ceil(c * 1.2);
        bar.update(c, estimate);
      }
    };
    let r;
    const limit = opts.maxSeconds ?? wallClockLimit(opts.maxCycles, man.design.rows * man.design.cols, build.simulator);
    try {
      r = await runChild(cmd, cmdArgs, { cwd: work, timeoutSeconds: limit, onStdout });
    } finally {
      bar.stop();
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    const resultFile = path.join(work, "result.txt");
    if (r.timedOut) {
      log(`sim: the ${build.simulator} run passed its wall-clock limit of ${limit} s and was stopped (a hung simulator; raise it with --max-seconds)`);
      const nan = Number.NaN;
      return {
        status: "timeout", errorCode: 0, errorName: errorName(0), errorDescriptor: nan, registerId: nan,
        axi: { readBursts: nan, readBeats: nan, writeBursts: nan, writeBeats: nan, writeResponses: nan, maxReadsInFlight: nan },
        cyclesTotal: nan, cyclesBusy: nan, cyclesStall: nan, wordsRead: nan, wordsWritten: nan, statsCount: nan, descriptorStats: [],
        wallSeconds, outLo, wallClockLimit: limit,
      };
    }
    if (r.notStarted) throw new UserError(`${cmd} could not be started (${tail(r.all, 1)}); rebuild with --rebuild, or run 'make deps'`);
    if (r.exitCode !== 0 || !fs.existsSync(resultFile)) {
      throw new Error(`${build.simulator} run failed (exit ${r.exitCode}):\n${tail(r.all ?? "")}`);
    }
    const resultLines = fs.readFileSync(resultFile, "utf8").trim().split("\n").map((line) => line.trim());
    const kv = Object.fromEntries(
      resultLines.filter((line) => !/^(stat|ev|evd) /.test(line)).map((line) => line.split(/\s+/, 2) as [string, string]),
    );
    const descriptorStats = resultLines.filter((line) => line.startsWith("stat ")).map((line) => {
      const [, , end, busy] = line.split(/\s+/).map(Number);
      return { issueEnd: end, busy };
    });
    const status = kv.status as RunStatus;
    if (!["done", "timeout", "error", "protocol"].includes(status)) {
      throw new Error(`${build.simulator} run wrote an unknown status '${kv.status}':\n${tail(r.all ?? "")}`);
    }
    if (status === "protocol") log(`sim: ${tail(r.all ?? "", 5)}`);
    const num = (k: string) => (kv[k] === undefined || /x|z/i.test(kv[k]) ? NaN : Number(kv[k]));
    let outputs: Block | undefined;
    if (status === "done") {
      const text = fs.readFileSync(path.join(work, "out.hex"), "utf8");
      const clean = text.split("\n").filter((l) => !l.startsWith("@") && !l.startsWith("//")).join("\n");
      outputs = Block.fromHex(clean, man.memWordBits, `${build.simulator} dump`);
      if (outputs.words !== outHi - outLo + 1) {
        throw new Error(`${build.simulator} dump has ${outputs.words} words, expected ${outHi - outLo + 1}`);
      }
    }
    const errorCode = status === "error" ? num("error_code") : 0;
    return {
      status,
      errorCode,
      errorName: errorName(errorCode),
      errorDescriptor: num("error_desc"),
      registerId: kv.id === undefined || /x|z/i.test(kv.id) ? NaN : parseInt(kv.id, 16),
      axi: {
        readBursts: num("axi_read_bursts"), readBeats: num("axi_read_beats"), writeBursts: num("axi_write_bursts"),
        writeBeats: num("axi_write_beats"), writeResponses: num("axi_write_responses"), maxReadsInFlight: num("axi_max_reads_in_flight"),
      },
      cyclesTotal: num("cycles_total"),
      cyclesBusy: num("cycles_busy"),
      cyclesStall: num("cycles_stall"),
      wordsRead: num("words_read"),
      wordsWritten: num("words_written"),
      statsCount: num("stats_count"),
      descriptorStats,
      events: status === "done" ? parseEvents(resultLines) : undefined,
      wallSeconds,
      outputs,
      outLo,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    untrack();
  }
}

/** Cycles in which a token row enters the array: every layer's tokens x tiles x N-tiles. */
export function busyCycles(man: Manifest): number {
  return man.layers.reduce((a, l) => a + l.m * l.tiles * l.nTiles, 0);
}

/** The slice of a run's output dump that belongs to one layer. */
export function layerOutput(run: RawRun, man: Manifest, layer: string): Block {
  const l = man.layers.find((x) => x.name === layer);
  if (!l || !run.outputs) throw new Error(`no output for layer ${layer}`);
  const n = run.outputs.nibblesPerWord;
  const b = new Block(man.memWordBits, l.out.words);
  b.nib.set(run.outputs.nib.subarray((l.out.offset - run.outLo) * n, (l.out.offset - run.outLo + l.out.words) * n));
  return b;
}

/**
 * Cycle budget for the watchdog: generous over an analytic estimate that includes the memory
 * model's latency, stalls and bandwidth cap, never unbounded.
 */
export function watchdogCycles(d: ElaboratedDesign, man: Manifest, memory: MemoryModel = IDEAL_MEMORY): number {
  const bp = memory.backpressure;
  const slow = Math.max(1 / (1 - Math.min(bp.r, 0.99)), 1 / (1 - Math.min(bp.ar, 0.99))) / Math.min(1, memory.bandwidth ?? 1);
  const wslow = Math.max(1 / (1 - Math.min(bp.w, 0.99)), 1 / (1 - Math.min(bp.aw, 0.99)), 1 / (1 - Math.min(bp.b, 0.99))) / Math.min(1, memory.bandwidth ?? 1);
  const latency = memory.readLatency[1] + memory.writeLatency[1];
  let est = 1000 + latency;
  for (const l of man.layers) {
    const chunks = Math.ceil(l.m / d.config.bufferTokens);
    const perTile = Math.max(l.m / chunks, d.rows) + (l.act.tileStride / chunks + l.wgt.blockStride) * slow + memory.readLatency[1] + 8;
    est += l.nTiles * l.tiles * chunks * perTile + l.out.words * wslow + (d.rows + d.cols + latency + d.descriptorWords * slow) * l.nTiles * chunks;
  }
  return Math.ceil(est * 4 + 10000);
}

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

function tail(s: string, n = 40): string {
  return s.split("\n").slice(-n).join("\n");
}
