/**
 * The cycles a run of an image set takes, from the layer shapes alone: a model of the
 * generated pipeline (templates/loader, axi_rd, preload, compute, accum, writeback, runctl)
 * against the testbench memory (templates/tb_memory). For a memory with fixed read and write
 * latencies and no stalls it is exact: the run's cycles_total and every descriptor's issue end
 * (the accelerator's per-descriptor statistics), as test/cyclemodel.test.ts checks against
 * co-simulation. Random memory timing (latency ranges, stalls, a bandwidth cap) it estimates
 * with expected values (see MemoryTiming).
 *
 * It is not a cycle-by-cycle simulation. The stages hand tiles on through counters, so every
 * event (a burst's take and last beat, a tile's landing, its preload and issue, an output
 * word's write) happens at the maximum of a few earlier events plus fixed delays, which the
 * walk computes in order: tile by tile with each tile's read bursts, output block by output
 * block with each block's words. Within a descriptor the run soon becomes periodic (every
 * N-tile the same as the one before, shifted in time); the walk recognizes that and adds
 * whole periods instead of walking them, so its cost is a few N-tiles per descriptor.
 *
 * Cycle numbering: cycle 0 is the first cycle after the start; "at cycle t" is a register
 * value visible during cycle t. cycles_total is the cycle in which every stage is idle, plus one.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { UserError } from "../core/errors.js";
import type { Manifest } from "./manifest.js";

/**
 * What of a design the timing depends on (the datapath does not matter: every arch times
 * alike): the manifest's geometry, with the timing parameters it records required.
 */
export type CycleDesign = Pick<Manifest["design"], "rows" | "cols" | "memWordBits" | "bufferTokens" | "actStrideBits" | "wgtStrideBits" | "outStrideBits" | "descriptorWords">
  & Required<Pick<Manifest["design"], "loadSlots" | "axiMaxBurst" | "axiMaxReads">>;

export function cycleDesign(d: ElaboratedDesign): CycleDesign {
  return {
    rows: d.rows, cols: d.cols, memWordBits: d.config.memWordBits, bufferTokens: d.config.bufferTokens,
    actStrideBits: d.act.strideBits, wgtStrideBits: d.wgt.strideBits, outStrideBits: d.out.strideBits,
    descriptorWords: d.descriptorWords, loadSlots: d.config.loadSlots, axiMaxBurst: d.config.axiMaxBurst, axiMaxReads: d.config.axiMaxReads,
  };
}

/**
 * The testbench memory's timing (tb_memory.hbs; the simulator's MemoryModel has this shape and
 * can be passed as it is). Exact for fixed latencies with no stalls, no reordering and no
 * bandwidth cap. Beyond that an estimate: a read latency range counts as the expected later of
 * its draw and the previous burst's data (the memory answers in order), a write latency range
 * as its mean; a channel that stalls with probability p per cycle takes 1 / (1 - p) cycles per
 * beat or handshake; a bandwidth cap stretches every beat by 1 / cap, and a run it binds as a
 * whole to its beats / cap; reordering is ignored.
 */
export interface MemoryTiming {
  /** Cycles from a read burst's address handshake to its first data beat (>= 1; testbench default 1). */
  readLatency: number | [number, number];
  /** Cycles from a write burst's last data beat to its response (>= 1; testbench default 1). */
  writeLatency: number | [number, number];
  /** Chance per cycle that a channel stalls, 0..1 (default 0: never). */
  backpressure?: Partial<Record<"ar" | "r" | "aw" | "w" | "b", number>>;
  /** Read plus write beats per cycle, (0, 1] (default: one of each per cycle). */
  bandwidth?: number;
  /** Read bursts may complete out of order (not modelled). */
  reorder?: boolean;
}

export const DEFAULT_TIMING: MemoryTiming = { readLatency: 1, writeLatency: 1 };

/** One layer as the manifest describes it; tiles include the salient overflow tiles. */
export interface CycleLayer {
  name?: string;
  m: number;
  tiles: number;
  nTiles: number;
  tileChannels: number;
  /**
   * Word addresses of the layer's images. Only where bursts meet 4 KiB boundaries depends on
   * them; absent, they are where the image builder places them (image/build.ts).
   */
  act?: { offset: number; tileStride: number };
  wgt?: { offset: number; blockStride: number };
  out?: { offset: number; tileStride: number };
}

