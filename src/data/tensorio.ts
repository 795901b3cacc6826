/**
 * Tensor files in and out: NumPy .npy (format 1.0 / 2.0 / 3.0) and .safetensors.
 *
 * These are the formats real calibration dumps come in (numpy.save from a PyTorch hook,
 * or safetensors straight from a checkpoint). Everything is decoded into float32; float16
 * and bfloat16 are widened exactly. Readers are strict: a file that is truncated, padded,
 * self-inconsistent or holds NaN/Inf is rejected with a UserError naming the file and the
 * problem, because a quietly wrong calibration tensor would poison every later stage.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { numel, type Tensor } from "../core/tensor.js";

// ------------------------------------------------------------------ public API

export type NpyDtype = "f4" | "f2";
export type SafetensorsDtype = "F32" | "F16" | "BF16";

/** Readable dtypes; float64 is read and rounded to float32, oltron's working precision. */
export const NPY_DTYPES: readonly string[] = ["<f4", "<f2", "<f8"];
export const SAFETENSORS_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16"];
const SAFETENSORS_READ_DTYPES: readonly string[] = [...SAFETENSORS_DTYPES, "F64"];

/**
 * Reads one tensor from a .npy or .safetensors file (chosen by extension).
 * For safetensors, `name` selects the tensor; it may be omitted when the file holds
 * exactly one. A .npy file holds one unnamed tensor, so a `name` there is an error
 * rather than being silently ignored.
 */
export function readTensorFile(file: string, name?: string): Tensor {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".npy") {
    if (name !== undefined) {
      throw new UserError(`${file}: a .npy file holds one unnamed tensor; tensor name '${name}' does not apply`);
    }
    return readNpy(file);
  }
  if (ext === ".safetensors") {
    const buf = readWhole(file);
    const st = parseSafetensors(file, buf);
    const names = Object.keys(st.entries);
    let chosen = name;
    if (chosen === undefined) {
      if (names.length === 0) throw new UserError(`${file}: holds no tensors`);
      if (names.length > 1) {
        throw new UserError(`${file}: holds ${names.length} tensors, choose one by name: ${names.join(", ")}`);
      }
      chosen = names[0];
    }
    if (!Object.prototype.hasOwnProperty.call(st.entries, chosen)) {
      throw new UserError(`${file}: no tensor named '${chosen}'; tensors present: ${names.join(", ") || "(none)"}`);
    }
    return decodeSafetensorsEntry(file, st, chosen);
  }
  throw new UserError(`${file}: unsupported tensor file extension '${ext || "(none)"}'; expected .npy or .safetensors`);
}

/** File dtypes by the name a reader reports in Tensor.sourceDtype. */
const DTYPE_NAMES: Record<string, string> = { "<f8": "float64", "<f4": "float32", "<f2": "float16", F64: "float64", F32: "float32", F16: "float16", BF16: "bfloat16" };

/** Reads a .npy file (little-endian float64, float32 or float16, C or Fortran order). */
export function readNpy(file: string): Tensor {
  return decodeNpy(file, readWhole(file));
}

/** Reads every tensor of a .safetensors file; fails if any has an unsupported dtype. */
export function readSafetensors(file: string): Record<string, Tensor> {
  const buf = readWhole(file);
  const st = parseSafetensors(file, buf);
  const out: Record<string, Tensor> = {};
  for (const name of Object.keys(st.entries)) out[name] = decodeSafetensorsEntry(file, st, name);
  return out;
}

/** Names, dtypes and shapes in a .safetensors file, without decoding any data. */
export function listSafetensors(file: string): { name: string; dtype: string; shape: number[] }[] {
  const st = parseSafetensors(file, readWhole(file));
  return Object.entries(st.entries).map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape.slice() }));
}

/**
 * Writes a tensor as .npy (format 1.0, or 2.0 if the header would not fit), C order.
 * A finite value that overflows the target dtype is an error rather than a silent Inf.
 * NaN and Inf inputs are written as they are (the readers will then reject the file).
 */
