/**
 * Design DSL: every invalid parameter is refused with a message naming the parameter, the bad
 * value and the legal range; presets elaborate; the hash names a configuration stably.
 */
import { ARCHS } from "../src/hw/parts.js";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, elaborate, PRESETS, resolveConfig, type ArchConfig } from "../src/hw/design.js";
import { UserError } from "../src/core/errors.js";
import { Rng } from "../src/core/rng.js";

function cfg(over: Record<string, unknown>): ArchConfig {
  return { ...DEFAULT_CONFIG, salientTypes: [...DEFAULT_CONFIG.salientTypes], ...over } as ArchConfig;
}

/** Runs `f`, expects a UserError, returns its message. */
function userError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e, `expected a UserError, got ${String(e)}`).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error("expected a UserError, nothing was thrown");
}

/** Hand-derived psum minimum: efficient products lie in [-56, 64]; E rows need 64E <= 2^(b-1) - 1. */
function psumMin(effRows: number): number {
  // Independent route: the bit length of 64E as an unsigned number, plus the sign bit.
  return (64 * effRows).toString(2).length + 1;
}

describe("elaborate rejects invalid parameters, naming parameter, value and legal range", () => {
  const cases: { what: string; over: Record<string, unknown>; param: RegExp; value: RegExp; range: RegExp }[] = [
    { what: "rows 1", over: { rows: 1, flexLines: 0, salientTypes: [] }, param: /rows/, value: /\b1\b/, range: /2\.\.256/ },
    { what: "rows 300", over: { rows: 300 }, param: /rows/, value: /300/, range: /2\.\.256/ },
    { what: "rows 16.5", over: { rows: 16.5 }, param: /rows/, value: /16\.5/, range: /2\.\.256/ },
    { what: "rows '16' (a string)", over: { rows: "16" }, param: /rows/, value: /16/, range: /2\.\.256/ },
    { what: "cols 0", over: { cols: 0 }, param: /cols/, value: /\b0\b/, range: /2\.\.256/ },
    { what: "cols 257", over: { cols: 257 }, param: /cols/, value: /257/, range: /2\.\.256/ },
    { what: "flexLines > rows", over: { rows: 8, flexLines: 9 }, param: /flexLines/, value: /\b9\b/, range: /0\.\.8/ },
    { what: "flexLines -1", over: { flexLines: -1 }, param: /flexLines/, value: /-1/, range: /0\.\.16/ },
    { what: "memWordBits 48", over: { memWordBits: 48 }, param: /memWordBits/, value: /48/, range: /power of two.*32\.\.1024/ },
    { what: "memWordBits 2048 (wider than AXI4 allows)", over: { memWordBits: 2048 }, param: /memWordBits/, value: /2048/, range: /32\.\.1024/ },
    { what: "memWordBits 16", over: { memWordBits: 16 }, param: /memWordBits/, value: /\b16\b/, range: /32\.\.1024/ },
    { what: "axiMaxReads beyond the IDs", over: { axiIdBits: 2, axiMaxReads: 5 }, param: /axiMaxReads/, value: /\b5\b/, range: /1\.\.4/ },
    { what: "axiMaxBurst 0", over: { axiMaxBurst: 0 }, param: /axiMaxBurst/, value: /\b0\b/, range: /1\.\.256/ },
    { what: "axiIdBits 9", over: { axiIdBits: 9 }, param: /axiIdBits/, value: /\b9\b/, range: /1\.\.8/ },
    { what: "bufferTokens 3", over: { bufferTokens: 3 }, param: /bufferTokens/, value: /\b3\b/, range: /power of two.*2\.\.65536/ },
    { what: "bufferTokens 1", over: { bufferTokens: 1 }, param: /bufferTokens/, value: /\b1\b/, range: /2\.\.65536/ },
    { what: "psumBits 33", over: { psumBits: 33 }, param: /psumBits/, value: /33/, range: /\.\.32/ },
    { what: "fp12 with flexLines 1", over: { flexLines: 1, salientTypes: ["fp12"] }, param: /flexLines/, value: /\b1\b/, range: />= ?2/ },
    { what: "fp8+fp12 with flexLines 1", over: { flexLines: 1 }, param: /flexLines/, value: /\b1\b/, range: />= ?2/ },
    { what: "salient types with flexLines 0", over: { flexLines: 0 }, param: /flexLines/, value: /\b0\b/, range: />= ?1/ },
    { what: "fp8 with flexLines 0", over: { flexLines: 0, salientTypes: ["fp8"] }, param: /flexLines/, value: /\b0\b/, range: />= ?1/ },
    { what: "flexLines 2 without salient types", over: { flexLines: 2, salientTypes: [] }, param: /flexLines|salient/, value: /\b2\b/, range: /fp8/ },
    { what: "unknown salient type", over: { salientTypes: ["fp8", "fp16"] }, param: /salientTypes/, value: /fp16/, range: /fp8.*fp12/ },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const msg = userError(() => elaborate(cfg(c.over)));
      expect(msg, `parameter name missing: ${msg}`).toMatch(c.param);
      expect(msg, `bad value missing: ${msg}`).toMatch(c.value);
      expect(msg, `legal range missing: ${msg}`).toMatch(c.range);
    });
  }

  it("psumBits too small for the efficient rows: the hand-derived minimum is accepted, one less refused", () => {
    // Hand values first: 14 efficient rows sum to at most 896 -> 11 bits (1023); 63 rows -> 4032 -> 13 bits.
    expect(psumMin(14)).toBe(11);
    expect(psumMin(63)).toBe(13);
    expect(psumMin(256)).toBe(16); // 16384 needs 15 magnitude bits + sign
    expect(psumMin(255)).toBe(15); // 16320 <= 16383
    const rng = new Rng(4401);
    const shapes: [number, number][] = [[16, 2], [64, 1], [256, 0], [255, 0], [2, 1], [3, 1], [128, 4]];
    for (let i = 0; i < 12; i++) {
      const rows = rng.int(2, 256);
      shapes.push([rows, rng.int(1, Math.min(rows - 1, 8))]); // at least one efficient row
    }
    for (const [rows, flexLines] of shapes) {
      const E = rows - flexLines;
      const min = psumMin(E);
      expect(64 * E <= 2 ** (min - 1) - 1 && 64 * E > 2 ** (min - 2) - 1, `rows ${rows}`).toBe(true);
      const base = { rows, flexLines, salientTypes: flexLines === 0 ? [] : ["fp8"], memWordBits: 1024, bufferTokens: 65536 };
      const ok = elaborate(cfg({ ...base, psumBits: Math.max(min, 2) }));
      expect(ok.effRows).toBe(E);
      expect(ok.psumMinBits).toBe(min);
      if (min - 1 >= 2) {
        const msg = userError(() => elaborate(cfg({ ...base, psumBits: min - 1 })));
        expect(msg, `rows ${rows} flex ${flexLines}: ${msg}`).toMatch(/psumBits/);
        expect(msg).toMatch(new RegExp(`\\b${min - 1}\\b`));
        expect(msg, `range ${min}..32 missing: ${msg}`).toMatch(new RegExp(`${min}\\.\\.32`));
      }
    }
  });

  it("bufferTokens below the output rows one memory word holds is refused with the minimum", () => {
    // 4 columns: output rows of 32 * 4 = 128 bits -> 8 per 1024-bit word. The minimum is 8
    // tokens (activation rows are packed at any bit, so they set no minimum).
    const base = { rows: 4, cols: 4, flexLines: 2, memWordBits: 1024 };
    const msg = userError(() => elaborate(cfg({ ...base, bufferTokens: 4 })));
    expect(msg).toMatch(/bufferTokens/);
    expect(msg).toMatch(/\b4\b/);
    expect(msg).toMatch(/\b8\b/);
    expect(elaborate(cfg({ ...base, bufferTokens: 8 })).config.bufferTokens).toBe(8);
  });

  it("an all-flexible array (no efficient rows) accepts a small psumBits", () => {
    const d = elaborate(cfg({ rows: 4, flexLines: 4, psumBits: 2 }));
    expect(d.effRows).toBe(0);
    expect(d.pes.efficient).toBe(0);
  });

  it("unknown key: refused by resolveConfig, naming the key", () => {
    const msg = userError(() => elaborate(resolveConfig({ rowz: 16 } as unknown as Partial<ArchConfig>)));
    expect(msg).toMatch(/rowz/);
    expect(msg).toMatch(/rows/); // lists the legal keys
  });

  it("unknown key: refused by elaborate itself (it would otherwise change the hash of identical hardware)", () => {
    const msg = userError(() => elaborate(cfg({ rowz: 16 })));
    expect(msg).toMatch(/rowz/);
  });

  // A hand-edited design.json (designFromJson -> resolveConfig -> elaborate) can carry any JSON value.
  for (const bad of [5, null, "fp8,fp12"]) {
    it(`salientTypes ${JSON.stringify(bad)} (not a list) through resolveConfig: a UserError naming the parameter and value`, () => {
      const msg = userError(() => elaborate(resolveConfig({ salientTypes: bad } as unknown as Partial<ArchConfig>)));
      expect(msg).toMatch(/salientTypes/);
      expect(msg).toContain(String(bad));
      expect(msg).toMatch(/fp8.*fp12/);
    });
  }

  it("unknown preset is refused, naming it", () => {
    expect(userError(() => resolveConfig({}, "huge"))).toMatch(/huge/);
  });
});

