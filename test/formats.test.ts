/**
 * SPEC section 2 number formats against independent routes: IEEE binary16 (the
 * @petamoriken/float16 package) for the decode identities, BigInt for the pairs, and a
 * brute-force nearest search over the decode table for the encoders.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UserError } from "../src/core/errors.js";
import {
  decode, decodeFloat, decodeInt4, decodePairs, decodeTable, encode, encodeFloat, encodeInt4, FP12, FP8,
  type ElemType,
} from "../src/core/formats.js";
import { Rng } from "../src/core/rng.js";
import {
  nextDown, nextUp, refDecode, refDecodeBig, refEmittable, refEncodeFloat, refEncodeInt4, viaBinary16,
} from "./helpers/reference.js";

const FMT = { fp8: FP8, fp12: FP12 } as const;
const FLOATS = ["fp8", "fp12"] as const;
const COUNT = { fp8: 256, fp12: 4096 } as const;
const MAN = { fp8: 2, fp12: 6 } as const;
/** Hand-derived: largest emitted magnitude (exponent 30, all-ones mantissa) = (2^(mb+1) - 1) * 2^29. */
const MAX_FINITE = { fp8: 7 * 2 ** 29, fp12: 127 * 2 ** 29 } as const;
/** Its codes: 0 11110 11 = 0x7b and 0 11110 111111 = 0x7bf. */
const MAX_CODE = { fp8: 0x7b, fp12: 0x7bf } as const;
const SIGN = { fp8: 0x80, fp12: 0x800 } as const;

function expField(t: "fp8" | "fp12", code: number): number {
  return (code >> MAN[t]) & 31;
}

describe("decode: SPEC binary16 identities for every code", () => {
  for (const t of FLOATS) {
    it(`${t}: all ${COUNT[t]} codes`, () => {
      let reserved = 0;
      for (let c = 0; c < COUNT[t]; c++) {
        const got = decodeFloat(FMT[t], c);
        expect(Number.isInteger(got), `${t} code ${c} decodes to a non-integer ${got}`).toBe(true);
        const e = expField(t, c);
        if (e !== 31) {
          const want = viaBinary16(t, c);
          // -0 decodes to 0: compare as numbers (Object.is would distinguish -0).
          expect(got === want, `${t} code 0x${c.toString(16)}: ${got} vs binary16 route ${want}`).toBe(true);
        } else {
          reserved++;
          // binary16 exponent 31 is inf/nan; SPEC's formula by hand: (hidden + m) << 30.
          const m = c & ((1 << MAN[t]) - 1);
          const hidden = 1 << MAN[t];
          const sign = (c >> (MAN[t] + 5)) & 1;
          const mag = (hidden + m) * 2 ** 30;
          expect(Number.isNaN(viaBinary16(t, c)) || !Number.isFinite(viaBinary16(t, c))).toBe(true);
          expect(got, `${t} reserved code 0x${c.toString(16)}`).toBe(sign ? -mag : mag);
        }
      }
      // Exponent 31 covers 2 signs x all mantissas.
      expect(reserved).toBe(2 << MAN[t]);
    });
  }

  it("fp8 spot values by hand", () => {
    expect(decodeFloat(FP8, 0x00)).toBe(0);
    expect(decodeFloat(FP8, 0x80)).toBe(0); // -0
    expect(Object.is(decodeFloat(FP8, 0x80), -0)).toBe(false);
    expect(decodeFloat(FP8, 0x01)).toBe(1); // smallest subnormal = one int4 step
    expect(decodeFloat(FP8, 0x03)).toBe(3);
    expect(decodeFloat(FP8, 0x04)).toBe(4); // e=1, m=0
    expect(decodeFloat(FP8, 0x07)).toBe(7);
    expect(decodeFloat(FP8, 0x08)).toBe(8); // e=2, m=0
    expect(decodeFloat(FP8, 0x09)).toBe(10);
    expect(decodeFloat(FP8, 0x83)).toBe(-3);
    expect(decodeFloat(FP8, 0x7b)).toBe(7 * 2 ** 29);
    expect(decodeFloat(FP8, 0x7f)).toBe(7 * 2 ** 30);
    expect(decodeFloat(FP8, 0xff)).toBe(-7 * 2 ** 30);
  });

  it("fp12 spot values by hand (and the top 4 storage bits are ignored)", () => {
    expect(decodeFloat(FP12, 0x03f)).toBe(63);
    expect(decodeFloat(FP12, 0x040)).toBe(64);
    expect(decodeFloat(FP12, 0x07f)).toBe(127);
    expect(decodeFloat(FP12, 0x080)).toBe(128);
    expect(decodeFloat(FP12, 0x081)).toBe(130);
    expect(decodeFloat(FP12, 0x800)).toBe(0);
    expect(decodeFloat(FP12, 0xfff)).toBe(-127 * 2 ** 30);
    expect(decodeFloat(FP12, 0xf07f)).toBe(127);
  });

  it("int4: all 16 codes are two's complement", () => {
    const want = [0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1];
    for (let c = 0; c < 16; c++) {
      expect(decodeInt4(c)).toBe(want[c]);
      expect(decode("int4", c)).toBe(want[c]);
    }
  });

  it("decode() dispatches by type and agrees with the BigInt SPEC table", () => {
    for (const t of ["int4", "fp8", "fp12"] as ElemType[]) {
      const n = t === "int4" ? 16 : COUNT[t];
      for (let c = 0; c < n; c++) expect(decode(t, c), `${t} 0x${c.toString(16)}`).toBe(refDecode(t, c));
    }
  });
});