export interface LayerCyclePrediction {
  name: string;
  /**
   * Cycles from the previous layer's last issued token to this layer's, as the accelerator's
   * per-descriptor statistics measure them (SimResult layers[].cycles.total).
   */
  total: number;
  /** Cycles a token row of this layer was issued: m x tiles x nTiles. */
  busy: number;
  stall: number;
}

export interface CyclePrediction {
  /** cycles_total of the run. */
  total: number;
  /** Cycles a token row was issued into the array. */
  busy: number;
  layers: LayerCyclePrediction[];
  /** Per descriptor (token chunk), cycles_total as it stood when its last token was issued. */
  issueEnds: number[];
  /**
   * Where the cycles went: total = fill + busy + wait.load + wait.preload + wait.outputBank + drain.
   * fill: before the first token (first descriptor, first loads, first preload); wait: gaps
   * between tiles, by what the next tile waited for (its blocks to land, its weights' preload,
   * a free output bank); drain: after the last token (the array, the last write-back).
   */
  stages: { fill: number; wait: { load: number; preload: number; outputBank: number }; drain: number };
  /** Read bursts and write bursts the run issues. */
  bursts: { read: number; write: number };
  /** Tiles the model walked one by one; the others it added as whole periods. */
  walked: number;
}

export interface PredictOptions {
  /** Walk every tile, periodic or not (the same prediction, slower: for checking the shortcut). */
  exhaustive?: boolean;
}

/** Predicted cycles of a run of `layers` (in descriptor order) on a design. */
export function predictCycles(
  design: ElaboratedDesign | CycleDesign, layers: CycleLayer[], timing: Partial<MemoryTiming> = {}, opts: PredictOptions = {},
): CyclePrediction {
  const d = "config" in design ? cycleDesign(design) : design;
  if (layers.length === 0) throw new UserError("no layers to price");
  for (const l of layers) {
    if (![l.m, l.tiles, l.nTiles, l.tileChannels].every((x) => Number.isInteger(x) && x >= 1)) {
      throw new UserError(`layer ${l.name ?? "?"}: m, tiles, nTiles and tileChannels must be positive integers`);
    }
  }
  const rl = timing.readLatency ?? DEFAULT_TIMING.readLatency;
  const [lo, hi] = Array.isArray(rl) ? rl : [rl, rl];
  const wl = timing.writeLatency ?? DEFAULT_TIMING.writeLatency;
  const stall = (p: number | undefined) => 1 / (1 - Math.min(0.999, Math.max(0, p ?? 0)));
  const bp = timing.backpressure ?? {};
  const cap = Math.min(1, Math.max(1e-3, timing.bandwidth ?? 1));
  const mem: Memory = {
    readLatency: [Math.max(1, lo), Math.max(1, lo, hi)],
    writeLatency: Math.max(1, Array.isArray(wl) ? (wl[0] + wl[1]) / 2 : wl),
    ar: stall(bp.ar), r: stall(bp.r) / cap, aw: stall(bp.aw), w: stall(bp.w) / cap, b: stall(bp.b),
  };
  let p = walk(d, layers, mem, opts);
  // Under a cap, reads and writes share it: no run is faster than all its beats at the cap.
  const beats = layers.reduce((a, l) => a + traffic(d, l), 0);
  if (cap < 1 && p.total < beats / cap) p = stretch(p, beats / cap / p.total);
  return whole(p);
}

/**
 * Predicted cycles of a run of an image set, from its manifest. The manifest records the
 * design's geometry but not its load slots or AXI limits: give the design when those are not
 * the defaults (it must be the one the images were made for).
 */
