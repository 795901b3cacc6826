import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { getFloat16 } from "@petamoriken/float16";
import { UserError } from "../src/core/errors.js";
import type { Tensor } from "../src/core/tensor.js";
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  listSafetensors,
  readNpy,
  readSafetensors,
  readTensorFile,
  writeNpy,
  writeSafetensors,
} from "../src/data/tensorio.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-tensorio-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, name);

function bits32(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0];
}

function expectUserError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected a UserError").toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  for (const p of parts) {
    if (typeof p === "string") expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
}

/** A hand-built NPY v1.0 file: prelude, padded latin-1 header, raw data. */
function npyBytes(header: string, data: Buffer, version = 1): Buffer {
  const prelude = version === 1 ? 10 : 12;
  const pad = (64 - ((prelude + header.length + 1) % 64)) % 64;
  const h = header + " ".repeat(pad) + "\n";
  const pre = Buffer.alloc(prelude);
  pre.write("\x93NUMPY", 0, "latin1");
  pre[6] = version;
  pre[7] = 0;
  if (version === 1) pre.writeUInt16LE(h.length, 8);
  else pre.writeUInt32LE(h.length, 8);
  return Buffer.concat([pre, Buffer.from(h, "latin1"), data]);
}

function u16le(codes: number[]): Buffer {
  const b = Buffer.alloc(codes.length * 2);
  codes.forEach((c, i) => b.writeUInt16LE(c, i * 2));
  return b;
}