describe("decodePairs", () => {
  for (const t of FLOATS) {
    it(`${t}: sum of int * 2^shift over the pairs equals the decoded value, for all ${COUNT[t]} codes`, () => {
      for (let c = 0; c < COUNT[t]; c++) {
        const pairs = decodePairs(t, c);
        expect(pairs.length).toBe(t === "fp8" ? 1 : 2);
        let sum = 0n;
        for (const p of pairs) {
          expect(Number.isInteger(p.shift) && p.shift >= 0).toBe(true);
          sum += BigInt(p.int) << BigInt(p.shift);
        }
        expect(sum, `${t} code 0x${c.toString(16)}`).toBe(refDecodeBig(t, c));
        // SPEC shift rule: sh = max(e - 1, 0); fp12 high pair at sh + 4.
        const e = expField(t, c);
        const sh = Math.max(e - 1, 0);
        if (t === "fp8") {
          expect(pairs[0].shift).toBe(sh);
          expect(Math.abs(pairs[0].int)).toBeLessThanOrEqual(7);
        } else {
          expect(pairs[0].shift).toBe(sh + 4);
          expect(pairs[1].shift).toBe(sh);
          expect(Math.abs(pairs[0].int), `fp12 0x${c.toString(16)} high pair`).toBeLessThanOrEqual(7);
          expect(Math.abs(pairs[1].int), `fp12 0x${c.toString(16)} low pair`).toBeLessThanOrEqual(15);
          // Both pairs carry the operand's sign (or are zero).
          const neg = (c >> 11) & 1;
          for (const p of pairs) if (p.int !== 0) expect(p.int < 0).toBe(neg === 1);
        }
      }
    });
  }

  it("int4: all 16 codes give the single pair (0, q)", () => {
    for (let c = 0; c < 16; c++) {
      const pairs = decodePairs("int4", c);
      expect(pairs).toHaveLength(1);
      expect(pairs[0].shift).toBe(0);
      expect(pairs[0].int).toBe(c >= 8 ? c - 16 : c);
    }
  });
});

/** Checks encodeFloat against the brute-force reference for one input. */
function checkEncode(t: "fp8" | "fp12", x: number, why: string): void {
  const got = encodeFloat(FMT[t], x);
  const want = refEncodeFloat(t, x);
  const tag = `${t} encode(${x}) [${why}]: got 0x${got.toString(16)} (${decodeFloat(FMT[t], got)}), want 0x${want.toString(16)} (${refDecode(t, want)})`;
  expect(Number.isInteger(got) && got >= 0 && got < COUNT[t], tag).toBe(true);
  expect(expField(t, got), `${tag}: exponent 31 emitted`).not.toBe(31);
  if (refDecode(t, want) === 0) {
    expect(decodeFloat(FMT[t], got), tag).toBe(0);
  } else {
    expect(got, tag).toBe(want);
  }
}

