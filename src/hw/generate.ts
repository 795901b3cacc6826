/**
 * RTL generator: elaborated design -> template context -> Verilog files. All arithmetic on
 * widths happens here, so the templates only place precomputed, correctly sized
 * expressions. Output is a pure function of the design: byte-identical for the same config.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";
import { clog2, type ElaboratedDesign } from "./design.js";
import { DESC_FIELDS, DESC_FLAG_LAST, SALIENT_CODE } from "./descriptor.js";
import { ARCHS, FORMAT_CODE, PE_KINDS } from "./parts.js";
import { CTRL_ABORT, CTRL_START, ERROR_CODES, IRQ_DONE, IRQ_ERROR, REG_ADDR_BITS, REG_MAGIC, registers, type Register } from "./registers.js";

const TEMPLATE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "templates");

/**
 * The generated files, in dependency order (leaves first); the RAM modules come before ctrl.
 * Below the top: ctrl (AXI4-Lite slave), runctl (run start/stop and counters), axi_rd (AXI4
 * read master), the pipeline stages loader, preload, compute (decoder and array), accum and
 * writeback (AXI4 write master), and stats (per-descriptor statistics).
 */
export const RTL_PARTS = [
  "pe_eff", "pe_flex", "pe_w4a8", "pe_ovp", "decoder", "array", "ctrl", "runctl", "axi_rd", "loader", "preload", "compute", "accum", "writeback", "stats", "top",
] as const;

/** The template a part of this design is generated from, or null when the design has no such part. */
function partTemplate(d: ElaboratedDesign, part: (typeof RTL_PARTS)[number]): { template: string; file: string } | null {
  const file = `${d.prefix}_${part}.v`;
  const hasPe = (pe: string) => d.grid.some((g) => g.pe === pe);
  switch (part) {
    case "pe_eff": case "pe_flex": case "pe_w4a8": case "pe_ovp":
      return hasPe(part.slice(3)) ? { template: part, file } : null;
    case "decoder":
      return d.decoder === "tobe" ? { template: "decoder", file } : d.decoder === "ovp" ? { template: "decoder_ovp", file: `${d.prefix}_decoder_ovp.v` } : null;
    case "array":
      return { template: d.decoder === "tobe" ? "array" : "array_uniform", file };
    default:
      return { template: part, file };
  }
}

/** One synchronous RAM shape (templates/ram.v.hbs); its module name carries the shape. */
export interface RamShape {
  name: string;
  width: number;
  depth: number;
  /** Write-enable lanes (1: whole word). */
  lanes: number;
  /** Instances in the design. */
  instances: number;
  uses: string;
}

/** The RAMs of a design: input buffer, weight buffer, per-column accumulators, output buffers, statistics. */
/**
 * Cycles a stopped run waits without an AXI handshake before abandoning what a faulty memory
 * left outstanding (docs/architecture.md, "Faults"): far above any legal latency we test (600).
 */
export const DRAIN_CYCLES = 4096;
const DRAIN_BITS = 13;

export function ramShapes(d: ElaboratedDesign): Record<"ibuf" | "wbuf" | "acc" | "out" | "stats", RamShape> {
  const T = 2 ** Math.max(1, lg(d.config.bufferTokens));
  const shape = (width: number, depth: number, lanes: number, instances: number, uses: string): RamShape => ({
    name: `${d.prefix}_ram_${width}x${depth}${lanes > 1 ? `_m${lanes}` : ""}`, width, depth, lanes, instances, uses,
  });
  return {
    ibuf: shape(d.act.entryBits, (d.config.loadSlots * d.inputBufferEntries) / 2, d.act.wordsPerEntry, 2, `input buffer (${d.config.loadSlots} tile slots; even and odd entries in two instances)`),
    wbuf: shape(d.wgt.entryBits, d.config.loadSlots * d.weightBufferEntries, d.wgt.wordsPerEntry, 1, `weight buffer (${d.config.loadSlots} tile slots)`),
    acc: shape(32, T, 1, d.cols, "column accumulators (one per column)"),
    out: shape(32, 2 * T, 1, d.cols, "column output buffers (two N-tile banks, one per column)"),
    stats: shape(64, d.config.statsDepth, 1, 1, "per-descriptor statistics (issue-end cycle and busy cycles)"),
  };
}

