/**
 * The architecture DSL: one configuration object describes the accelerator, and
 * elaboration validates it and derives every width, depth and layout constant. The
 * elaborated design is the single source of truth for the RTL templates, the quantizer
 * (tile capacity, memory layout) and the simulator.
 */
import { createHash } from "node:crypto";
import { UserError } from "../core/errors.js";
import { floatFormat, SALIENT_TYPES, type SalientType } from "../core/formats.js";
import { ARCH_NAMES, ARCHS, composeParts, isArchName, PE_KINDS, type ActFormat, type ArchName, type DecoderKindName, type PeKindName } from "./parts.js";

export const GENERATOR_NAME = "oltron-gen";
export const GENERATOR_VERSION = "0.3.1";

/** What a user chooses. Every field has a default (see DEFAULT_CONFIG). */
export interface ArchConfig {
  /** The architecture (src/hw/parts.ts): which decoder, PE kinds and activation formats. */
  arch: ArchName;
  /** Input-channel lanes of the array (the reduction dimension of one tile). */
  rows: number;
  /** Output channels computed per pass. */
  cols: number;
  /** Rows of flexible PEs; they sit at the bottom of the array, next to the output. */
  flexLines: number;
  /** Salient types the decoder and flexible PEs support. */
  salientTypes: SalientType[];
  /** Partial-sum width of the efficient rows (the paper's 16). */
  psumBits: number;
  /** Off-chip memory word width in bits: one word per cycle on the memory port. */
  memWordBits: number;
  /** Token capacity of the input and output buffers (per bank; both are double-buffered). */
  bufferTokens: number;
  /** AXI4 ID width of the memory master. */
  axiIdBits: number;
  /** Longest AXI4 INCR burst the master issues, in beats (memory words). */
  axiMaxBurst: number;
  /** Read bursts the master keeps in flight (each has its own ID, so the memory may reorder them). */
  axiMaxReads: number;
  /**
   * Tile slots of the input and weight buffers: the loader runs up to loadSlots - 1 tiles ahead
   * of the compute stage, which hides a memory latency of about (loadSlots - 1) tiles' compute.
   */
  loadSlots: number;
  /**
   * Entries of the per-descriptor statistics RAM: the first statsDepth descriptors of a run
   * record when their last token was issued and their busy cycles (STATS_* registers).
   */
  statsDepth: number;
}

export const DEFAULT_CONFIG: ArchConfig = {
  arch: "oltron",
  rows: 16,
  cols: 16,
  flexLines: 2,
  salientTypes: ["fp8", "fp12"],
  psumBits: 16,
  memWordBits: 256,
  bufferTokens: 256,
  axiIdBits: 4,
  axiMaxBurst: 16,
  axiMaxReads: 8,
  loadSlots: 4,
  statsDepth: 64,
};

/** Named presets. `oltron64` is shaped like the published design: 64x64, one flexible line. */
export const PRESETS: Record<string, Partial<ArchConfig>> = {
  default: {},
  tiny: { rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64, loadSlots: 2 },
  small8: { rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 },
  "16x16": { rows: 16, cols: 16, flexLines: 2, memWordBits: 256 },
  "32x32": { rows: 32, cols: 32, flexLines: 4, memWordBits: 512 },
  oltron64: { rows: 64, cols: 64, flexLines: 1, salientTypes: ["fp8"], memWordBits: 1024 },
  ...archPresets(),
};

/**
 * One preset per architecture and size (`<arch>-16x16`, `-32x32`, `-64x64`): the Oltron ones
 * are the sizes above; the others have the same memory word, buffers and AXI settings, so
 * designs of one size differ only in their datapath.
 */
function archPresets(): Record<string, Partial<ArchConfig>> {
  const sizes: [string, Partial<ArchConfig>][] = [
    ["16x16", { rows: 16, cols: 16, flexLines: 2, memWordBits: 256 }],
    ["32x32", { rows: 32, cols: 32, flexLines: 4, memWordBits: 512 }],
    ["64x64", { rows: 64, cols: 64, flexLines: 1, salientTypes: ["fp8"], memWordBits: 1024 }],
  ];
  const out: Record<string, Partial<ArchConfig>> = {};
  for (const arch of ARCH_NAMES) {
    for (const [size, cfg] of sizes) {
      out[`${arch}-${size}`] = ARCHS[arch].salient ? cfg : { arch, rows: cfg.rows, cols: cfg.cols, memWordBits: cfg.memWordBits };
    }
  }
  return out;
}