export function manifestCycles(man: Manifest, opts: { design?: ElaboratedDesign; timing?: Partial<MemoryTiming> } = {}): CyclePrediction {
  const md = man.design;
  if (opts.design && opts.design.hash !== md.hash) {
    throw new UserError(`the images were made for design ${md.name} (hash ${md.hash}), not ${opts.design.name}`);
  }
  // Recent manifests record them; older ones need the design.
  const cfg = opts.design?.config;
  const pick = (k: "loadSlots" | "axiMaxBurst" | "axiMaxReads"): number => {
    const v = md[k] ?? cfg?.[k];
    if (v === undefined) throw new UserError(`the manifest of design ${md.name} does not record ${k} (an older manifest): give the design to predict its cycles`);
    return v;
  };
  const d: CycleDesign = {
    rows: md.rows, cols: md.cols, memWordBits: md.memWordBits, bufferTokens: md.bufferTokens,
    actStrideBits: md.actStrideBits, wgtStrideBits: md.wgtStrideBits, outStrideBits: md.outStrideBits, descriptorWords: md.descriptorWords,
    loadSlots: pick("loadSlots"), axiMaxBurst: pick("axiMaxBurst"), axiMaxReads: pick("axiMaxReads"),
  };
  return predictCycles(d, man.layers.map((l) => ({
    name: l.name, m: l.m, tiles: l.tiles, nTiles: l.nTiles, tileChannels: l.tileChannels,
    act: { offset: l.act.offset, tileStride: l.act.tileStride },
    wgt: { offset: l.wgt.offset, blockStride: l.wgt.blockStride },
    out: { offset: l.out.offset, tileStride: l.out.tileStride },
  })), opts.timing);
}

// ---------------------------------------------------------------- the walk

/** The memory as the walk prices it: read latency range, write latency, cycles per beat or handshake. */
interface Memory {
  readLatency: [number, number];
  writeLatency: number;
  ar: number;
  r: number;
  aw: number;
  w: number;
  b: number;
}

const NEVER = -Infinity;

/** Words of `rows` rows of `strideBits` each, packed from a word boundary. */
const words = (rows: number, strideBits: number, wordBits: number) => Math.ceil((rows * strideBits) / wordBits);

/** The last n values of a sequence of event times, and how many there were. */
class Ring {
  readonly v: Float64Array;
  count = 0;
  constructor(readonly n: number) {
    this.v = new Float64Array(n).fill(NEVER);
  }
  /** The value pushed `back` pushes ago (1: the last one), back <= n; NEVER before the first. */
  ago(back: number): number {
    return this.count < back ? NEVER : this.v[(this.count - back) % this.n];
  }
  push(x: number): void {
    this.v[this.count % this.n] = x;
    this.count++;
  }
}