export interface GeneratedRtl {
  /** file name -> contents, RTL sources in compile order. */
  sources: Record<string, string>;
  /** Testbench file name -> contents. */
  testbench: Record<string, string>;
  /** C header for software (parameters, strides, descriptor layout, registers, error codes). */
  header: Record<string, string>;
  /** C++ host for the Verilator model, running the C driver of examples/driver over AXI4-Lite. */
  host: Record<string, string>;
  top: string;
  tbTop: string;
}

let hb: typeof Handlebars | undefined;
const compiled = new Map<string, Handlebars.TemplateDelegate>();

function engine(): typeof Handlebars {
  if (hb) return hb;
  hb = Handlebars.create();
  hb.registerHelper("concat", (...args: unknown[]) => args.slice(0, -1).join(""));
  hb.registerPartial("header", fs.readFileSync(path.join(TEMPLATE_DIR, "header.hbs"), "utf8"));
  for (const partial of ["weights", "tb_memory", "tb_events", "tb_host", "unit_tb_rd", "unit_tb_wr"]) hb.registerPartial(partial, fs.readFileSync(path.join(TEMPLATE_DIR, `${partial}.hbs`), "utf8"));
  return hb;
}

function template(name: string, ext = "v"): Handlebars.TemplateDelegate {
  let t = compiled.get(name);
  if (!t) {
    t = engine().compile(fs.readFileSync(path.join(TEMPLATE_DIR, `${name}.${ext}.hbs`), "utf8"), { noEscape: true, strict: true });
    compiled.set(name, t);
  }
  return t;
}

const lg = (n: number) => Math.round(Math.log2(n));

/** Verilog expression for the words a block of `rows` rows (32-bit signal `x`) occupies. */
function blockWordsExpr(x: string, rowsPerWord: number, wordsPerRow: number): string {
  if (rowsPerWord > 1) return `(${x} + 32'd${rowsPerWord - 1}) >> ${lg(rowsPerWord)}`;
  if (wordsPerRow > 1) return `${x} << ${lg(wordsPerRow)}`;
  return x;
}

/** Write port of a buffer RAM for the read beat rb_data at word index rb_idx of slot rb_slot. */
function bufferWrite(depth: number, wordsPerEntry: number, W: number): { addr: string; data: string; mask: string } {
  const lgD = lg(depth);
  const lgE = lg(wordsPerEntry);
  return {
    addr: lgD === 0 ? "rb_slot" : `{rb_slot, rb_idx[${lgE + lgD - 1}:${lgE}]}`,
    data: wordsPerEntry === 1 ? "rb_data" : `{${wordsPerEntry}{rb_data}}`,
    mask: wordsPerEntry === 1 ? "1'b1" : `${wordsPerEntry}'d1 << rb_idx[${lgE - 1}:0]`,
  };
}