export function writeNpy(file: string, t: Tensor, dtype: NpyDtype = "f4"): void {
  checkTensor(file, t, "tensor");
  if (dtype !== "f4" && dtype !== "f2") {
    throw new UserError(`${file}: unsupported npy dtype '${String(dtype)}'; supported: f4, f2`);
  }
  const shapeStr = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '<${dtype}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // numpy pads the header with spaces and a final newline so the data starts 64-aligned.
  let version = 1;
  let prelude = 10;
  if (header.length + 1 + prelude > 0xffff) {
    version = 2;
    prelude = 12;
  }
  const total = Math.ceil((prelude + header.length + 1) / 64) * 64;
  header = header + " ".repeat(total - prelude - header.length - 1) + "\n";
  const data = encodeFloats(file, "tensor", t.data, dtype === "f4" ? "F32" : "F16");
  const out = Buffer.alloc(total + data.length);
  out.write("\x93NUMPY", 0, "latin1");
  out[6] = version;
  out[7] = 0;
  if (version === 1) out.writeUInt16LE(header.length, 8);
  else out.writeUInt32LE(header.length, 8);
  out.write(header, prelude, "latin1");
  data.copy(out, total);
  writeAtomic(file, out);
}

/** Writes tensors as .safetensors, in insertion order, data contiguous and 8-byte aligned. */
export function writeSafetensors(
  file: string,
  tensors: Record<string, Tensor>,
  dtype: SafetensorsDtype = "F32",
): void {
  if (!SAFETENSORS_DTYPES.includes(dtype)) {
    throw new UserError(`${file}: unsupported safetensors dtype '${String(dtype)}'; supported: ${SAFETENSORS_DTYPES.join(", ")}`);
  }
  const header: Record<string, unknown> = {};
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "" || name === "__metadata__") {
      throw new UserError(`${file}: invalid tensor name '${name}'`);
    }
    checkTensor(file, t, `tensor '${name}'`);
    const blob = encodeFloats(file, `tensor '${name}'`, t.data, dtype);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = JSON.stringify(header);
  // The reference implementation pads the header with spaces to keep the data 8-aligned.
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const lenBytes = Buffer.alloc(8);
  lenBytes.writeBigUInt64LE(BigInt(headerBytes.length));
  writeAtomic(file, Buffer.concat([lenBytes, headerBytes, ...blobs]));
}

// ------------------------------------------------------------------ float conversions

let f16Table: Float32Array | undefined;

/** Exact binary16 → float, all 65536 codes (subnormals, ±Inf, NaN). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1024 + man) * 2 ** (exp - 25);
}

function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 → binary16 bits, round to nearest even; overflow gives ±Inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 | (man >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Below 2^-25 even the smallest subnormal is more than twice as far as zero.
    if (e < -10) return sign;
    const m = man | 0x800000;
    const shift = 14 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r; // r may carry into 0x400: the smallest normal, which is right
  }
  let r = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // a carry may reach 0x7c00 = Inf, also right
  return sign | r;
}

/** bfloat16 bits → float (exact: bf16 is the top half of a float32). */
export function bf16ToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