function walk(d: CycleDesign, layers: CycleLayer[], mem: Memory, opts: PredictOptions): CyclePrediction {
  const R = d.rows;
  const W = d.memWordBits;
  const T = d.bufferTokens;
  const S = d.loadSlots;
  const D = d.descriptorWords;
  const words4k = 4096 / (W / 8);
  const maxBurst = d.axiMaxBurst;
  const [rdLo, rdHi] = mem.readLatency;
  // The testbench memory holds max(8, reads + 2) requests, and takes a write address while
  // fewer than that minus 2 write bursts await their response.
  const wqMax = Math.max(8, d.axiMaxReads + 2) - 2;
  const outRowsPerWord = Math.max(1, W / d.outStrideBits);
  const outWordsPerRow = Math.max(1, d.outStrideBits / W);
  const layout = defaultLayout(d, layers);

  // What the walk carries from one tile to the next: the latest times of events (NEVER before
  // the first) and rings of recent ones. All of it lives in `t` and `rings`, so that a periodic
  // stretch can be recognized (the same state, shifted) and skipped.
  const t = new Float64Array(13).fill(NEVER);
  const LAST_BEAT = 0; // the last read beat (the memory sends them in burst order, one per cycle)
  const AR_ACCEPT = 1; // the memory accepted the last read address
  const TAKE = 2; // the loader's last burst
  const LOADER = 3; // the loader may claim the next tile from this cycle
  const LANDED = 4, PRELOAD = 5, ISSUE = 6; // the last tile landed, started its preload, issued its last token
  const AW_LOAD = 7, AW_ACCEPT = 8; // the last write address cut, accepted
  const AW_FREE = 9; // the address channel has cut the previous block's last burst
  const WORD = 10, RESPONSE = 11; // the last word written, the last write response
  const ROW_FREE = 12; // the write-back's row register is free from this cycle
  const burstEnd = new Ring(d.axiMaxReads); // last beat of each read burst (its read ID frees after it)
  const issueEnd = new Ring(S); // last token issued, per tile
  const preload = new Ring(S); // preload start, per tile
  const bankFree = new Ring(2); // last row read out of each output block
  const jobPop = new Ring(2); // the write address channel took each block (two may wait)
  const wordOut = new Ring(4); // each word left the 4-word FIFO
  const burstDone = new Ring(4); // last word of each write burst (four may be cut ahead of their data)
  const response = new Ring(wqMax); // the memory answered each write burst
  const rings = [burstEnd, issueEnd, preload, bankFree, jobPop, wordOut, burstDone, response];
  // What a skipped period adds: issue cycles, and the waits by cause.
  const acc = new Float64Array(4);
  const BUSY = 0, WAIT_LOAD = 1, WAIT_PRELOAD = 2, WAIT_BANK = 3;

  /** Issues a transfer's read bursts from cycle `ready` on; returns the cycle of the last take. */
  const read = (addr: number, n: number, ready: number): number => {
    let take = ready - 1;
    while (n > 0) {
      const len = Math.min(n, maxBurst, words4k - (addr % words4k));
      // A burst needs a free read ID (the burst axiMaxReads back has landed) and a free
      // address channel (the previous address accepted).
      take = Math.max(take + 1, burstEnd.ago(d.axiMaxReads) + 1, t[AR_ACCEPT] - 1);
      // The address is valid the cycle after the take, accepted the cycle after that; the
      // first beat comes latency - 1 cycles later, and after the previous burst's beats.
      t[AR_ACCEPT] = take + 1 + mem.ar;
      const earliest = t[AR_ACCEPT] + mem.r - 2;
      t[LAST_BEAT] = earliest + expectedMax(rdLo, rdHi, t[LAST_BEAT] + mem.r - earliest) + (len - 1) * mem.r;
      burstEnd.push(t[LAST_BEAT]);
      addr += len;
      n -= len;
    }
    t[TAKE] = take;
    return take;
  };

  /** One tile of m tokens: its loads, preload and issue; `opens` an N-tile when it is its first K-tile. */
  const tile = (m: number, actAddr: number, na: number, wgtAddr: number, nw: number, opens: boolean) => {
    // Tile k takes slot k mod S once tile k - S is issued and its preload done.
    const claim = Math.max(t[LOADER], issueEnd.ago(S) + 1, preload.ago(S) + R);
    const actTake = read(actAddr, na, claim + 1);
    const wgtTake = read(wgtAddr, nw, actTake + 1);
    t[LOADER] = wgtTake + 1;
    // Counted as landed the cycle after its last beat is in, tiles in order.
    const landed = Math.max(t[LAST_BEAT] + 2, t[LANDED] + 1);
    // The preload waits for the previous one (rows cycles, then one idle), for the tile to land,
    // and for its weight bank (tile k - 2 fully issued).
    const pl = Math.max(t[PRELOAD] + R + 1, landed + 1, issueEnd.ago(2) + 2);
    // Tokens follow the previous tile's back to back, from the cycle after the preload starts;
    // an N-tile's first tile also waits for its output bank (N-tile j - 2 read out).
    const bank = opens ? bankFree.ago(2) + 2 : NEVER;
    const start = Math.max(t[ISSUE] + 1, pl + 1, bank);
    if (issueEnd.count === 0) fill = start;
    else if (start > t[ISSUE] + 1) {
      const gap = start - t[ISSUE] - 1;
      if (bank === start && bank > pl + 1) acc[WAIT_BANK] += gap;
      else if (pl === landed + 1 && landed + 1 > t[PRELOAD] + R + 1) acc[WAIT_LOAD] += gap;
      else acc[WAIT_PRELOAD] += gap;
    }
    t[LANDED] = landed;
    t[PRELOAD] = pl;
    t[ISSUE] = start + m - 1;
    preload.push(pl);
    issueEnd.push(t[ISSUE]);
    acc[BUSY] += m;
    walked++;
  };

  // The output block being written: words left to cut into bursts, where, when its job was taken.
  let burstLeft = 0;
  let blockLeft = 0;
  let blockAddr = 0;
  let blockPop = 0;
  let blockFirst = false;
  let accept = NEVER;
  /** Writes one word pushed into the FIFO at `push`, cutting its burst's address first if it opens one. */
  const word = (push: number) => {
    if (burstLeft === 0) {
      const len = Math.min(blockLeft, maxBurst, words4k - (blockAddr % words4k));
      blockAddr += len;
      blockLeft -= len;
      // Cut once the block's job is taken and the previous address accepted, while fewer than
      // four bursts are cut but not fully written.
      const load = Math.max(blockFirst ? blockPop + 1 : t[AW_LOAD] + 1, t[AW_ACCEPT] - 1, burstDone.ago(4) + 1);
      // Valid the next cycle, accepted the cycle after, unless wqMax bursts await their response.
      accept = Math.max(load + 1 + mem.aw, response.ago(wqMax) + 2);
      blockFirst = false;
      t[AW_LOAD] = load;
      t[AW_ACCEPT] = accept;
      burstLeft = len;
      if (blockLeft === 0) t[AW_FREE] = load + 1;
    }
    // The memory takes data only for a burst whose address it has accepted.
    const out = Math.max(push + 1, t[WORD] + mem.w, accept + mem.w - 1);
    wordOut.push(out);
    t[WORD] = out;
    if (--burstLeft === 0) {
      burstDone.push(out);
      // Answered latency - 1 cycles after the last word is taken, one response per cycle.
      t[RESPONSE] = Math.max(out + mem.writeLatency + mem.b - 1, t[RESPONSE] + mem.b);
      response.push(t[RESPONSE]);
    }
  };
  /** Writes one output block whose bank is full from cycle `full`; returns the cycle of its last row read. */
  const writeBlock = (full: number, m: number, ny: number, addr: number): number => {
    // Reading a block's first row queues its job for the address channel; two jobs may wait.
    let u = Math.max(full, t[ROW_FREE], jobPop.ago(2) + 1);
    blockPop = Math.max(u + 1, t[AW_FREE]);
    jobPop.push(blockPop);
    blockLeft = ny;
    blockAddr = addr;
    blockFirst = true;
    let lastRead = u;
    for (let r = 0; r < m; r++) {
      lastRead = u;
      if (outRowsPerWord > 1) {
        // Rows gather into a word, pushed with the last row it holds once the FIFO has room.
        const flush = r % outRowsPerWord === outRowsPerWord - 1 || r === m - 1;
        const take = flush ? Math.max(u + 1, wordOut.ago(4) + 1) : u + 1;
        if (flush) word(take);
        u = take;
      } else {
        // A row's words are pushed one per cycle, each once the word four back has left.
        let push = u;
        for (let s = 0; s < outWordsPerRow; s++) {
          push = Math.max(push + 1, wordOut.ago(4) + 1);
          word(push);
        }
        u = push;
      }
    }
    t[ROW_FREE] = u;
    return lastRead;
  };

  // Periodic stretches. A mark is the carried state after an N-tile, relative to its last
  // issued token. When the mark after N-tile j equals the one after N-tile j - q, and N-tiles
  // q apart read and write alike (the same burst cuts), N-tiles j + 1 .. j + q repeat
  // j - q + 1 .. j shifted in time, and so on to the end of the descriptor: those periods are
  // added to the state (every time shifted, every count advanced) rather than walked.
  type Mark = { ref: number; times: Float64Array; counts: number[]; acc: Float64Array };
  const mark = (): Mark => {
    const ref = t[ISSUE];
    const times = new Float64Array(t.length + rings.reduce((a, r) => a + r.n, 0));
    let i = 0;
    for (const x of t) times[i++] = x - ref;
    for (const r of rings) for (let b = 1; b <= r.n; b++) times[i++] = r.ago(b) - ref;
    return { ref, times, counts: rings.map((r) => r.count), acc: acc.slice() };
  };
  // Times are whole (or half) cycles in the exact regime; estimates carry fractions that may round.
  const same = (a: Mark, b: Mark) => a.times.every((x, i) => x === b.times[i] || Math.abs(x - b.times[i]) < 1e-6);
  const skip = (periods: number, from: Mark, to: Mark) => {
    const shift = periods * (to.ref - from.ref);
    for (let i = 0; i < t.length; i++) t[i] += shift;
    rings.forEach((r, ri) => {
      const recent = Array.from({ length: r.n }, (_, b) => r.ago(b + 1) + shift);
      r.count += periods * (to.counts[ri] - from.counts[ri]);
      recent.forEach((x, b) => {
        if (r.count > b) r.v[(r.count - b - 1) % r.n] = x;
      });
    });
    for (let i = 0; i < acc.length; i++) acc[i] += periods * (to.acc[i] - from.acc[i]);
  };
  // N-tiles q apart meet 4 KiB boundaries alike when q x their stride is a multiple of 4 KiB.
  const period = (stride: number) => words4k / gcd(words4k, stride % words4k);

  let fill = 0;
  let walked = 0;
  const issueEnds: number[] = [];
  const layerOut: LayerCyclePrediction[] = [];
  let prevEnd = 0;
  let desc = 0;
  // The first descriptor is fetched at the start; it is checked, then the loader claims tiles.
  read(0, D, 0);
  t[LOADER] = t[LAST_BEAT] + 3;
  layers.forEach((l, li) => {
    const map = { act: l.act ?? layout[li].act, wgt: l.wgt ?? layout[li].wgt, out: l.out ?? layout[li].out };
    const nw = words(l.tileChannels, d.wgtStrideBits, W);
    const p = Math.max(period(l.tiles * map.wgt.blockStride), period(map.out.tileStride));
    const busy0 = acc[BUSY];
    // One descriptor per chunk of bufferTokens tokens; a chunk's blocks start on a word.
    for (let m0 = 0; m0 < l.m; m0 += T) {
      const m = Math.min(T, l.m - m0);
      const na = words(m, d.actStrideBits, W);
      const ny = words(m, d.outStrideBits, W);
      const abase = map.act.offset + (m0 / T) * words(T, d.actStrideBits, W);
      const ybase = map.out.offset + (m0 / T) * words(T, d.outStrideBits, W);
      const marks: Mark[] = [];
      for (let j = 0; j < l.nTiles; j++) {
        for (let k = 0; k < l.tiles; k++) {
          tile(m, abase + k * map.act.tileStride, na, map.wgt.offset + (j * l.tiles + k) * map.wgt.blockStride, nw, k === 0);
        }
        // The last token leaves the last column rows + cols - 1 cycles after its issue; the
        // bank counts as full the cycle after.
        bankFree.push(writeBlock(t[ISSUE] + R + d.cols + 1, m, ny, ybase + j * map.out.tileStride));
        if (opts.exhaustive || p > 64 || j === l.nTiles - 1) continue;
        marks.push(mark());
        // The output banks alternate, so the state may repeat over two periods rather than one.
        for (const q of [p, 2 * p]) {
          const from = marks[marks.length - 1 - q];
          if (from && same(from, marks[marks.length - 1])) {
            const periods = Math.floor((l.nTiles - 1 - j) / q);
            skip(periods, from, marks[marks.length - 1]);
            j += periods * q;
            marks.length = 0;
            break;
          }
        }
        if (marks.length > 2 * p + 1) marks.shift();
      }
      issueEnds.push(t[ISSUE] + 1);
      desc++;
      if (li < layers.length - 1 || m0 + T < l.m) {
        // The next descriptor is fetched once the loader has taken this one's last tile.
        read(desc * D, D, t[TAKE] + 1);
        t[LOADER] = t[LAST_BEAT] + 3;
      }
    }
    const end = t[ISSUE] + 1;
    const busy = acc[BUSY] - busy0;
    layerOut.push({ name: l.name ?? `L${li}`, total: end - prevEnd, busy, stall: end - prevEnd - busy });
    prevEnd = end;
  });
  // Done once the last write response is in: the accelerator sees it a cycle later and idles.
  const total = t[RESPONSE] + 2;
  return {
    total, busy: acc[BUSY], layers: layerOut, issueEnds,
    stages: { fill, wait: { load: acc[WAIT_LOAD], preload: acc[WAIT_PRELOAD], outputBank: acc[WAIT_BANK] }, drain: total - prevEnd },
    bursts: { read: burstEnd.count, write: response.count },
    walked,
  };
}