export function templateContext(d: ElaboratedDesign): Record<string, unknown> {
  const R = d.rows;
  const C = d.cols;
  const F = d.flexLines;
  const EFF = d.effRows;
  const W = d.config.memWordBits;
  const laneBits = clog2(R + 1);
  const tokIdxBits = Math.max(1, lg(d.config.bufferTokens));
  const types = d.config.salientTypes;
  const fp8 = types.includes("fp8");
  const fp12 = types.includes("fp12");
  const both = fp8 && fp12;
  const psum = d.config.psumBits;
  const actRowBits = d.act.rowBits;
  const ibDepth = d.inputBufferEntries;
  const wbDepth = d.weightBufferEntries;

  const flexLanes = Array.from({ length: F }, (_, L) => {
    const hasFp12 = fp12 && L < 2 * Math.floor(F / 2);
    const fp12hi = hasFp12 && L % 2 === 0;
    const fp12lo = hasFp12 && L % 2 === 1;
    const i8 = `lane${L}_i8`;
    const i12 = hasFp12 ? `lane${L}_i12` : "5'd0";
    const s8 = `lane${L}_sh8`;
    const s12 = hasFp12 ? `lane${L}_sh12` : "5'd0";
    return {
      L,
      qLsb: 4 * L,
      busLsb: 5 * L,
      fp8,
      fp12hi,
      fp12lo,
      c8Lsb: 8 * L,
      c12Lsb: 16 * Math.floor(L / 2),
      salInt: both ? `(is_fp12 ? ${i12} : ${i8})` : fp8 ? i8 : i12,
      salSh: both ? `(is_fp12 ? ${s12} : ${s8})` : fp8 ? s8 : s12,
    };
  });

  const wRpe = d.wgt.rowsPerEntry;
  const out = d.out;
  const outPacked = out.rowsPerWord > 1;
  const descWords = d.descriptorWords;
  const descCapture =
    W >= 512
      ? W === 512 ? "desc_reg <= rb_data;" : "desc_reg <= rb_data[511:0];"
      : `desc_reg[{rb_idx[${lg(descWords) - 1}:0], ${lg(W)}'d0} +: ${W}] <= rb_data;`;
  const lgB = lg(W / 8);
  const words4k = 4096 / (W / 8);
  const nOut = d.config.axiMaxReads;
  const otIdxBits = Math.max(1, clog2(nOut));
  const idBits = d.config.axiIdBits;
  const wordsPerSlot = Math.max(ibDepth * d.act.wordsPerEntry, wbDepth * d.wgt.wordsPerEntry, descWords);
  const xIdxBits = Math.max(1, clog2(wordsPerSlot + 1));
  const rams = ramShapes(d);
  // Input buffer: entries of E bits, even entries in one RAM and odd ones in the other.
  const E = d.act.entryBits;
  const lgEw = lg(d.act.wordsPerEntry);
  const lgP = lg(ibDepth);
  const ibW = {
    addr: lgP === 1 ? "rb_slot" : `{rb_slot, rb_idx[${lgEw + lgP - 1}:${lgEw + 1}]}`,
    data: d.act.wordsPerEntry === 1 ? "rb_data" : `{${d.act.wordsPerEntry}{rb_data}}`,
    mask: d.act.wordsPerEntry === 1 ? "1'b1" : `${d.act.wordsPerEntry}'d1 << rb_idx[${lgEw - 1}:0]`,
  };
  const wbW = bufferWrite(wbDepth, d.wgt.wordsPerEntry, W);
  const regs = registers(d).map((r: Register) => ({ ...r, hex: r.offset.toString(16).padStart(2, "0") }));
  const wbIdx = lg(wbDepth) === 0 ? "pl_slot" : `{pl_slot, pl_ch_w[${lg(wRpe) + lg(wbDepth) - 1}:${lg(wRpe)}]}`;

  const arch = ARCHS[d.arch];
  const pe = PE_KINDS[arch.pe];
  const opBits = pe.opBits;
  const signExt = (from: number, to: number, x: string) => (to === from ? x : `{ {${to - from}{${x}[${from - 1}]}}, ${x} }`);
  // Descriptor type codes this design accepts, and the decoder's per-tile mode bit.
  const codes = d.formats.includes("tobe")
    ? [0, ...(fp8 ? [1] : []), ...(fp12 ? [2] : [])]
    : d.formats.map((f) => FORMAT_CODE[f as keyof typeof FORMAT_CODE]);
  return {
    ...d,
    archNote: d.arch === "oltron" ? "" : `${d.arch} (${arch.doc})`,
    archTobe: d.decoder === "tobe",
    decoderOvp: d.decoder === "ovp",
    decoderDoc: d.decoder === "ovp" ? "OVP pair decoder" : "token row as stored (no decoder)",
    peKind: pe,
    peModule: `${d.prefix}_${pe.template}`,
    opBits,
    opMsb: opBits - 1,
    opBitsTag: opBits + 1,
    opBitsTag1: opBits + 2,
    opMsbTag: opBits,
    opBusMsb: R * opBits - 1,
    pairs: R / 2,
    bottomExt: signExt(psum, 32, "bottom"),
    prodExt12: signExt(12, psum, "prod"),
    effProdExt: signExt(8, psum, "prod"),
    prodExt15: signExt(15, psum, "shifted"),
    typeOkExpr: codes.map((c) => `(f_type == 32'd${c})`).join(" || "),
    modeExpr: d.decoder === "ovp" ? `f_type == 32'd${FORMAT_CODE["ovp-flint"]}` : "f_type == 32'd2",
    modeUsed: both || d.decoder === "ovp",
    typesList: types.join(",") || "none",
    psumMsb: psum - 1,
    psumBits: psum,
    psumPad4: psum - 4,
    wFileMsb: 4 * R - 1,
    wRowMsb: clog2(R) - 1,
    wRowSpare: clog2(R) < laneBits,
    wFileBits: 4 * R,
    hasEff: EFF > 0,
    hasFlex: F > 0,
    bothTypes: both,
    effRowsMinus1: EFF - 1,
    flexLinesMinus1: F - 1,
    rowsMinus1: R - 1,
    colsMinus1: C - 1,
    laneBits,
    laneBitsMinus1: laneBits - 1,
    laneMsb: laneBits - 1,
    laneWidenExpr: `{${64 - laneBits}'d0, dut.u_compute.is_sw}`,
    pad32Lane: 32 - laneBits,
    effRowsBits: `${laneBits}'d${EFF}`,
    actRowMsb: actRowBits - 1,
    actRowBits,
    flexBusMsb: 5 * F - 1,
    effBusMsb: 4 * EFF - 1,
    effNibbleLsb: 4 * F,
    effNibbleMsb: 4 * R - 1,
    flexLanes,
    wgtRowMsb: 4 * C - 1,
    wgtRowBits: 4 * C,
    colBusMsb: 32 * C - 1,
    effPsumBusMsb: psum * C - 1,
    effPsumBusBits: psum * C,
    effJoinExpr: psum === 32 ? "eff_out" : `{ {${32 - psum}{eff_out[${psum - 1}]}}, eff_out }`,
    wordMsb: W - 1,
    ibDepth,
    wbDepth,
    actEntryMsb: d.act.entryBits - 1,
    wgtEntryMsb: d.wgt.entryBits - 1,
    descRegMsb: 511,
    descWords,
    descWordsMinus1: descWords - 1,
    descCapture,
    ibufWriteAddr: ibW.addr,
    ibufWriteData: ibW.data,
    ibufWriteMask: ibW.mask,
    wbufWriteAddr: wbW.addr,
    wbufWriteData: wbW.data,
    wbufWriteMask: wbW.mask,
    actWordsExpr: `(f_m * 32'd${d.act.rowBits} + 32'd${W - 1}) >> ${lg(W)}`,
    ibWriteBank: `rb_idx[${lgEw}]`,
    ibufReadEven: lgP === 1 ? "is_slot" : `{is_slot, ib_e1[${lgP - 1}:1]}`,
    ibufReadOdd: lgP === 1 ? "is_slot" : `{is_slot, ib_e0[${lgP - 1}:1]}`,
    ibBitBits: lgP + lg(E),
    ibBitMsb: lgP + lg(E) - 1,
    ibOffBits: lg(E),
    ibOffMsb: lg(E) - 1,
    ibEntryBits: lgP,
    ibEntryMsb: lgP - 1,
    ibPairMsb: 2 * E - 1,
    wgtWordsExpr: blockWordsExpr("f_ct", d.wgt.rowsPerWord, d.wgt.wordsPerRow),
    outWordsExpr: blockWordsExpr("f_m", d.out.rowsPerWord, d.out.wordsPerRow),
    rams: Object.fromEntries(Object.entries(rams).map(([k, r]) => [k, { ...r, masked: r.lanes > 1 }])),
    regs,
    reg: Object.fromEntries(regs.map((r) => [r.name, r.hex])),
    tbQueue: Math.max(8, nOut + 2),
    // Write bursts awaiting their response, at most (each remembers its descriptor for
    // ERROR_INFO): at least the testbench memory's queue, so that memory never meets the limit.
    wqSlots: 2 ** Math.ceil(Math.log2(Math.max(8, nOut + 2))),
    wqBits: Math.ceil(Math.log2(Math.max(8, nOut + 2))),
    wqMsb: Math.ceil(Math.log2(Math.max(8, nOut + 2))) - 1,
    wqCountBits: Math.ceil(Math.log2(Math.max(8, nOut + 2))) + 1,
    regAddrBits: REG_ADDR_BITS,
    regAddrMsb: REG_ADDR_BITS - 1,
    // Each module declares the error codes it raises or compares: ERR_X = 8'd{{errCode.X}}.
    errCode: Object.fromEntries(ERROR_CODES.map((e) => [e.name, e.code])),
    // A stopped run abandons AXI transactions a faulty memory leaves outstanding this long.
    drainCycles: DRAIN_CYCLES,
    drainBits: DRAIN_BITS,
    drainMsb: DRAIN_BITS - 1,
    hasFp8: fp8,
    hasFp12: fp12,
    idBits,
    idMsb: idBits - 1,
    // The top ID bit: the testbench's faulty memory flips it to make an ID no burst has.
    idTop: 2 ** (idBits - 1),
    nOut,
    nOutMinus1: nOut - 1,
    otSlots: 2 ** otIdxBits,
    otSlotsMinus1: 2 ** otIdxBits - 1,
    otIdxBits,
    otIdxMsb: otIdxBits - 1,
    rEntryExpr: idBits === otIdxBits ? "m_axi_rid" : `m_axi_rid[${otIdxBits - 1}:0]`,
    rIdInRange: [
      ...(idBits > otIdxBits ? [`m_axi_rid[${idBits - 1}:${otIdxBits}] == ${idBits - otIdxBits}'d0`] : []),
      ...(nOut < 2 ** otIdxBits ? [`r_e < ${otIdxBits}'d${nOut}`] : []),
    ].map((c) => `${c} && `).join(""),
    arIdExpr: idBits === otIdxBits ? "ot_free" : `{${idBits - otIdxBits}'d0, ot_free}`,
    strbBits: W / 8,
    strbMsb: W / 8 - 1,
    axSize: lgB,
    lgB,
    lgBMsb: lgB - 1,
    words4k,
    lg4kMsb: lg(words4k) - 1,
    pad4k: 32 - lg(words4k),
    addrLimitWords: 2 ** (32 - lgB),
    descBaseWordExpr: `{${lgB}'d0, ctl_desc_base[31:${lgB}]}`,
    // Word addresses between the loader and the read master: the bits a 32-bit byte address holds.
    wordAddrMsb: 31 - lgB,
    arAddrExpr: `{req_addr, ${lgB}'d0}`,
    awAddrExpr: `{aw_addr[${31 - lgB}:0], ${lgB}'d0}`,
    xIdxBits,
    xIdxMsb: xIdxBits - 1,
    // Longest transfer the unit testbench gives the read master: its buffer word index range, capped to keep runs short.
    unitMaxWords: Math.min(2 ** xIdxBits - 1, 300),
    rowsMinus2: R - 2,
    statsBits: lg(d.config.statsDepth),
    statsMsb: lg(d.config.statsDepth) - 1,
    slots: d.config.loadSlots,
    slotsMinus1: d.config.loadSlots - 1,
    slotBits: lg(d.config.loadSlots),
    slotMsb: lg(d.config.loadSlots) - 1,
    tokIdxBits,
    tokIdxMsb: tokIdxBits - 1,
    plLaneExpr:
      F === 0 || EFF === 0
        ? "pl_row"
        : `(pl_row >= ${laneBits}'d${EFF}) ? pl_row - ${laneBits}'d${EFF} : pl_row + ${laneBits}'d${F}`,
    wbufReadIdx: wbIdx,
    wbufReadShift: wRpe === 1 ? "1'b0" : `{wl_ch_q[${lg(wRpe) - 1}:0], ${lg(d.wgt.strideBits)}'d0}`,
    ctlBits: tokIdxBits + 5,
    ctlDepth: R + C - 1,
    ctlShiftExpr:
      R + C - 1 === 1
        ? "{t_valid, t_end, t_last, t_obank, t_first, t_m}"
        : "{ctl_sr[CTL_W*(CTL_D-1)-1:0], t_valid, t_end, t_last, t_obank, t_first, t_m}",
    outStrideMsb: out.strideBits - 1,
    outStrideBits: out.strideBits,
    wbRowPadded: out.strideBits === 32 * C ? "wb_row" : `{ ${out.strideBits - 32 * C}'d0, wb_row }`,
    outPacked,
    outRowsPerWord: out.rowsPerWord,
    outRowsPerWordMinus1: out.rowsPerWord - 1,
    outPosBits: Math.max(1, lg(out.rowsPerWord)),
    outPosMsb: Math.max(1, lg(out.rowsPerWord)) - 1,
    outPadBits: W - out.strideBits,
    outStrideLog: lg(out.strideBits),
    outWordsPerRow: out.wordsPerRow,
    outWordsPerRowMinus1: out.wordsPerRow - 1,
    outMultiWord: out.wordsPerRow > 1,
    outQBits: Math.max(1, lg(out.wordsPerRow)),
    outQMsb: Math.max(1, lg(out.wordsPerRow)) - 1,
  };
}