export interface ParamDoc {
  key: keyof ArchConfig;
  flag: string;
  range: string;
  doc: string;
}

/** Parameter documentation shared by --help, docs and error messages. */
export const PARAMS: ParamDoc[] = [
  { key: "arch", flag: "--arch", range: ARCH_NAMES.join(", "), doc: "architecture: decoder, PE kinds and activation formats (docs/architecture.md)" },
  { key: "rows", flag: "--rows", range: "2..256", doc: "array rows = input-channel lanes per tile" },
  { key: "cols", flag: "--cols", range: "2..256", doc: "array columns = output channels per pass" },
  { key: "flexLines", flag: "--flex-lines", range: "0..rows", doc: "rows of flexible PEs (salient lanes)" },
  { key: "salientTypes", flag: "--salient-types", range: "subset of fp8,fp12", doc: "salient formats the decoder supports" },
  { key: "psumBits", flag: "--psum-bits", range: "minimum for the efficient rows..32", doc: "efficient-row partial-sum width" },
  { key: "memWordBits", flag: "--mem-word-bits", range: "power of two 32..1024", doc: "off-chip memory word width = AXI4 data width" },
  { key: "bufferTokens", flag: "--buffer-tokens", range: "power of two, 2..65536, >= the output rows per memory word", doc: "tokens per input/output buffer bank" },
  { key: "axiIdBits", flag: "--axi-id-bits", range: "1..8", doc: "AXI4 ID width of the memory master" },
  { key: "axiMaxBurst", flag: "--axi-max-burst", range: "1..256", doc: "longest AXI4 INCR burst, in beats" },
  { key: "axiMaxReads", flag: "--axi-max-reads", range: "1..min(32, 2^axiIdBits)", doc: "read bursts in flight" },
  { key: "loadSlots", flag: "--load-slots", range: "2, 4 or 8", doc: "tile slots of the input and weight buffers (loads run that many tiles ahead, minus one)" },
  { key: "statsDepth", flag: "--stats-depth", range: "power of two 2..4096", doc: "descriptors whose cycles are recorded per run (per-layer cycles)" },
];

/** Layout of one stream (activations, weights, outputs) in memory and in its buffer. */
export interface StreamLayout {
  /** Meaningful bits of one row (token vector, weight row, output row). */
  rowBits: number;
  /**
   * Bits a row occupies in memory: rowBits itself for activations (rows packed back to back),
   * the next power of two of rowBits for weights and outputs.
   */
  strideBits: number;
  /** Rows packed at rowBits, so a row may straddle two memory words and two buffer entries. */
  packed: boolean;
  /** Rows per memory word when a row is narrower than a word (else 1; 1 when packed). */
  rowsPerWord: number;
  /** Memory words per row when a row is wider than a word (else 1; 1 when packed). */
  wordsPerRow: number;
  /** Width of one buffer entry: max(next power of two of rowBits, memWordBits). */
  entryBits: number;
  /** Rows per buffer entry (1 when packed: rows then sit at any bit of an entry). */
  rowsPerEntry: number;
  /** Memory words per buffer entry. */
  wordsPerEntry: number;
}

export interface ElaboratedDesign {
  generator: { name: string; version: string };
  config: ArchConfig;
  arch: ArchName;
  decoder: DecoderKindName;
  /** The PE grid from the top row down: row groups of one PE kind each. */
  grid: { pe: PeKindName; rows: number }[];
  /** Activation formats the design's layers may use. */
  formats: ActFormat[];
  /** Short hash of the canonical configuration: names every generated module. */
  hash: string;
  /** Module-name prefix, e.g. oltron_r16c16f2_1a2b3c. */
  prefix: string;
  name: string;
  rows: number;
  cols: number;
  flexLines: number;
  effRows: number;
  pes: { efficient: number; flexible: number; total: number };
  /** Lanes 0..flexLines-1 are flexible; lane L sits on physical row (L + rows - flexLines) % rows. */
  laneToRow: number[];
  /** Smallest legal psumBits for this many efficient rows (0 when there are none). */
  psumMinBits: number;
  /** Salient channels one tile can hold, per supported type. */
  maxSalientPerTile: Partial<Record<SalientType, number>>;
  act: StreamLayout;
  wgt: StreamLayout;
  out: StreamLayout;
  /** Descriptor: 16 fields of 32 bits; each descriptor starts on a word boundary. */
  descriptorBits: number;
  descriptorWords: number;
  /** Buffer depths in entries, per bank. */
  inputBufferEntries: number;
  weightBufferEntries: number;
  /** Bit widths of counters and indices the RTL derives. */
  widths: { token: number; lane: number; shift: number; flexInt: number };
}

