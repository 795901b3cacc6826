/**
 * The software-visible contract of the accelerator, in one place: the AXI4-Lite register
 * map and the error codes. The RTL (control slave read mux, error localparams), the C header,
 * docs/architecture.md and the simulator driver's error names are all generated from here.
 */
import { GENERATOR_VERSION, type ElaboratedDesign } from "./design.js";

export type Access = "ro" | "rw" | "wo" | "w1c";

export interface Register {
  name: string;
  /** Byte offset on the AXI4-Lite bus. */
  offset: number;
  access: Access;
  doc: string;
  /** Verilog expression read back (32 bits) inside the control slave; absent for write-only. */
  read?: string;
}

/** Bits of the AXI4-Lite byte address: 64 registers of 32 bits. */
export const REG_ADDR_BITS = 8;

/** 'OLTR' in ASCII: lets software check it talks to an oltron accelerator. */
export const REG_MAGIC = 0x4f4c5452;

export const CTRL_START = 1;
export const CTRL_ABORT = 2;
export const IRQ_DONE = 1;
export const IRQ_ERROR = 2;

export function versionWord(): number {
  const [maj, min, patch] = GENERATOR_VERSION.split(".").map(Number);
  return ((maj & 0xff) << 16) | ((min & 0xff) << 8) | (patch & 0xff);
}

export function registers(d: ElaboratedDesign): Register[] {
  const hex = (v: number) => `32'h${(v >>> 0).toString(16).padStart(8, "0")}`;
  const typeMask = (d.config.salientTypes.includes("fp8") ? 1 : 0) | (d.config.salientTypes.includes("fp12") ? 2 : 0);
  const lg = (n: number) => Math.round(Math.log2(n));
  const features = (d.flexLines & 0xffff) | (typeMask << 16) | (lg(d.config.memWordBits) << 20) | (lg(d.config.bufferTokens) << 24);
  const counter = (name: string, sig: string, doc: string): Register[] => [
    { name: `${name}_LO`, offset: 0, access: "ro", doc: `${doc}, bits 31:0`, read: `${sig}[31:0]` },
    { name: `${name}_HI`, offset: 0, access: "ro", doc: `${doc}, bits 63:32`, read: `${sig}[63:32]` },
  ];
  const regs: Register[] = [
    { name: "ID", offset: 0x00, access: "ro", doc: "magic 0x4F4C5452 ('OLTR')", read: hex(REG_MAGIC) },
    { name: "VERSION", offset: 0x04, access: "ro", doc: "generator version: major [23:16], minor [15:8], patch [7:0]", read: hex(versionWord()) },
    { name: "HASH", offset: 0x08, access: "ro", doc: "configuration hash (the module-name suffix) as a 24-bit number", read: hex(parseInt(d.hash, 16)) },
    { name: "GEOMETRY", offset: 0x0c, access: "ro", doc: "rows [15:0], cols [31:16]", read: hex((d.rows & 0xffff) | ((d.cols & 0xffff) << 16)) },
    {
      name: "FEATURES", offset: 0x10, access: "ro",
      doc: "flexLines [15:0], salient types [17:16] (bit 16 fp8, bit 17 fp12), log2 memWordBits [23:20], log2 bufferTokens [28:24]",
      read: hex(features),
    },
    { name: "CTRL", offset: 0x14, access: "wo", doc: "write 1 to bit 0 to start a run (ignored while busy); bit 1 aborts a run (it stops cleanly with error ABORTED)" },
    {
      name: "STATUS", offset: 0x18, access: "ro",
      doc: "busy [0], done [1] (last run finished without error), error [2], error code [15:8]",
      read: "{16'd0, err_code, 5'd0, err_code != 8'd0, done, busy}",
    },
    { name: "DESC_BASE", offset: 0x1c, access: "rw", doc: "byte address of the descriptor table (a multiple of the memory word size)", read: "desc_base" },
    { name: "IRQ_ENABLE", offset: 0x20, access: "rw", doc: "interrupt enables: done [0], error [1]", read: "{30'd0, irq_en}" },
    { name: "IRQ_STATUS", offset: 0x24, access: "w1c", doc: "pending interrupts: done [0], error [1]; write 1 to clear", read: "{30'd0, irq_pend}" },
    { name: "ERROR_INFO", offset: 0x28, access: "ro", doc: "index of the descriptor the error belongs to: the one whose read or write burst failed, the one the loader refused, or the one being loaded at an abort", read: "err_desc" },
    { name: "DESC_COUNT", offset: 0x2c, access: "ro", doc: "descriptors fetched in the current or last run", read: "desc_count" },
    ...counter("CYCLES_TOTAL", "cycles_total", "cycles from start to the end of the run"),
    ...counter("CYCLES_BUSY", "cycles_busy", "cycles the array was fed a token row"),
    ...counter("CYCLES_STALL", "cycles_stall", "cycles_total - cycles_busy"),
    ...counter("WORDS_READ", "words_read", "memory words read (AXI R beats)"),
    ...counter("WORDS_WRITTEN", "words_written", "memory words written (AXI W beats with data)"),
    { name: "STATS_COUNT", offset: 0, access: "ro", doc: "descriptors whose last token was issued in the current or last run (the first statsDepth of them are recorded)", read: "stats_count" },
    { name: "STATS_INDEX", offset: 0, access: "rw", doc: "descriptor whose statistics STATS_ISSUE_END and STATS_BUSY show (0 = the first of the run)", read: "stats_index" },
    {
      name: "STATS_ISSUE_END", offset: 0, access: "ro",
      doc: "CYCLES_TOTAL (bits 31:0) at the end of the cycle that issued descriptor STATS_INDEX's last token; 0 when not recorded (STATS_INDEX >= STATS_COUNT, or past the first statsDepth): never an earlier run's",
      read: "stats_ok ? stats_q[31:0] : 32'd0",
    },
    {
      name: "STATS_BUSY", offset: 0, access: "ro",
      doc: "CYCLES_BUSY (bits 31:0) at the same cycle: consecutive differences are each descriptor's busy cycles",
      read: "stats_ok ? stats_q[63:32] : 32'd0",
    },
    {
      name: "DESC_LIMIT", offset: 0, access: "rw",
      doc: "most descriptors a run reads, 0 = no limit: a table whose last-descriptor flag is not among its first DESC_LIMIT descriptors stops with DESC_LIMIT instead of being read on into whatever follows it",
      read: "desc_limit",
    },
  ];
  let next = 0x30;
  for (const r of regs) {
    if (r.offset === 0 && r.name !== "ID") {
      r.offset = next;
      next += 4;
    }
  }
  return regs;
}