export function generateRtl(d: ElaboratedDesign): GeneratedRtl {
  const ctx = templateContext(d);
  const sources: Record<string, string> = {};
  const ctxUses = new Map<string, string>();
  for (const part of RTL_PARTS) {
    const gen = partTemplate(d, part);
    if (!gen) continue;
    if (part === "ctrl") {
      for (const ram of Object.values(ramShapes(d))) {
        const file = `${ram.name}.v`;
        const ramCtx = {
          ...ram, masked: ram.lanes > 1, addrMsb: clog2(ram.depth) - 1, widthMsb: ram.width - 1,
          lanesMsb: ram.lanes - 1, laneBits: ram.width / ram.lanes, depthMinus1: ram.depth - 1,
        };
        // Two buffers of one shape share the module; its comment lists both uses.
        const prev = sources[file] ? (ctxUses.get(file) ?? "") + "; " : "";
        ctxUses.set(file, prev + ram.uses);
        sources[file] = tidy(template("ram")({ ...ctx, ram: { ...ramCtx, uses: ctxUses.get(file) } }));
      }
    }
    sources[gen.file] = tidy(template(gen.template)(ctx));
  }
  const tbName = `${d.prefix}_tb.v`;
  const headerCtx = {
    ...ctx,
    guard: `${d.prefix.toUpperCase()}_PARAMS_H`,
    hasFp8: d.config.salientTypes.includes("fp8") ? 1 : 0,
    hasFp12: d.config.salientTypes.includes("fp12") ? 1 : 0,
    maxSFp8: d.maxSalientPerTile.fp8 ?? 0,
    maxSFp12: d.maxSalientPerTile.fp12 ?? 0,
    flagLast: DESC_FLAG_LAST,
    salientNone: SALIENT_CODE.none,
    salientFp8: SALIENT_CODE.fp8,
    salientFp12: SALIENT_CODE.fp12,
    formatInt8: FORMAT_CODE.int8,
    formatOvpInt: FORMAT_CODE["ovp-int"],
    formatOvpFlint: FORMAT_CODE["ovp-flint"],
    descFields: DESC_FIELDS.map((f) => f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)),
    descReserved: d.descriptorBits / 32 - DESC_FIELDS.length,
    hRegs: registers(d).map((r) => ({ ...r, hex: `0x${r.offset.toString(16).padStart(2, "0")}u` })),
    hErrors: ERROR_CODES,
    ctrlStart: CTRL_START,
    ctrlAbort: CTRL_ABORT,
    irqDone: IRQ_DONE,
    irqError: IRQ_ERROR,
    magic: `0x${REG_MAGIC.toString(16).toUpperCase()}u`,
  };
  const W = d.config.memWordBits;
  const chunks = W / 32;
  const hostCtx = {
    ...ctx,
    hostSetRdata: W === 32 ? "        top->m_axi_rdata = p[0];"
      : W === 64 ? "        top->m_axi_rdata = ((uint64_t)p[1] << 32) | p[0];"
        : `        for (unsigned i = 0; i < ${chunks}; i++) top->m_axi_rdata[i] = p[i];`,
    hostGetWdata: W === 32 ? "        p[0] = top->m_axi_wdata;"
      : W === 64 ? "        p[0] = (uint32_t)top->m_axi_wdata;\n        p[1] = (uint32_t)(top->m_axi_wdata >> 32);"
        : `        for (unsigned i = 0; i < ${chunks}; i++) p[i] = top->m_axi_wdata[i];`,
    hostGetWstrb: W / 8 <= 64 ? `        const uint64_t v = top->m_axi_wstrb;\n        for (unsigned i = 0; i < ${W / 8}; i++) s[i] = (v >> i) & 1u;`
      : `        for (unsigned i = 0; i < ${W / 8}; i++) s[i] = (top->m_axi_wstrb[i / 32] >> (i % 32)) & 1u;`,
  };
  return {
    sources,
    testbench: { [tbName]: tidy(template("tb")(ctx)) },
    host: { [`${d.prefix}_host.cpp`]: tidy(template("host", "cpp")(hostCtx)) },
    header: { [`${d.prefix}_params.h`]: tidy(template("params", "h")(headerCtx)) },
    top: `${d.prefix}_top`,
    tbTop: `${d.prefix}_tb`,
  };
}