// ---------------------------------------------------------------- helpers

/** The addresses image/build.ts gives each layer: descriptor table, then inputs, then outputs. */
function defaultLayout(d: CycleDesign, layers: CycleLayer[]): Required<Pick<CycleLayer, "act" | "wgt" | "out">>[] {
  const T = d.bufferTokens;
  const W = d.memWordBits;
  const block = (stride: number, m: number) => Math.floor(m / T) * words(T, stride, W) + words(m % T, stride, W);
  let next = layers.reduce((a, l) => a + Math.ceil(l.m / T), 0) * d.descriptorWords;
  const maps = layers.map((l) => {
    const at = block(d.actStrideBits, l.m);
    const wt = words(l.tileChannels, d.wgtStrideBits, W);
    const map = { act: { offset: next, tileStride: at }, wgt: { offset: next + l.tiles * at, blockStride: wt }, out: { offset: 0, tileStride: block(d.outStrideBits, l.m) } };
    next += l.tiles * at + l.nTiles * l.tiles * wt;
    return map;
  });
  for (const [i, map] of maps.entries()) {
    map.out.offset = next;
    next += layers[i].nTiles * map.out.tileStride;
  }
  return maps;
}

/** Words a layer reads and writes (as image/traffic.ts counts them, from the shapes). */
function traffic(d: CycleDesign, l: CycleLayer): number {
  const W = d.memWordBits;
  let n = 0;
  for (let m0 = 0; m0 < l.m; m0 += d.bufferTokens) {
    const m = Math.min(d.bufferTokens, l.m - m0);
    n += d.descriptorWords + l.nTiles * (l.tiles * (words(m, d.actStrideBits, W) + words(l.tileChannels, d.wgtStrideBits, W)) + words(m, d.outStrideBits, W));
  }
  return n;
}