export interface ErrorCode {
  name: string;
  code: number;
  doc: string;
}

/**
 * Why a run stopped without `done`. Codes are stable: software and `oltron sim` name them.
 * Descriptor checks run when a descriptor has landed, before any of its tiles is fetched.
 */
export const ERROR_CODES: readonly ErrorCode[] = [
  { name: "NONE", code: 0, doc: "no error" },
  { name: "READ_SLVERR", code: 1, doc: "a read burst returned SLVERR" },
  { name: "READ_DECERR", code: 2, doc: "a read burst returned DECERR (no memory at that address)" },
  { name: "WRITE_SLVERR", code: 3, doc: "a write burst returned SLVERR" },
  { name: "WRITE_DECERR", code: 4, doc: "a write burst returned DECERR (no memory at that address)" },
  { name: "AXI_PROTOCOL", code: 5, doc: "the memory answered a read ID that was not outstanding, put RLAST on the wrong beat, or sent a write response nobody asked for or with an ID no write burst has; the run ends once what is outstanding completes or is abandoned (docs/architecture.md, Faults)" },
  { name: "DESC_ALIGN", code: 16, doc: "DESC_BASE is not a multiple of the memory word size" },
  { name: "DESC_TOKENS", code: 17, doc: "descriptor m is 0 or larger than bufferTokens" },
  { name: "DESC_KTILES", code: 18, doc: "descriptor kTiles is 0" },
  { name: "DESC_NTILES", code: 19, doc: "descriptor nTiles is 0" },
  { name: "DESC_CHANNELS", code: 20, doc: "descriptor tileChannels is 0 or larger than rows" },
  { name: "DESC_TYPE", code: 21, doc: "descriptor salientType is not a type this design supports (0 none, 1 fp8, 2 fp12)" },
  { name: "DESC_SALIENT", code: 22, doc: "descriptor S does not fit: S > tileChannels, salient lanes > flexLines, lanes + normal channels > rows, or S > 0 with type none" },
  { name: "DESC_ADDRESS", code: 23, doc: "a block of the descriptor lies beyond the 32-bit byte address space" },
  { name: "DESC_LIMIT", code: 24, doc: "DESC_LIMIT descriptors were read and none carried the last-descriptor flag (ERROR_INFO: DESC_LIMIT, the first descriptor not read)" },
  { name: "ABORTED", code: 32, doc: "the host wrote CTRL.abort" },
];

export function errorName(code: number): string {
  return ERROR_CODES.find((e) => e.code === code)?.name ?? `UNKNOWN_${code}`;
}

/** The register map as a markdown table (docs/architecture.md and `oltron report registers`). */
export function registerMapMarkdown(d: ElaboratedDesign): string {
  const rows = registers(d).map((r) => `| \`0x${r.offset.toString(16).padStart(2, "0")}\` | \`${r.name}\` | ${r.access} | ${r.doc} |`);
  return ["| offset | register | access | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

export function errorCodesMarkdown(): string {
  const rows = ERROR_CODES.map((e) => `| ${e.code} | \`${e.name}\` | ${e.doc} |`);
  return ["| code | name | meaning |", "|---|---|---|", ...rows].join("\n");
}