function f32le(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

function stBytes(header: unknown, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

describe("float16 / bfloat16 conversions", () => {
  it("decodes all 65536 binary16 codes exactly like @petamoriken/float16", () => {
    const dv = new DataView(new ArrayBuffer(2));
    for (let h = 0; h < 65536; h++) {
      dv.setUint16(0, h);
      const ref = getFloat16(dv, 0);
      const got = f16ToF32(h);
      if (Number.isNaN(ref)) expect(Number.isNaN(got), `code ${h}`).toBe(true);
      else if (!Object.is(got, ref)) expect.fail(`code 0x${h.toString(16)}: got ${got}, want ${ref}`);
    }
  });

  it("decodes known codes", () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
  });

  it("f32 -> f16 is the inverse on every non-NaN code", () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (!Number.isNaN(v)) expect(f32ToF16Bits(v), `code ${h}`).toBe(h);
    }
  });

  it("f32 -> f16 rounds to nearest even, including subnormals and overflow", () => {
    const ulp1 = 2 ** -10; // spacing just above 1
    expect(f32ToF16Bits(1 + ulp1 / 2)).toBe(0x3c00); // tie, even stays
    expect(f32ToF16Bits(1 + ulp1 * 1.5)).toBe(0x3c02); // tie, odd rounds up
    expect(f32ToF16Bits(1 + ulp1 / 2 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(f32ToF16Bits(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 subnormal steps
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000);
    expect(f32ToF16Bits(-(2 ** -30))).toBe(0x8000);
    expect(f32ToF16Bits(1023.5 * 2 ** -24)).toBe(0x0400); // carries into the smallest normal
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // the overflow threshold rounds to Inf
    expect(f32ToF16Bits(-1e9)).toBe(0xfc00);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it("f32 -> bf16 rounds to nearest even", () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    const tieEven = new Float32Array(new Uint32Array([0x3f808000]).buffer)[0]; // halfway, even below
    const tieOdd = new Float32Array(new Uint32Array([0x3f818000]).buffer)[0];
    const above = new Float32Array(new Uint32Array([0x3f808001]).buffer)[0];
    expect(f32ToBf16Bits(tieEven)).toBe(0x3f80);
    expect(f32ToBf16Bits(tieOdd)).toBe(0x3f82);
    expect(f32ToBf16Bits(above)).toBe(0x3f81);
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80); // max float rounds to Inf
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80);
    expect(Number.isNaN(bf16ToF32(f32ToBf16Bits(NaN)))).toBe(true);
    for (let h = 0; h < 65536; h++) {
      const v = bf16ToF32(h);
      if (!Number.isNaN(v)) expect(f32ToBf16Bits(v)).toBe(h);
    }
  });
});

describe("round trips", () => {
  // Values exactly representable in float16 (and so in bfloat16 when they have <= 8 significant bits).
  const f16Exact = [0, -0, 1, -2, 0.5, 65504, -65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 3.140625, -0.0999755859375];
  const bf16Exact = [0, -0, 1, -3, 0.5, 2 ** -126, 2 ** -133, 3.3895313892515355e38, -1.5, 255, 0.01171875, 2 ** 100];
  const f32Exact = [0, -0, 1, Math.fround(Math.PI), 1.401298464324817e-45, 3.4028234663852886e38, -1.1754943508222875e-38, Math.fround(0.1), 12345.678];

  function expectBitExact(got: Tensor, want: number[], shape: number[]) {
    expect(got.shape).toEqual(shape);
    expect(Array.from(got.data).map(bits32)).toEqual(want.map(bits32));
  }

  it("npy f4 and f2", () => {
    const shape = [3, 4];
    writeNpy(tmp("a.npy"), { shape, data: new Float32Array(f32Exact.concat([7, 8, 9])) });
    expectBitExact(readNpy(tmp("a.npy")), f32Exact.concat([7, 8, 9]), shape);
    writeNpy(tmp("b.npy"), { shape: [12], data: new Float32Array(f16Exact) }, "f2");
    expectBitExact(readTensorFile(tmp("b.npy")), f16Exact, [12]);
    expect(fs.statSync(tmp("b.npy")).size).toBe(128 + 24); // header padded to 64-byte alignment
  });

  it("npy scalar and empty shapes", () => {
    writeNpy(tmp("s.npy"), { shape: [], data: new Float32Array([5]) });
    expectBitExact(readNpy(tmp("s.npy")), [5], []);
    writeNpy(tmp("e.npy"), { shape: [0, 3], data: new Float32Array(0) });
    expectBitExact(readNpy(tmp("e.npy")), [], [0, 3]);
  });

  it("safetensors F32, F16, BF16", () => {
    for (const [dtype, values] of [["F32", f32Exact], ["F16", f16Exact], ["BF16", bf16Exact]] as const) {
      const f = tmp(`r-${dtype}.safetensors`);
      const vals = values.slice(0, 8);
      writeSafetensors(f, { first: { shape: [2, 4], data: new Float32Array(vals) }, second: { shape: [1], data: new Float32Array([-1]) } }, dtype);
      expectBitExact(readTensorFile(f, "first"), vals, [2, 4]);
      const all = readSafetensors(f);
      expect(Object.keys(all)).toEqual(["first", "second"]);
      expectBitExact(all.second, [-1], [1]);
      expect(listSafetensors(f)).toEqual([
        { name: "first", dtype, shape: [2, 4] },
        { name: "second", dtype, shape: [1] },
      ]);
      // The reference layout keeps the data 8-byte aligned.
      const hl = Number(fs.readFileSync(f).readBigUInt64LE(0));
      expect(hl % 8).toBe(0);
    }
  });

  it("single-tensor safetensors needs no name", () => {
    writeSafetensors(tmp("one.safetensors"), { w: { shape: [2], data: new Float32Array([1, 2]) } });
    expect(Array.from(readTensorFile(tmp("one.safetensors")).data)).toEqual([1, 2]);
  });

  it("writes atomically: no temporary file is left behind", () => {
    const sub = fs.mkdtempSync(path.join(dir, "atomic-"));
    writeNpy(path.join(sub, "x.npy"), { shape: [1], data: new Float32Array([1]) });
    writeSafetensors(path.join(sub, "x.safetensors"), { x: { shape: [1], data: new Float32Array([1]) } });
    expect(fs.readdirSync(sub).sort()).toEqual(["x.npy", "x.safetensors"]);
  });

  it("writer rejects values that overflow the narrow dtype", () => {
    expectUserError(() => writeNpy(tmp("o.npy"), { shape: [2], data: new Float32Array([1, 70000]) }, "f2"), "o.npy", "70000", "index 1", "float16");
    expect(fs.existsSync(tmp("o.npy"))).toBe(false);
    expectUserError(() => writeSafetensors(tmp("o.safetensors"), { w: { shape: [1], data: new Float32Array([3.4e38]) } }, "BF16"), "o.safetensors", "'w'", "bfloat16");
    expectUserError(() => writeNpy(tmp("o.npy"), { shape: [3], data: new Float32Array(2) }), "o.npy", "needs 3");
  });
});

describe("hand-built fixtures", () => {
  it("npy v1.0 f4", () => {
    const f = tmp("hand-f4.npy");
    fs.writeFileSync(f, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32le([1, -2, 0.5, 3, 1e-3, -7])));
    const t = readNpy(f);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([1, -2, 0.5, 3, Math.fround(1e-3), -7]);
  });

  it("npy v1.0 f2", () => {
    const f = tmp("hand-f2.npy");
    fs.writeFileSync(f, npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }", u16le([0x3c00, 0xc000, 0x0001, 0x7bff, 0x3555])));
    const t = readNpy(f);
    expect(t.shape).toEqual([5]);
    // 0x3555: exponent 13 -> 2^-2, mantissa 0x155 -> (1024+341)/1024 / 4
    expect(Array.from(t.data)).toEqual([1, -2, 2 ** -24, 65504, (1024 + 341) / 4096]);
  });

  it("npy v2.0 and v3.0 headers, Python 2 'L' shapes, double-quoted keys", () => {
    const f2 = tmp("v2.npy");
    fs.writeFileSync(f2, npyBytes(`{"descr": "<f4", "fortran_order": False, "shape": (2L,)}`, f32le([4, 5]), 2));
    expect(Array.from(readNpy(f2).data)).toEqual([4, 5]);
    const f3 = tmp("v3.npy");
    fs.writeFileSync(f3, npyBytes("{'descr':'<f4','fortran_order':False,'shape':(1,)}", f32le([6]), 3));
    expect(Array.from(readNpy(f3).data)).toEqual([6]);
  });

  it("npy fortran_order True is transposed into row-major", () => {
    const f = tmp("fortran.npy");
    // The 2x3 matrix [[1,2,3],[4,5,6]] in column-major order.
    fs.writeFileSync(f, npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32le([1, 4, 2, 5, 3, 6])));
    const t = readNpy(f);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    // 3-D: element [i][j][k] = 100i + 10j + k stored with i fastest.
    const shape = [2, 3, 4];
    const col: number[] = [];
    for (let k = 0; k < 4; k++) for (let j = 0; j < 3; j++) for (let i = 0; i < 2; i++) col.push(100 * i + 10 * j + k);
    const f3 = tmp("fortran3.npy");
    fs.writeFileSync(f3, npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", f32le(col)));
    const row: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) row.push(100 * i + 10 * j + k);
    const t3 = readNpy(f3);
    expect(t3.shape).toEqual(shape);
    expect(Array.from(t3.data)).toEqual(row);
  });

  it("safetensors F16 and BF16", () => {
    const f = tmp("hand.safetensors");
    const f16 = u16le([0x3c00, 0xc000, 0x0001, 0x8400]);
    const bf16 = u16le([0x3f80, 0xc040, 0x4049, 0x0001]);
    const header = {
      __metadata__: { format: "pt" },
      b: { dtype: "BF16", shape: [2, 2], data_offsets: [8, 16] },
      a: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
    };
    fs.writeFileSync(f, stBytes(header, Buffer.concat([f16, bf16])));
    expect(Array.from(readTensorFile(f, "a").data)).toEqual([1, -2, 2 ** -24, -(2 ** -14)]);
    const b = readTensorFile(f, "b");
    expect(b.shape).toEqual([2, 2]);
    // 0x4049 = 0x40490000 as float32 = 3.140625; 0x0001 = the float32 subnormal 2^-133.
    expect(Array.from(b.data)).toEqual([1, -3, 3.140625, 2 ** -133]);
  });

  it("safetensors: an unsupported tensor does not block reading another", () => {
    const f = tmp("mixed.safetensors");
    const header = {
      ids: { dtype: "I64", shape: [2], data_offsets: [0, 16] },
      w: { dtype: "F32", shape: [1], data_offsets: [16, 20] },
    };
    fs.writeFileSync(f, stBytes(header, Buffer.concat([Buffer.alloc(16), f32le([2.5])])));
    expect(Array.from(readTensorFile(f, "w").data)).toEqual([2.5]);
    expectUserError(() => readTensorFile(f, "ids"), "mixed.safetensors", "'ids'", "unsupported dtype I64", "F32, F16, BF16");
    expectUserError(() => readSafetensors(f), "mixed.safetensors", "I64");
  });
});