/**
 * E[max(L, x)] for a latency L uniform in [lo, hi]: the memory answers in order, so a burst's
 * first beat waits for its own latency and for the beats before it (x); exactly max(lo, x)
 * when lo = hi.
 */
function expectedMax(lo: number, hi: number, x: number): number {
  if (x >= hi) return x;
  if (x <= lo) return (lo + hi) / 2;
  return ((x - lo) * x + (hi * hi - x * x) / 2) / (hi - lo);
}

/** The run stretched by `f` (a bandwidth cap binds it as a whole); the extra time counts as waiting for loads. */
function stretch(p: CyclePrediction, f: number): CyclePrediction {
  const s = p.stages;
  const issueEnds = p.issueEnds.map((e) => e * f);
  const last = issueEnds[issueEnds.length - 1];
  const fill = s.fill * f, preload = s.wait.preload * f, outputBank = s.wait.outputBank * f;
  const layers = p.layers.map((l) => ({ ...l, total: l.total * f, stall: l.total * f - l.busy }));
  return {
    ...p, total: p.total * f, issueEnds, layers,
    stages: { fill, wait: { load: last - fill - p.busy - preload - outputBank, preload, outputBank }, drain: p.total * f - last },
  };
}

/** In whole cycles (estimates carry fractions): rounded ends, and differences of rounded ends. */
function whole(p: CyclePrediction): CyclePrediction {
  const r = Math.round;
  const issueEnds = p.issueEnds.map((e) => r(e));
  const last = issueEnds[issueEnds.length - 1];
  const total = r(p.total);
  let end = 0;
  const layers = p.layers.map((l) => {
    const from = r(end);
    end += l.total;
    return { ...l, total: r(end) - from, stall: r(end) - from - l.busy };
  });
  const s = p.stages;
  const fill = r(s.fill), preload = r(s.wait.preload), outputBank = r(s.wait.outputBank);
  return {
    ...p, total, issueEnds, layers,
    stages: { fill, wait: { load: last - fill - p.busy - preload - outputBank, preload, outputBank }, drain: total - last },
  };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