/** float32 → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0];
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

// ------------------------------------------------------------------ npy

const NPY_MAGIC = Buffer.from("\x93NUMPY", "latin1");

function decodeNpy(file: string, buf: Buffer): Tensor {
  if (buf.length < 6 || !buf.subarray(0, 6).equals(NPY_MAGIC)) {
    throw new UserError(`${file}: not an NPY file (bad magic)`);
  }
  if (buf.length < 8) throw new UserError(`${file}: truncated: file ends inside the NPY version field`);
  const major = buf[6];
  const minor = buf[7];
  if (!(major >= 1 && major <= 3 && minor === 0)) {
    throw new UserError(`${file}: unsupported NPY format version ${major}.${minor}; supported: 1.0, 2.0, 3.0`);
  }
  const prelude = major === 1 ? 10 : 12;
  if (buf.length < prelude) throw new UserError(`${file}: truncated: file ends inside the NPY header length field`);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  if (prelude + headerLen > buf.length) {
    throw new UserError(
      `${file}: truncated: header says ${headerLen} bytes of header, file has ${buf.length - prelude} after the prelude`,
    );
  }
  // Version 3.0 exists only to allow utf-8 in the header; earlier versions are latin-1.
  const headerText = buf.toString(major === 3 ? "utf8" : "latin1", prelude, prelude + headerLen);
  const hdr = parseNpyHeader(file, headerText);

  const itemSize = hdr.descr === "<f8" ? 8 : hdr.descr === "<f4" ? 4 : 2;
  const n = numel(hdr.shape);
  const dataStart = prelude + headerLen;
  const want = n * itemSize;
  const have = buf.length - dataStart;
  if (have < want) {
    throw new UserError(`${file}: truncated: header says ${want} bytes of data, file has ${have}`);
  }
  if (have > want) {
    throw new UserError(`${file}: corrupt: header says ${want} bytes of data, file has ${have} (${have - want} trailing bytes)`);
  }
  let data = decodeFloats(buf.subarray(dataStart), n, hdr.descr === "<f8" ? "F64" : hdr.descr === "<f4" ? "F32" : "F16", file);
  if (hdr.fortranOrder) data = fortranToC(data, hdr.shape);
  const t: Tensor = { shape: hdr.shape, data, sourceDtype: DTYPE_NAMES[hdr.descr] };
  checkFinite(file, "tensor", t);
  return t;
}

interface NpyHeader {
  descr: "<f4" | "<f2" | "<f8";
  fortranOrder: boolean;
  shape: number[];
}

function parseNpyHeader(file: string, text: string): NpyHeader {
  let value: PyValue;
  try {
    value = new PyLiteralParser(text).parseTop();
  } catch (e) {
    throw new UserError(`${file}: corrupt NPY header (${(e as Error).message}): ${JSON.stringify(text.trim())}`);
  }
  if (!(value instanceof Map)) throw new UserError(`${file}: corrupt NPY header: not a dict`);
  for (const key of ["descr", "fortran_order", "shape"]) {
    if (!value.has(key)) throw new UserError(`${file}: corrupt NPY header: missing '${key}'`);
  }
  const descr = value.get("descr");
  if (typeof descr !== "string") {
    throw new UserError(`${file}: unsupported dtype (structured array); supported: ${NPY_DTYPES.join(", ")}`);
  }
  if (descr !== "<f4" && descr !== "<f2" && descr !== "<f8") {
    const hint = descr.startsWith(">") ? " (big-endian data is not supported; re-save with dtype.newbyteorder('<'))" : "";
    throw new UserError(`${file}: unsupported dtype '${descr}'${hint}; supported: ${NPY_DTYPES.join(", ")}`);
  }
  const fortran = value.get("fortran_order");
  if (typeof fortran !== "boolean") throw new UserError(`${file}: corrupt NPY header: fortran_order is not True/False`);
  const shape = value.get("shape");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    throw new UserError(`${file}: corrupt NPY header: shape is not a tuple of non-negative integers`);
  }
  return { descr, fortranOrder: fortran, shape: shape as number[] };
}

/** Fortran (column-major) order stores axis 0 fastest; reorder into row-major. */
function fortranToC(src: Float32Array, shape: number[]): Float32Array {
  const nd = shape.length;
  if (nd < 2) return src;
  const fStride = new Array<number>(nd);
  let s = 1;
  for (let d = 0; d < nd; d++) {
    fStride[d] = s;
    s *= shape[d];
  }
  const out = new Float32Array(src.length);
  const idx = new Array<number>(nd).fill(0);
  let f = 0;
  for (let c = 0; c < out.length; c++) {
    out[c] = src[f];
    // Advance the row-major odometer (last axis fastest), tracking the Fortran offset.
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      f += fStride[d];
      if (idx[d] < shape[d]) break;
      f -= fStride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/** Just enough of Python's literal syntax for NPY headers (what numpy writes and what it accepts). */
class PyLiteralParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseTop(): PyValue {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) throw new Error(`unexpected '${this.s[this.i]}' at column ${this.i}`);
    return v;
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === undefined) throw new Error("unexpected end");
    if (c === "{") return this.dict();
    if (c === "(") return this.seq("(", ")");
    if (c === "[") return this.seq("[", "]");
    if (c === "'" || c === '"') return this.str();
    const word = /^(True|False|None)\b/.exec(this.s.slice(this.i));
    if (word) {
      this.i += word[0].length;
      return word[0] === "True" ? true : word[0] === "False" ? false : null;
    }
    // Python 2 era files write shapes as (3L, 4L).
    const num = /^[-+]?\d+[lL]?/.exec(this.s.slice(this.i));
    if (num) {
      this.i += num[0].length;
      return Number(num[0].replace(/[lL]$/, ""));
    }
    throw new Error(`unexpected '${c}' at column ${this.i}`);
  }

  private str(): string {
    const q = this.s[this.i++];
    let out = "";
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === "\\") this.i++;
      out += this.s[this.i++] ?? "";
    }
    if (this.s[this.i] !== q) throw new Error("unterminated string");
    this.i++;
    return out;
  }

  private seq(open: string, close: string): PyValue[] {
    this.i++; // open
    const items: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return items;
      }
      items.push(this.value());
      this.ws();
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== close) throw new Error(`expected ',' or '${close}' at column ${this.i}`);
    }
  }

  private dict(): Map<string, PyValue> {
    this.i++; // {
    const m = new Map<string, PyValue>();
    for (;;) {
      this.ws();
      if (this.s[this.i] === "}") {
        this.i++;
        return m;
      }
      const k = this.value();
      if (typeof k !== "string") throw new Error("dict key is not a string");
      this.ws();
      if (this.s[this.i] !== ":") throw new Error(`expected ':' at column ${this.i}`);
      this.i++;
      m.set(k, this.value());
      this.ws();
      if (this.s[this.i] === ",") this.i++;
      else if (this.s[this.i] !== "}") throw new Error(`expected ',' or '}' at column ${this.i}`);
    }
  }
}