describe("errors", () => {
  const goodHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (1024,), }";

  it("missing file and unknown extension", () => {
    expectUserError(() => readTensorFile(tmp("nope.npy")), "nope.npy", "no such file");
    fs.writeFileSync(tmp("x.bin"), "hi");
    expectUserError(() => readTensorFile(tmp("x.bin")), "x.bin", ".bin", ".npy or .safetensors");
    writeNpy(tmp("named.npy"), { shape: [1], data: new Float32Array([1]) });
    expectUserError(() => readTensorFile(tmp("named.npy"), "w"), "named.npy", "'w'");
  });

  it("npy: bad magic, version, truncation, trailing bytes", () => {
    fs.writeFileSync(tmp("magic.npy"), Buffer.from("PK\x03\x04 zip file, not npy"));
    expectUserError(() => readNpy(tmp("magic.npy")), "magic.npy", "not an NPY file (bad magic)");
    fs.writeFileSync(tmp("short.npy"), Buffer.from("\x93NU", "latin1"));
    expectUserError(() => readNpy(tmp("short.npy")), "short.npy", "bad magic");

    const v9 = npyBytes(goodHeader, Buffer.alloc(4096));
    v9[6] = 9;
    fs.writeFileSync(tmp("v9.npy"), v9);
    expectUserError(() => readNpy(tmp("v9.npy")), "v9.npy", "unsupported NPY format version 9.0");

    const full = npyBytes(goodHeader, Buffer.alloc(4096));
    fs.writeFileSync(tmp("trunc.npy"), full.subarray(0, full.length - 4096 + 1000));
    expectUserError(() => readNpy(tmp("trunc.npy")), "trunc.npy", "truncated: header says 4096 bytes of data, file has 1000");

    fs.writeFileSync(tmp("trunchdr.npy"), full.subarray(0, 40));
    expectUserError(() => readNpy(tmp("trunchdr.npy")), "trunchdr.npy", "truncated", "bytes of header");

    fs.writeFileSync(tmp("trail.npy"), Buffer.concat([full, Buffer.alloc(3)]));
    expectUserError(() => readNpy(tmp("trail.npy")), "trail.npy", "3 trailing bytes");
  });

  it("float64 (.npy <f8, .safetensors F64) is read and rounded to float32; a value beyond float32 is refused", () => {
    const vals = [1.5, -0.1, 3.000000001, 1e-40];
    const body = Buffer.alloc(8 * vals.length);
    vals.forEach((v, i) => body.writeDoubleLE(v, 8 * i));
    fs.writeFileSync(tmp("f8.npy"), npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", body));
    const t = readNpy(tmp("f8.npy"));
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(t.data)).toEqual(vals.map(Math.fround));
    const big = Buffer.alloc(8);
    big.writeDoubleLE(1e300);
    fs.writeFileSync(tmp("f8big.npy"), npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", big));
    expectUserError(() => readNpy(tmp("f8big.npy")), "f8big.npy", "float64 value 1e+300 at index 0 is beyond float32's range");
    const header = Buffer.from(JSON.stringify({ x: { dtype: "F64", shape: [4], data_offsets: [0, 32] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(tmp("f8.safetensors"), Buffer.concat([len, header, body]));
    expect(Array.from(readTensorFile(tmp("f8.safetensors"), "x").data)).toEqual(vals.map(Math.fround));
  });

  it("npy: unsupported dtypes and corrupt headers", () => {
    fs.writeFileSync(tmp("be.npy"), npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(4)));
    expectUserError(() => readNpy(tmp("be.npy")), "be.npy", "unsupported dtype '>f4'", "big-endian", "<f4, <f2, <f8");
    fs.writeFileSync(tmp("i4.npy"), npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(4)));
    expectUserError(() => readNpy(tmp("i4.npy")), "i4.npy", "unsupported dtype '<i4'", "<f4, <f2, <f8");
    fs.writeFileSync(tmp("rec.npy"), npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(4)));
    expectUserError(() => readNpy(tmp("rec.npy")), "rec.npy", "unsupported dtype");
    fs.writeFileSync(tmp("garbled.npy"), npyBytes("{'descr': '<f4', 'fortran_order': Fals", Buffer.alloc(4)));
    expectUserError(() => readNpy(tmp("garbled.npy")), "garbled.npy", "corrupt NPY header");
    fs.writeFileSync(tmp("noshape.npy"), npyBytes("{'descr': '<f4', 'fortran_order': False}", Buffer.alloc(4)));
    expectUserError(() => readNpy(tmp("noshape.npy")), "noshape.npy", "missing 'shape'");
    fs.writeFileSync(tmp("negshape.npy"), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", Buffer.alloc(4)));
    expectUserError(() => readNpy(tmp("negshape.npy")), "negshape.npy", "shape");
  });

  it("NaN and Inf are rejected with file, tensor, index and value", () => {
    const vals = new Array(2000).fill(0.5);
    vals[1234] = NaN;
    fs.writeFileSync(tmp("nan.npy"), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1000), }", f32le(vals)));
    expectUserError(() => readNpy(tmp("nan.npy")), "nan.npy", "contains NaN at index 1234", "[1, 234]");

    fs.writeFileSync(tmp("inf16.npy"), npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", u16le([0x3c00, 0x3c00, 0xfc00])));
    expectUserError(() => readNpy(tmp("inf16.npy")), "inf16.npy", "contains -Inf at index 2");

    const f = tmp("nan.safetensors");
    fs.writeFileSync(f, stBytes({ ok: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, bad: { dtype: "BF16", shape: [2], data_offsets: [4, 8] } }, Buffer.concat([f32le([1]), u16le([0x3f80, 0x7f80])])));
    expectUserError(() => readTensorFile(f, "bad"), "nan.safetensors", "'bad'", "contains +Inf at index 1");
    expect(readTensorFile(f, "ok").data[0]).toBe(1);
    fs.writeFileSync(tmp("nan16.safetensors"), stBytes({ h: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }, u16le([0x7e00])));
    expectUserError(() => readTensorFile(tmp("nan16.safetensors")), "nan16.safetensors", "'h'", "NaN at index 0");
  });

  it("safetensors: header length, JSON, offsets, dtype, name selection", () => {
    fs.writeFileSync(tmp("tiny.safetensors"), Buffer.alloc(5));
    expectUserError(() => readTensorFile(tmp("tiny.safetensors")), "tiny.safetensors", "truncated");

    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(1000n);
    fs.writeFileSync(tmp("hlen.safetensors"), huge);
    expectUserError(() => readTensorFile(tmp("hlen.safetensors")), "hlen.safetensors", "header length 1000 exceeds the 8 bytes");

    const badJson = Buffer.from("{not json", "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(badJson.length));
    fs.writeFileSync(tmp("json.safetensors"), Buffer.concat([len, badJson]));
    expectUserError(() => readTensorFile(tmp("json.safetensors")), "json.safetensors", "JSON parse failed");

    fs.writeFileSync(tmp("range.safetensors"), stBytes({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)));
    expectUserError(() => readTensorFile(tmp("range.safetensors")), "range.safetensors", "'w'", "out of range", "8 bytes");

    fs.writeFileSync(tmp("incons.safetensors"), stBytes({ w: { dtype: "F16", shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)));
    expectUserError(() => readTensorFile(tmp("incons.safetensors")), "incons.safetensors", "'w'", "span 8 bytes", "needs 6");

    fs.writeFileSync(tmp("rev.safetensors"), stBytes({ w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }, Buffer.alloc(8)));
    expectUserError(() => readTensorFile(tmp("rev.safetensors")), "rev.safetensors", "out of range");

    for (const dt of ["I8", "I64"]) {
      const size = dt === "I8" ? 1 : 8;
      fs.writeFileSync(tmp(`${dt}.safetensors`), stBytes({ w: { dtype: dt, shape: [2], data_offsets: [0, 2 * size] } }, Buffer.alloc(2 * size)));
      expectUserError(() => readTensorFile(tmp(`${dt}.safetensors`)), `${dt}.safetensors`, `unsupported dtype ${dt}`, "supported: F32, F16, BF16, F64");
    }

    const two = tmp("two.safetensors");
    writeSafetensors(two, { alpha: { shape: [1], data: new Float32Array([1]) }, beta: { shape: [1], data: new Float32Array([2]) } });
    expectUserError(() => readTensorFile(two), "two.safetensors", "2 tensors", "alpha, beta");
    expectUserError(() => readTensorFile(two, "gamma"), "two.safetensors", "no tensor named 'gamma'", "alpha, beta");

    fs.writeFileSync(tmp("empty.safetensors"), stBytes({ __metadata__: {} }, Buffer.alloc(0)));
    expectUserError(() => readTensorFile(tmp("empty.safetensors")), "empty.safetensors", "no tensors");
  });

  it("safetensors: the tensors must tile the data section exactly, names must be unique (as the reference implementation)", () => {
    const f32 = (n: number) => ({ dtype: "F32", shape: [n] });
    fs.writeFileSync(tmp("overlap.safetensors"), stBytes({ a: { ...f32(2), data_offsets: [0, 8] }, b: { ...f32(2), data_offsets: [4, 12] } }, Buffer.alloc(12)));
    expectUserError(() => readTensorFile(tmp("overlap.safetensors"), "a"), "overlap.safetensors", "'b' starts at byte 4", "expected 8", "overlaps");
    fs.writeFileSync(tmp("gap.safetensors"), stBytes({ a: { ...f32(1), data_offsets: [0, 4] }, b: { ...f32(1), data_offsets: [8, 12] } }, Buffer.alloc(12)));
    expectUserError(() => readTensorFile(tmp("gap.safetensors"), "a"), "gap.safetensors", "'b' starts at byte 8", "a gap precedes it");
    fs.writeFileSync(tmp("late.safetensors"), stBytes({ a: { ...f32(1), data_offsets: [4, 8] } }, Buffer.alloc(8)));
    expectUserError(() => readTensorFile(tmp("late.safetensors")), "late.safetensors", "'a' starts at byte 4", "expected 0");
    fs.writeFileSync(tmp("tail.safetensors"), stBytes({ a: { ...f32(1), data_offsets: [0, 4] } }, Buffer.alloc(9)));
    expectUserError(() => readTensorFile(tmp("tail.safetensors")), "tail.safetensors", "cover 4 bytes of a 9-byte data section");
    const dupJson = Buffer.from('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(dupJson.length));
    fs.writeFileSync(tmp("dup.safetensors"), Buffer.concat([len, dupJson, Buffer.alloc(4)]));
    expectUserError(() => readTensorFile(tmp("dup.safetensors")), "dup.safetensors", "tensor 'a' appears twice");
    // Out of order in the header but contiguous in the data: accepted.
    const data = Buffer.alloc(8);
    data.writeFloatLE(1.5, 0);
    data.writeFloatLE(-2, 4);
    fs.writeFileSync(tmp("order.safetensors"), stBytes({ b: { ...f32(1), data_offsets: [4, 8] }, a: { ...f32(1), data_offsets: [0, 4] } }, data));
    expect(Array.from(readTensorFile(tmp("order.safetensors"), "b").data)).toEqual([-2]);
  });
});

describe("tensor paths that are not regular files", () => {
  it("refuses a device file, a FIFO, a folder and symbolic links to them, at once and naming what they are", async () => {
    const { execFileSync } = await import("node:child_process");
    const fifo = tmp("pipe.npy");
    execFileSync("mkfifo", [fifo]);
    fs.symlinkSync("/dev/zero", tmp("zero.npy"));
    fs.symlinkSync(fifo, tmp("to-pipe.safetensors"));
    fs.mkdirSync(tmp("dir.npy"));
    const cases: [string, RegExp][] = [
      [tmp("zero.npy"), /zero\.npy \(a symbolic link to \/dev\/zero\) is a device file, not a tensor file/],
      [fifo, /pipe\.npy is a FIFO \(named pipe\), not a tensor file/],
      [tmp("to-pipe.safetensors"), /to-pipe\.safetensors \(a symbolic link to .*pipe\.npy\) is a FIFO \(named pipe\)/],
      [tmp("dir.npy"), /dir\.npy is a directory, not a tensor file/],
    ];
    for (const [file, msg] of cases) {
      expect(() => readTensorFile(file, file.endsWith(".safetensors") ? "x" : undefined), file).toThrow(msg);
      expect(() => readTensorFile(file, file.endsWith(".safetensors") ? "x" : undefined), file).toThrow(UserError);
    }
  });
});