/**
 * The unit testbenches of the AXI4 read master and the write-back (templates/unit_tb.v.hbs)
 * of several designs, with the modules they drive, and a top that runs them side by side and
 * ends when all have finished: one simulator build covers every configuration. Sources in
 * compile order; test/units.test.ts builds and runs them.
 */
export function generateUnitBench(ds: ElaboratedDesign[]): { sources: Record<string, string>; top: string } {
  const sources: Record<string, string> = {};
  for (const d of ds) {
    const rtl = generateRtl(d);
    for (const part of ["axi_rd", "writeback"]) sources[`${d.prefix}_${part}.v`] = rtl.sources[`${d.prefix}_${part}.v`];
    sources[`${d.prefix}_unit_tb.v`] = tidy(template("unit_tb")(templateContext(d)));
  }
  const top = "oltron_unit_all";
  sources[`${top}.v`] = [
    "// Runs the unit testbenches of several designs in one simulation; ends when all have finished.",
    "`timescale 1ns/1ps",
    `module ${top};`,
    ...ds.map((d, i) => `    ${d.prefix}_unit_tb #(.STANDALONE(0)) u${i} ();`),
    `    always @(posedge u0.clk) if (${ds.map((_, i) => `u${i}.finished`).join(" && ")}) $finish;`,
    "endmodule",
    "",
  ].join("\n");
  return { sources, top };
}

/** Collapses the blank lines template conditionals leave behind. */
function tidy(s: string): string {
  return s.replace(/[ \t]+$/gm, "").replace(/\n{3,}/g, "\n\n").trimStart();
}