describe("encodeFloat: round to nearest, ties to even, saturating, never exponent 31", () => {
  for (const t of FLOATS) {
    it(`${t}: seeded random inputs, log-uniform magnitudes 2^-6..2^40, both signs (seed 8101)`, () => {
      const rng = new Rng(8101);
      for (let i = 0; i < 3000; i++) {
        const mag = 2 ** (rng.next() * 46 - 6);
        const x = rng.next() < 0.5 ? -mag : mag;
        checkEncode(t, x, `seed 8101 #${i}`);
      }
    });

    it(`${t}: seeded random inputs near representable values (seed 8102)`, () => {
      const rng = new Rng(8102);
      const table = refEmittable(t);
      for (let i = 0; i < 3000; i++) {
        const k = rng.int(0, table.length - 2);
        const lo = table[k].value;
        const hi = table[k + 1].value;
        const x = lo + (hi - lo) * rng.next() * 1.0;
        checkEncode(t, rng.next() < 0.5 ? -x : x, `seed 8102 #${i}`);
      }
    });

    it(`${t}: every representable value encodes to itself, both signs`, () => {
      for (const { code, value } of refEmittable(t)) {
        if (value === 0) continue;
        expect(encodeFloat(FMT[t], value)).toBe(code);
        expect(encodeFloat(FMT[t], -value)).toBe(code | SIGN[t]);
      }
    });

    it(`${t}: every halfway point between consecutive values, and the doubles just above/below it`, () => {
      const table = refEmittable(t);
      let ties = 0;
      for (let k = 0; k + 1 < table.length; k++) {
        const lo = table[k];
        const hi = table[k + 1];
        const mid = (lo.value + hi.value) / 2; // exact: integers < 2^37
        for (const sgn of [1, -1]) {
          checkEncode(t, sgn * mid, `halfway ${lo.value}..${hi.value}`);
          checkEncode(t, sgn * nextUp(mid), `above halfway ${lo.value}..${hi.value}`);
          checkEncode(t, sgn * nextDown(mid), `below halfway ${lo.value}..${hi.value}`);
        }
        // Ties go to the even code (hand rule, not only via the reference).
        const got = encodeFloat(FMT[t], mid);
        if (mid >= 1) {
          expect(got & 1, `tie at ${mid} went to an odd code`).toBe(0);
          expect(got === lo.code || got === hi.code).toBe(true);
          ties++;
        }
        expect(encodeFloat(FMT[t], nextUp(mid))).toBe(hi.code);
        if (lo.value !== 0) expect(encodeFloat(FMT[t], nextDown(mid))).toBe(lo.code);
      }
      expect(ties).toBe(table.length - 2); // every gap except 0..1 has a positive tie
    });

    it(`${t}: hand-picked ties`, () => {
      // Step 1 below 2*hidden: 0.5 -> 0 (even), 1.5 -> 2, 2.5 -> 2.
      expect(decodeFloat(FMT[t], encodeFloat(FMT[t], 0.5))).toBe(0);
      expect(decodeFloat(FMT[t], encodeFloat(FMT[t], 1.5))).toBe(2);
      expect(decodeFloat(FMT[t], encodeFloat(FMT[t], 2.5))).toBe(2);
      expect(decodeFloat(FMT[t], encodeFloat(FMT[t], -2.5))).toBe(-2);
      if (t === "fp8") {
        // 9 lies between 8 (e=2 m=0, even) and 10 (m=1): -> 8. 11 between 10 and 12 (m=2): -> 12.
        expect(decodeFloat(FP8, encodeFloat(FP8, 9))).toBe(8);
        expect(decodeFloat(FP8, encodeFloat(FP8, 11))).toBe(12);
        // 7.5 between 7 (0x07, odd) and 8 (0x08): -> 8.
        expect(encodeFloat(FP8, 7.5)).toBe(0x08);
      } else {
        // 127.5 between 127 (0x07f, odd) and 128 (0x080): -> 128; 129 between 128 and 130: -> 128.
        expect(encodeFloat(FP12, 127.5)).toBe(0x080);
        expect(encodeFloat(FP12, 129)).toBe(0x080);
        expect(decodeFloat(FP12, encodeFloat(FP12, 131))).toBe(132);
      }
    });

    it(`${t}: the largest finite value and values above it saturate (never exponent 31)`, () => {
      expect(decodeFloat(FMT[t], MAX_CODE[t])).toBe(MAX_FINITE[t]);
      const above = [
        MAX_FINITE[t], MAX_FINITE[t] + 1, nextUp(MAX_FINITE[t]), MAX_FINITE[t] * 1.0625,
        // Halfway to the (reserved) next value (hidden << 30): IEEE would go to infinity; SPEC saturates.
        MAX_FINITE[t] + 2 ** (29 - MAN[t]), MAX_FINITE[t] * 2, 2 ** 40, 2 ** 64, 1e300, Number.MAX_VALUE,
      ];
      for (const x of above) {
        expect(encodeFloat(FMT[t], x), `${t} encode(${x})`).toBe(MAX_CODE[t]);
        expect(encodeFloat(FMT[t], -x), `${t} encode(${-x})`).toBe(MAX_CODE[t] | SIGN[t]);
        checkEncode(t, x, "above max");
      }
    });

    it(`${t}: tiny values and both zeros encode to a code decoding to 0`, () => {
      for (const x of [0, -0, Number.MIN_VALUE, -Number.MIN_VALUE, 1e-300, -1e-300, 0.25, -0.25, 0.5, -0.5, nextDown(0.5)]) {
        const c = encodeFloat(FMT[t], x);
        expect(decodeFloat(FMT[t], c), `${t} encode(${x})`).toBe(0);
        expect(expField(t, c)).toBe(0);
      }
      // Just above 0.5 rounds to the smallest subnormal, with the sign.
      expect(encodeFloat(FMT[t], nextUp(0.5))).toBe(1);
      expect(encodeFloat(FMT[t], -nextUp(0.5))).toBe(1 | SIGN[t]);
    });

    it(`${t}: NaN is refused with a UserError`, () => {
      expect(() => encodeFloat(FMT[t], NaN)).toThrow(UserError);
      expect(() => encode(t, NaN)).toThrow(/NaN/);
    });
  }

  it("±Infinity saturates (or is refused) and returns promptly: run in a child process with a timeout", () => {
    // A synchronous hang cannot be interrupted inside the test worker, so probe in a subprocess.
    const root = fileURLToPath(new URL("..", import.meta.url));
    const script = [
      `import { encodeFloat, FP8, FP12 } from ${JSON.stringify(path.join(root, "src/core/formats.ts"))};`,
      `const out = [];`,
      `for (const [f, x] of [[FP8, Infinity], [FP8, -Infinity], [FP12, Infinity], [FP12, -Infinity]]) {`,
      `  try { out.push(encodeFloat(f, x)); } catch (e) { out.push(e.name); }`,
      `}`,
      `console.log(JSON.stringify(out));`,
    ].join("\n");
    const r = spawnSync(path.join(root, "node_modules/.bin/tsx"), ["-e", script], { timeout: 600_000, encoding: "utf8" });
    expect(r.error?.message ?? "", `encodeFloat(±Infinity) did not return within 20 s (stderr: ${r.stderr})`).toBe("");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "[]") as (number | string)[];
    const ok = [[0x7b, "UserError"], [0xfb, "UserError"], [0x7bf, "UserError"], [0xfbf, "UserError"]];
    out.forEach((v, i) => expect(ok[i], `case ${i}: ${v}`).toContain(v));
    expect(out).toHaveLength(4);
  });
});