// ------------------------------------------------------------------ safetensors

// Item sizes of every dtype the safetensors format defines, so offsets can be validated
// even for tensors we cannot decode (a file may mix our F16 weights with I64 buffers).
const ST_ITEM_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};

interface StEntry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

interface StFile {
  buf: Buffer;
  dataStart: number;
  entries: Record<string, StEntry>;
}

function parseSafetensors(file: string, buf: Buffer): StFile {
  if (buf.length < 8) {
    throw new UserError(`${file}: truncated: a safetensors file starts with an 8-byte header length, file has ${buf.length} bytes`);
  }
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(buf.length - 8)) {
    throw new UserError(`${file}: truncated or not a safetensors file: header length ${headerLen} exceeds the ${buf.length - 8} bytes after it`);
  }
  const hl = Number(headerLen);
  const dataStart = 8 + hl;
  const dataLen = buf.length - dataStart;
  let header: unknown;
  try {
    header = JSON.parse(buf.toString("utf8", 8, dataStart));
  } catch (e) {
    throw new UserError(`${file}: corrupt safetensors header: JSON parse failed (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new UserError(`${file}: corrupt safetensors header: not a JSON object`);
  }
  const entries: Record<string, StEntry> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const bad = (what: string) => new UserError(`${file}: corrupt safetensors header: tensor '${name}': ${what}`);
    if (typeof raw !== "object" || raw === null) throw bad("entry is not an object");
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== "string") throw bad("missing dtype");
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad("shape is not a list of non-negative integers");
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad("data_offsets is not a pair of non-negative integers");
    }
    const [begin, end] = offs as number[];
    if (begin > end || end > dataLen) {
      throw bad(`data_offsets [${begin}, ${end}) out of range: the data section has ${dataLen} bytes`);
    }
    const item = ST_ITEM_SIZE[dtype];
    const want = numel(shape as number[]) * (item ?? 0);
    if (item !== undefined && end - begin !== want) {
      throw bad(`data_offsets [${begin}, ${end}) span ${end - begin} bytes but shape [${(shape as number[]).join(", ")}] of ${dtype} needs ${want}`);
    }
    entries[name] = { dtype, shape: (shape as number[]).slice(), begin, end };
  }
  // As the reference implementation: the tensors tile the data section exactly, in order of
  // their offsets, with no gap, no overlap and nothing left over; and no name appears twice.
  const dup = duplicateTopLevelKey(buf.toString("utf8", 8, dataStart));
  if (dup !== undefined) throw new UserError(`${file}: corrupt safetensors header: tensor '${dup}' appears twice`);
  const spans = Object.entries(entries).sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let at = 0;
  for (const [name, e] of spans) {
    if (e.begin !== at) {
      throw new UserError(
        `${file}: corrupt safetensors header: tensor '${name}' starts at byte ${e.begin} of the data section, expected ${at} ` +
          `(${e.begin < at ? "it overlaps the tensor before it" : "a gap precedes it"})`,
      );
    }
    at = e.end;
  }
  if (at !== dataLen) {
    throw new UserError(`${file}: corrupt safetensors file: the tensors cover ${at} bytes of a ${dataLen}-byte data section`);
  }
  return { buf, dataStart, entries };
}

/** The first key that appears twice at the top level of a JSON object text (JSON.parse keeps the last silently). */
function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === "{" || ch === "[") {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (ch === "}" || ch === "]") {
      depth--;
    } else if (ch === "," && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

function decodeSafetensorsEntry(file: string, st: StFile, name: string): Tensor {
  const e = st.entries[name];
  if (!SAFETENSORS_READ_DTYPES.includes(e.dtype)) {
    throw new UserError(`${file}: tensor '${name}' has unsupported dtype ${e.dtype}; supported: ${SAFETENSORS_READ_DTYPES.join(", ")}`);
  }
  const bytes = st.buf.subarray(st.dataStart + e.begin, st.dataStart + e.end);
  const t: Tensor = {
    shape: e.shape.slice(), data: decodeFloats(bytes, numel(e.shape), e.dtype as SafetensorsDtype | "F64", `${file}: tensor '${name}'`), sourceDtype: DTYPE_NAMES[e.dtype],
  };
  checkFinite(file, `tensor '${name}'`, t);
  return t;
}

// ------------------------------------------------------------------ shared helpers

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeFloats(bytes: Buffer, n: number, dtype: SafetensorsDtype | "F64", what = "tensor"): Float32Array {
  const out = new Float32Array(n);
  if (dtype === "F64") {
    // Rounded to float32, the precision oltron quantizes in; a finite value beyond float32's
    // range is refused rather than turned into Inf.
    for (let i = 0; i < n; i++) {
      const v = bytes.readDoubleLE(i * 8);
      out[i] = v;
      if (Number.isFinite(v) && !Number.isFinite(out[i])) throw new UserError(`${what}: float64 value ${v} at index ${i} is beyond float32's range`);
    }
    return out;
  }
  if (dtype === "F32") {
    if (LITTLE_ENDIAN_HOST) {
      // Copy rather than view: the source offset need not be 4-aligned.
      new Uint8Array(out.buffer).set(bytes.subarray(0, n * 4));
    } else {
      for (let i = 0; i < n; i++) out[i] = bytes.readFloatLE(i * 4);
    }
    return out;
  }
  if (dtype === "F16") {
    const lut = f16Lut();
    for (let i = 0; i < n; i++) out[i] = lut[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
    return out;
  }
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) u[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >>> 0;
  return out;
}