describe("valid configurations", () => {
  it("every preset elaborates, with the preset's shape", () => {
    for (const [name, p] of Object.entries(PRESETS)) {
      const d = elaborate(resolveConfig({}, name));
      expect(d.rows, name).toBe(p.rows ?? 16);
      expect(d.cols, name).toBe(p.cols ?? 16);
      // Architectures without salient lanes take none, whatever the size's preset has.
      expect(d.flexLines, name).toBe(p.flexLines ?? (ARCHS[p.arch ?? "oltron"].salient ? 2 : 0));
      expect(d.pes.total).toBe(d.rows * d.cols);
      expect(d.pes.flexible).toBe(d.flexLines * d.cols);
      expect(d.hash).toMatch(/^[0-9a-f]{6}$/);
    }
  });

  it("oltron64 matches the published anchors: 64x64, one flexible line of 64 PEs beside 64x63 efficient PEs", () => {
    const d = elaborate(resolveConfig({}, "oltron64"));
    expect([d.rows, d.cols, d.flexLines]).toEqual([64, 64, 1]);
    expect(d.pes.flexible).toBe(64);
    expect(d.pes.efficient).toBe(64 * 63);
    expect(d.maxSalientPerTile).toEqual({ fp8: 1 });
  });

  it("maxSalientPerTile: F fp8 channels, floor(F/2) fp12 channels", () => {
    for (const F of [1, 2, 3, 4, 7, 16]) {
      const d = elaborate(cfg({ rows: 16, flexLines: F, salientTypes: F >= 2 ? ["fp8", "fp12"] : ["fp8"] }));
      expect(d.maxSalientPerTile.fp8).toBe(F);
      if (F >= 2) expect(d.maxSalientPerTile.fp12).toBe(Math.floor(F / 2));
    }
  });

  it("the hash differs between configurations and is stable for the same one", () => {
    const variants: Record<string, unknown>[] = [
      {}, { rows: 32 }, { cols: 32 }, { flexLines: 4 }, { salientTypes: ["fp8"] }, { psumBits: 20 },
      { memWordBits: 512 }, { bufferTokens: 512 }, { rows: 8, flexLines: 0, salientTypes: [] },
    ];
    const hashes = variants.map((v) => elaborate(cfg(v)).hash);
    expect(new Set(hashes).size, hashes.join(",")).toBe(variants.length);
    variants.forEach((v, i) => expect(elaborate(cfg(v)).hash).toBe(hashes[i]));
    // Defaults spelled out or left implicit are the same configuration.
    expect(elaborate(resolveConfig({ rows: 16, cols: 16 })).hash).toBe(elaborate(resolveConfig({})).hash);
    // Salient types are a set: order does not matter.
    expect(elaborate(cfg({ salientTypes: ["fp12", "fp8"] })).hash).toBe(elaborate(cfg({ salientTypes: ["fp8", "fp12"] })).hash);
  });

  it("the hash does not depend on the key order of the configuration object", () => {
    const a = elaborate(cfg({}));
    const reversed = Object.fromEntries(Object.entries(cfg({})).reverse()) as unknown as ArchConfig;
    expect(elaborate(reversed).hash).toBe(a.hash);
  });

  it("laneToRow is a permutation, flexible lanes 0..F-1 on the bottom rows (seed 4402)", () => {
    const rng = new Rng(4402);
    for (let i = 0; i < 40; i++) {
      const rows = rng.int(2, 256);
      const flexLines = rng.int(0, rows);
      const types = flexLines === 0 ? [] : flexLines === 1 ? ["fp8"] : rng.pick([["fp8"], ["fp12"], ["fp8", "fp12"]]);
      const d = elaborate(cfg({ rows, flexLines, salientTypes: types, psumBits: 32, memWordBits: 1024, bufferTokens: 65536 }));
      const tag = `seed 4402 #${i}: rows ${rows} F ${flexLines}`;
      expect(d.laneToRow, tag).toHaveLength(rows);
      expect([...d.laneToRow].sort((x, y) => x - y), tag).toEqual(Array.from({ length: rows }, (_, r) => r));
      const flexRows = d.laneToRow.slice(0, flexLines).sort((x, y) => x - y);
      expect(flexRows, tag).toEqual(Array.from({ length: flexLines }, (_, j) => rows - flexLines + j));
    }
  });
});