const FIELD_LIMITS: Record<string, [number, number]> = {
  rows: [2, 256],
  cols: [2, 256],
  memWordBits: [32, 1024],
  bufferTokens: [2, 65536],
  axiIdBits: [1, 8],
  axiMaxBurst: [1, 256],
};

export function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function clog2(n: number): number {
  let b = 0;
  while (2 ** b < n) b++;
  return b;
}

function flagOf(key: keyof ArchConfig): string {
  return PARAMS.find((p) => p.key === key)?.flag ?? key;
}

function requireInt(cfg: ArchConfig, key: keyof ArchConfig, lo: number, hi: number, extra = ""): void {
  const v = cfg[key] as unknown;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new UserError(
      `invalid ${key} (${flagOf(key)}) = ${JSON.stringify(v)}: must be an integer in ${lo}..${hi}${extra}`,
    );
  }
}

/** Bits of a signed integer that holds every value in [lo, hi]. */
export function signedBitsFor(lo: number, hi: number): number {
  let b = 1;
  while (-(2 ** (b - 1)) > lo || 2 ** (b - 1) - 1 < hi) b++;
  return b;
}

/**
 * What a configuration file or the flags give: any design parameters, or instead of
 * `arch`, `rows` and `flexLines` a `parts` description (decoder and grid; hw/parts.ts).
 */
export type DesignInput = Partial<ArchConfig> & { parts?: unknown };

/**
 * Merges a partial configuration (preset + overrides) over the defaults. `partsSource` names
 * where a `parts` description came from, for messages.
 */
export function resolveConfig(partial: DesignInput = {}, preset = "default", partsSource = "design parts"): ArchConfig {
  const base = PRESETS[preset];
  if (!base) {
    throw new UserError(`unknown preset '${preset}': expected one of ${Object.keys(PRESETS).join(", ")}`);
  }
  const { parts, ...params } = partial;
  checkKnownKeys(params);
  const given = stripUndefined(params);
  if (parts !== undefined) {
    // The parts fix the architecture, rows and flexible lines; a second source for them would be ambiguous.
    const clash = (["arch", "rows", "flexLines"] as const).filter((k) => given[k] !== undefined);
    if (clash.length > 0) {
      throw new UserError(
        `${partsSource}: parts fix arch, rows and flexLines, so ${clash.map((k) => `${k} (${flagOf(k)})`).join(" and ")} cannot be given beside them: drop one or the other`,
      );
    }
    Object.assign(given, composeParts(parts, partsSource));
  }
  const cfg: ArchConfig = { ...DEFAULT_CONFIG, ...base, ...given };
  checkArch(cfg.arch);
  const arch = ARCHS[cfg.arch];
  // An architecture without salient lanes takes none from the preset it was put on
  // (`--arch olive --preset 32x32`); what the user gives explicitly is still checked.
  if (!arch.salient) {
    if (given.flexLines === undefined) cfg.flexLines = 0;
    if (given.salientTypes === undefined) cfg.salientTypes = [];
  }
  // The paper's 16-bit partial sum, widened to what the array's PE kind needs when nobody chose a width.
  if (given.psumBits === undefined && base.psumBits === undefined && !arch.salient && Number.isInteger(cfg.rows) && cfg.rows > 0) {
    const [lo, hi] = PE_KINDS[arch.pe].columnRange(cfg.rows - cfg.flexLines);
    cfg.psumBits = Math.max(cfg.psumBits, signedBitsFor(lo, hi));
  }
  checkSalientList(cfg.salientTypes);
  cfg.salientTypes = [...cfg.salientTypes];
  return cfg;
}

function checkArch(v: unknown): asserts v is ArchName {
  if (!isArchName(v)) throw new UserError(`invalid arch (--arch) = ${JSON.stringify(v)}: expected one of ${ARCH_NAMES.join(", ")}`);
}

function checkKnownKeys(o: object): void {
  const known = Object.keys(DEFAULT_CONFIG);
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new UserError(`unknown design parameter '${k}': expected one of ${known.join(", ")} (or parts instead of arch, rows, flexLines)`);
  }
}

function checkSalientList(v: unknown): void {
  if (!Array.isArray(v)) {
    throw new UserError(`invalid salientTypes (--salient-types) = ${JSON.stringify(v)}: expected a list drawn from ${SALIENT_TYPES.join(", ")}`);
  }
}