function encodeFloats(file: string, what: string, data: Float32Array, dtype: SafetensorsDtype): Buffer {
  if (dtype === "F32") {
    const out = Buffer.alloc(data.length * 4);
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], i * 4);
    return out;
  }
  const conv = dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits;
  const out = Buffer.alloc(data.length * 2);
  for (let i = 0; i < data.length; i++) {
    const h = conv(data[i]);
    if (Number.isFinite(data[i]) && (h & 0x7fff) === (dtype === "F16" ? 0x7c00 : 0x7f80)) {
      throw new UserError(`${file}: ${what} value ${data[i]} at index ${i} overflows ${dtype === "F16" ? "float16" : "bfloat16"}`);
    }
    out.writeUInt16LE(h, i * 2);
  }
  return out;
}

function checkTensor(file: string, t: Tensor, what: string): void {
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new UserError(`${file}: ${what} has an invalid shape [${String(t.shape)}]`);
  }
  if (!(t.data instanceof Float32Array) || t.data.length !== numel(t.shape)) {
    throw new UserError(`${file}: ${what} has ${t.data?.length} values but shape [${t.shape.join(", ")}] needs ${numel(t.shape)}`);
  }
}

/** Rejects NaN/Inf, pointing at the first bad element both flat and per axis. */
function checkFinite(file: string, what: string, t: Tensor): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v - v !== 0) {
      const kind = Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
      const pos: number[] = [];
      let r = i;
      for (let a = t.shape.length - 1; a >= 0; a--) {
        pos.unshift(r % t.shape[a]);
        r = Math.floor(r / t.shape[a]);
      }
      throw new UserError(
        `${file}: ${what} contains ${kind} at index ${i} (element [${pos.join(", ")}] of shape [${t.shape.join(", ")}])`,
      );
    }
  }
}

/** What a path is when it is not a regular file (after symbolic links), for messages. */
function kindOf(st: fs.Stats): string {
  return st.isDirectory() ? "a directory" : st.isCharacterDevice() || st.isBlockDevice() ? "a device file" : st.isFIFO() ? "a FIFO (named pipe)" : st.isSocket() ? "a socket" : "not a regular file";
}

function readWhole(file: string): Buffer {
  let fd: number | undefined;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not hang before it can be refused.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const link = fs.lstatSync(file).isSymbolicLink() ? ` (a symbolic link to ${fs.realpathSync(file)})` : "";
      throw new UserError(`${file}${link} is ${kindOf(st)}, not a tensor file: give a regular .npy or .safetensors file`);
    }
    return fs.readFileSync(fd);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "is a directory" : err.message;
    throw new UserError(`${file}: cannot read: ${why}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Readers never see a half-written file (core/files.ts); a failure names the file. */
function writeAtomic(file: string, bytes: Buffer): void {
  try {
    writeFileAtomic(file, bytes);
  } catch (e) {
    throw new UserError(`${file}: cannot write: ${(e as Error).message}`);
  }
}