describe("encodeInt4: ties to even, saturating to [-8, 7]", () => {
  it("brute force over the 16 codes: seeded random inputs in [-12, 12] (seed 8201)", () => {
    const rng = new Rng(8201);
    for (let i = 0; i < 5000; i++) {
      const x = (rng.next() * 2 - 1) * 12;
      expect(encodeInt4(x), `seed 8201 x=${x}`).toBe(refEncodeInt4(x));
    }
  });

  it("every halfway point k + 0.5 and its neighbours, -10..10", () => {
    for (let k = -10; k <= 10; k++) {
      for (const x of [k + 0.5, nextUp(k + 0.5), nextDown(k + 0.5), k]) {
        expect(encodeInt4(x), `x=${x}`).toBe(refEncodeInt4(x));
      }
    }
  });

  it("hand values", () => {
    const dec = (x: number) => decodeInt4(encodeInt4(x));
    expect(dec(0.5)).toBe(0);
    expect(dec(1.5)).toBe(2);
    expect(dec(2.5)).toBe(2);
    expect(dec(-0.5)).toBe(0);
    expect(dec(-1.5)).toBe(-2);
    expect(dec(-2.5)).toBe(-2);
    expect(dec(6.5)).toBe(6);
    expect(dec(7.5)).toBe(7); // tie toward 8 would leave the range: saturates to 7
    expect(dec(-7.5)).toBe(-8);
    expect(dec(-8.5)).toBe(-8);
    expect(dec(100)).toBe(7);
    expect(dec(-100)).toBe(-8);
    expect(dec(1e300)).toBe(7);
    expect(dec(-0)).toBe(0);
    expect(encodeInt4(-1)).toBe(0xf);
    expect(encodeInt4(-8)).toBe(0x8);
    expect(() => encodeInt4(NaN)).toThrow(UserError);
  });
});

describe("decodeTable", () => {
  for (const [t, n] of [["int4", 16], ["fp8", 256], ["fp12", 4096]] as const) {
    it(`${t}: ${n} rows, each with its code and the SPEC value`, () => {
      const rows = decodeTable(t);
      expect(rows).toHaveLength(n);
      rows.forEach((row, i) => {
        expect(row.code).toBe(i);
        expect(row.value, `${t} row ${i}`).toBe(refDecode(t, i));
        expect(parseInt(row.hex, 16)).toBe(i);
        expect(row.reserved).toBe(t !== "int4" && expField(t, i) === 31);
      });
    });
  }
});