/** The configuration as a string with a fixed key order: what the hash covers. */
function canonicalConfig(cfg: ArchConfig, types: SalientType[]): string {
  // Oltron designs hash as they did before architectures existed, so their module names stay.
  const keys = Object.keys(DEFAULT_CONFIG).filter((k) => k !== "arch" || cfg.arch !== "oltron");
  return JSON.stringify(keys.map((k) => [k, k === "salientTypes" ? types : cfg[k as keyof ArchConfig]]));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function streamLayout(rowBits: number, wordBits: number, packed = false): StreamLayout {
  const strideBits = packed ? rowBits : pow2ceil(rowBits);
  const entryBits = Math.max(pow2ceil(rowBits), wordBits);
  return {
    rowBits,
    strideBits,
    packed,
    rowsPerWord: packed ? 1 : Math.max(1, wordBits / strideBits),
    wordsPerRow: packed ? 1 : Math.max(1, strideBits / wordBits),
    entryBits,
    rowsPerEntry: packed ? 1 : entryBits / strideBits,
    wordsPerEntry: entryBits / wordBits,
  };
}

/** Validates every parameter and combination and derives the design. */
export function elaborate(cfg: ArchConfig): ElaboratedDesign {
  checkKnownKeys(cfg);
  checkArch(cfg.arch);
  const arch = ARCHS[cfg.arch];
  checkSalientList(cfg.salientTypes);
  for (const [k, [lo, hi]] of Object.entries(FIELD_LIMITS)) requireInt(cfg, k as keyof ArchConfig, lo, hi);
  if (arch.rowsRule && !arch.rowsRule.check(cfg.rows)) {
    throw new UserError(`invalid rows (--rows) = ${cfg.rows} for arch ${cfg.arch}: must be ${arch.rowsRule.text}`);
  }
  if (!arch.salient && (cfg.flexLines !== 0 || cfg.salientTypes.length > 0)) {
    throw new UserError(
      `invalid combination: arch ${cfg.arch} has no flexible lines or salient types, got flexLines (--flex-lines) = ${cfg.flexLines}` +
        ` and salientTypes (--salient-types) = ${cfg.salientTypes.join(",") || "none"}; use --arch oltron for salient channels`,
    );
  }
  requireInt(cfg, "flexLines", 0, cfg.rows, ` (rows = ${cfg.rows})`);
  if (!isPow2(cfg.memWordBits)) {
    throw new UserError(`invalid memWordBits (--mem-word-bits) = ${cfg.memWordBits}: must be a power of two in 32..1024 (the AXI4 data widths)`);
  }
  if (![2, 4, 8].includes(cfg.loadSlots)) {
    throw new UserError(`invalid loadSlots (--load-slots) = ${JSON.stringify(cfg.loadSlots)}: must be 2, 4 or 8`);
  }
  // Each read burst in flight owns one ID, so responses may come back in any order.
  const maxReads = Math.min(32, 2 ** cfg.axiIdBits);
  requireInt(cfg, "axiMaxReads", 1, maxReads, ` (axiIdBits = ${cfg.axiIdBits} gives ${2 ** cfg.axiIdBits} IDs; each read in flight needs its own)`);
  if (!isPow2(cfg.statsDepth) || cfg.statsDepth < 2 || cfg.statsDepth > 4096) {
    throw new UserError(`invalid statsDepth (--stats-depth) = ${JSON.stringify(cfg.statsDepth)}: must be a power of two in 2..4096`);
  }
  if (!isPow2(cfg.bufferTokens)) {
    throw new UserError(`invalid bufferTokens (--buffer-tokens) = ${cfg.bufferTokens}: must be a power of two in 2..65536`);
  }
  for (const t of cfg.salientTypes) {
    if (!(SALIENT_TYPES as readonly string[]).includes(t)) {
      throw new UserError(`invalid salient type '${t}' in salientTypes (--salient-types): expected a subset of ${SALIENT_TYPES.join(", ")}`);
    }
  }
  const types = SALIENT_TYPES.filter((t) => cfg.salientTypes.includes(t));
  if (cfg.flexLines === 0 && types.length > 0) {
    throw new UserError(
      `invalid combination: flexLines (--flex-lines) = 0 cannot carry salient types ${types.join(",")}; ` +
        `use --salient-types none for an int4-only array, or flexLines >= 1`,
    );
  }
  if (cfg.flexLines > 0 && types.length === 0) {
    throw new UserError(`invalid combination: flexLines (--flex-lines) = ${cfg.flexLines} needs at least one salient type (fp8, fp12)`);
  }
  if (types.includes("fp12") && cfg.flexLines < 2) {
    throw new UserError(
      `invalid combination: fp12 needs flexLines (--flex-lines) >= 2 (one fp12 operand occupies two flexible lanes), got ${cfg.flexLines}`,
    );
  }
  const effRows = cfg.rows - cfg.flexLines;
  // The narrow rows' column sum must fit the partial sum for every legal operand bit pattern.
  const pe = PE_KINDS[arch.pe];
  const [sumLo, sumHi] = pe.columnRange(effRows);
  const psumMinBits = effRows === 0 ? 0 : signedBitsFor(sumLo, sumHi);
  requireInt(cfg, "psumBits", Math.max(psumMinBits, 2), 32,
    effRows > 0 ? ` (${effRows} ${pe.name === "eff" ? "efficient" : pe.name} rows sum to ${sumLo}..${sumHi}, which needs ${psumMinBits} bits)` : "");

  const W = cfg.memWordBits;
  // Activation rows are packed: no power-of-two padding in memory traffic or buffer bits.
  const act = streamLayout(arch.laneActBits * cfg.rows + 4 * cfg.flexLines, W, true);
  const wgt = streamLayout(4 * cfg.cols, W);
  const out = streamLayout(32 * cfg.cols, W);
  const minTokens = out.rowsPerWord;
  if (cfg.bufferTokens < minTokens) {
    throw new UserError(
      `invalid bufferTokens (--buffer-tokens) = ${cfg.bufferTokens}: must be at least ${minTokens}, ` +
        `the output rows one ${W}-bit memory word holds`,
    );
  }

  const hash = createHash("sha256").update(canonicalConfig(cfg, types)).digest("hex").slice(0, 6);
  const name = arch.name === "oltron" ? `r${cfg.rows}c${cfg.cols}f${cfg.flexLines}` : `${arch.name}_r${cfg.rows}c${cfg.cols}`;
  const maxSalientPerTile: Partial<Record<SalientType, number>> = {};
  for (const t of types) maxSalientPerTile[t] = Math.floor(cfg.flexLines / floatFormat(t).lanes);

  const descriptorBits = 512;
  return {
    generator: { name: GENERATOR_NAME, version: GENERATOR_VERSION },
    config: { ...cfg, salientTypes: types },
    arch: arch.name,
    decoder: arch.decoder,
    grid: [
      ...(effRows > 0 ? [{ pe: arch.pe, rows: effRows }] : []),
      ...(cfg.flexLines > 0 ? [{ pe: "flex" as PeKindName, rows: cfg.flexLines }] : []),
    ],
    formats: arch.formats,
    hash,
    prefix: `oltron_${name}_${hash}`,
    name: `${name}_${hash}`,
    rows: cfg.rows,
    cols: cfg.cols,
    flexLines: cfg.flexLines,
    effRows,
    pes: { efficient: effRows * cfg.cols, flexible: cfg.flexLines * cfg.cols, total: cfg.rows * cfg.cols },
    laneToRow: Array.from({ length: cfg.rows }, (_, l) => (l + effRows) % cfg.rows),
    psumMinBits,
    maxSalientPerTile,
    act,
    wgt,
    out,
    descriptorBits,
    descriptorWords: Math.ceil(descriptorBits / W),
    // Entries per tile slot, a power of two >= 2: the slot is read as an even and an odd bank.
    inputBufferEntries: Math.max(2, pow2ceil(Math.ceil((cfg.bufferTokens * act.rowBits) / act.entryBits))),
    weightBufferEntries: pow2ceil(Math.ceil(cfg.rows / wgt.rowsPerEntry)),
    widths: {
      token: Math.max(1, clog2(cfg.bufferTokens + 1)),
      lane: Math.max(1, clog2(cfg.rows + 1)),
      shift: 5,
      flexInt: 5,
    },
  };
}

/** Loads a design.json written by `oltron generate`, re-elaborating to catch hand edits. */
export function designFromJson(obj: unknown, source: string): ElaboratedDesign {
  const config = obj && typeof obj === "object" ? (obj as { config?: unknown }).config : undefined;
  if (!config || typeof config !== "object" || Array.isArray(config)) {
    throw new UserError(`${source}: not an elaborated design (no 'config' object)`);
  }
  const d = elaborate(resolveConfig((obj as { config: Partial<ArchConfig> }).config));
  if ((obj as { hash?: string }).hash !== d.hash) {
    throw new UserError(`${source}: design hash ${(obj as { hash?: string }).hash} does not match its configuration (${d.hash}); regenerate it`);
  }
  return d;
}
