/**
 * Golden model: images written by buildImageSet, run through runGolden, compared with an
 * independent BigInt evaluation of SPEC section 3 from the codes, for every code and random
 * bit patterns (wrap-around included); image integrity; quantization error figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { elaborate, resolveConfig, type ArchConfig, type ElaboratedDesign } from "../src/hw/design.js";
import { UserError } from "../src/core/errors.js";
import { writeImageDir } from "../src/flows/quantize.js";
import { quantError } from "../src/golden.js";
import { runGolden } from "../src/flows/golden.js";
import { readOutputBlock } from "../src/image/read.js";
import { Block } from "../src/image/block.js";
import { writeFiles } from "../src/core/files.js";
import { loadManifest, type Manifest, type ManifestLayer } from "../src/image/manifest.js";
import { quantizeLayer, type LayerInput, type QuantizedLayer } from "../src/quant/quantizer.js";
import { buildImageSet } from "../src/image/build.js";
import { Rng } from "../src/core/rng.js";
import { tensor2d } from "../src/core/tensor.js";
import { readTensorFile } from "../src/data/tensorio.js";
import { tileGeometry } from "../src/quant/tobe.js";
import { type SalientKind } from "../src/core/formats.js";
import {
  handLayer, refMatmul, refReadActCodes, refReadOutput, refReadWgtCodes, RefRegion, type RefLayerShape,
} from "./helpers/reference.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-golden-test-"));
  dirs.push(d);
  return d;
}

function design(cfg: Partial<ArchConfig>): ElaboratedDesign {
  return elaborate(resolveConfig(cfg));
}

/** Writes the image set of `layers` to a fresh folder; returns it and the manifest read back from disk. */
function writeSet(d: ElaboratedDesign, layers: QuantizedLayer[]): { dir: string; man: Manifest } {
  const dir = tmpDir();
  writeFiles(dir, buildImageSet(d, layers, { allowOverflow: true }).files);
  return { dir, man: loadManifest(dir) };
}

function shapeOf(man: Manifest, l: ManifestLayer): RefLayerShape {
  return {
    m: l.m, tiles: l.tiles, tileChannels: l.tileChannels, s: l.s, salientType: l.salientType, paddedK: l.paddedK,
    nTiles: l.nTiles, paddedN: l.paddedN, cols: man.design.cols,
    actTileStride: l.act.tileStride, wgtBlockStride: l.wgt.blockStride, outTileStride: l.out.tileStride,
    actStrideBits: man.design.actStrideBits, wgtStrideBits: man.design.wgtStrideBits, outStrideBits: man.design.outStrideBits,
    bufferTokens: man.design.bufferTokens,
  };
}

/**
 * Runs the golden model over the folder and checks every layer against the BigInt reference
 * computed from the layer's codes; also re-reads the images with the independent reader.
 * Returns how many exact sums left int32 (so callers can prove wrap-around was exercised).
 */
function checkGolden(dir: string, man: Manifest, layers: QuantizedLayer[], tag: string): number {
  const results = runGolden(dir, man);
  expect(results.map((r) => r.name)).toEqual(layers.map((q) => q.name));
  let wrapped = 0;
  for (const q of layers) {
    const l = man.layers.find((x) => x.name === q.name) as ManifestLayer;
    const g = q.geometry;
    const W = man.memWordBits;
    const shape = shapeOf(man, l);
    const ltag = `${tag} layer ${q.name} (m ${q.m} k ${q.k} n ${q.n} ${g.salientType} s ${g.s} tiles ${g.tiles} tc ${g.tileChannels})`;
    // The images hold exactly the layer's codes (docs/formats.md reader).
    const actText = fs.readFileSync(path.join(dir, l.act.file), "utf8");
    expect(refReadActCodes(RefRegion.fromHex(actText, W), shape), `${ltag}: activation image`).toEqual(Array.from(q.actCodes));
    const wgtText = fs.readFileSync(path.join(dir, l.wgt.file), "utf8");
    const wantW = new Array<number>(l.paddedK * l.paddedN).fill(0);
    for (let i = 0; i < l.paddedK; i++) for (let j = 0; j < q.n; j++) wantW[i * l.paddedN + j] = q.wgtCodes[i * q.n + j];
    expect(refReadWgtCodes(RefRegion.fromHex(wgtText, W), shape), `${ltag}: weight image`).toEqual(wantW);

    const { y, exact } = refMatmul(q.actCodes, q.wgtCodes, q.m, g.paddedK, q.n, l.paddedN, g.tileChannels, g.s, g.salientType);
    wrapped += exact.filter((v) => v !== BigInt.asIntN(32, v)).length;
    const text = fs.readFileSync(path.join(dir, `${q.name}.expected.hex`), "utf8");
    expect(text.split("\n").length - 1, `${ltag}: output words`).toBe(l.out.words);
    const viaProject = Array.from(readOutputBlock(man, l, Block.fromHex(text, W, "expected")));
    const viaReference = refReadOutput(RefRegion.fromHex(text, W), shape);
    // Report the first differing element with its coordinates.
    const firstDiff = (got: number[]) => {
      const i = got.findIndex((v, idx) => v !== y[idx]);
      return i < 0 ? "" : `first mismatch at token ${Math.floor(i / l.paddedN)} column ${i % l.paddedN}: got ${got[i]}, want ${y[i]}`;
    };
    expect(firstDiff(viaProject), `${ltag} (readOutputBlock)`).toBe("");
    expect(firstDiff(viaReference), `${ltag} (independent reader)`).toBe("");
  }
  return wrapped;
}

const MASK: Record<SalientKind, number> = { none: 0, fp8: 0xff, fp12: 0xfff };

describe("golden model: exact for every code", () => {
  it("all 4096 fp12 codes, against all int4 weights (seed 7101)", () => {
    const d = design({ rows: 16, cols: 16, flexLines: 8, memWordBits: 128, bufferTokens: 64 });
    const T = 16;
    const g = tileGeometry(d, 12 * T, 4 * T, "fp12");
    expect(g).toMatchObject({ tiles: T, tileChannels: 12, s: 4 });
    const rng = new Rng(7101);
    const q = handLayer({
      name: "fp12all", m: 64, k: 12 * T, n: 21, geometry: g,
      act: (r, i, sal) => (sal ? r * 64 + Math.floor(i / 12) * 4 + (i % 12) : rng.int(0, 15)),
      wgt: () => rng.int(0, 15),
    }) as unknown as QuantizedLayer;
    const seen = new Set<number>();
    for (let r = 0; r < q.m; r++) for (let i = 0; i < g.paddedK; i++) if (i % 12 < 4) seen.add(q.actCodes[r * g.paddedK + i]);
    expect(seen.size).toBe(4096);
    const { dir, man } = writeSet(d, [q]);
    const wrapped = checkGolden(dir, man, [q], "seed 7101");
    expect(wrapped, "exponent-31 and large codes must wrap some sums").toBeGreaterThan(0);
  });

  it("all 256 fp8 codes, int4 everywhere else (seed 7102)", () => {
    const d = design({ rows: 16, cols: 8, flexLines: 8, salientTypes: ["fp8"], memWordBits: 64, bufferTokens: 16 });
    const g = tileGeometry(d, 32, 16, "fp8");
    expect(g).toMatchObject({ tiles: 2, tileChannels: 16, s: 8 });
    const rng = new Rng(7102);
    const q = handLayer({
      name: "fp8all", m: 16, k: 32, n: 13, geometry: g,
      act: (r, i, sal) => (sal ? r * 16 + Math.floor(i / 16) * 8 + (i % 16) : rng.int(0, 15)),
      wgt: () => rng.int(0, 15),
    }) as unknown as QuantizedLayer;
    const seen = new Set<number>();
    for (let r = 0; r < q.m; r++) for (let i = 0; i < g.paddedK; i++) if (i % 16 < 8) seen.add(q.actCodes[r * g.paddedK + i]);
    expect(seen.size).toBe(256);
    const { dir, man } = writeSet(d, [q]);
    checkGolden(dir, man, [q], "seed 7102");
  });

  it("extremes: largest reserved codes times -8 everywhere wrap exactly", () => {
    const d = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });
    const g = tileGeometry(d, 30, 10, "fp12");
    const q = handLayer({
      name: "extreme", m: 3, k: 30, n: 5, geometry: g,
      act: (r, _i, sal) => (sal ? 0x7ff | ((r & 1) << 11) : 0x8),
      wgt: () => 0x8,
    }) as unknown as QuantizedLayer;
    // By hand: each fp12 slot is +-127 * 2^30, times -8 = -+1016 * 2^30 = 0 mod 2^32 (1016 * 2^30 = 254 * 2^32);
    // each int4 slot is -8 * -8 = 64. So Y = 64 * (number of int4 slots).
    const int4Slots = g.paddedK - g.tiles * g.s;
    const { dir, man } = writeSet(d, [q]);
    checkGolden(dir, man, [q], "extremes");
    const l = man.layers[0];
    const text = fs.readFileSync(path.join(dir, "extreme.expected.hex"), "utf8");
    const y = refReadOutput(RefRegion.fromHex(text, 64), shapeOf(man, l));
    for (let r = 0; r < 3; r++) for (let c = 0; c < 5; c++) expect(y[r * l.paddedN + c]).toBe(64 * int4Slots);
  });
});

describe("golden model: random bit patterns over a seeded sweep of designs and shapes", () => {
  const designs: Partial<ArchConfig>[] = [
    { rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 },
    { rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 },
    { rows: 8, cols: 4, flexLines: 3, salientTypes: ["fp8"], memWordBits: 32, bufferTokens: 8 }, // rows span 2 words
    { rows: 16, cols: 8, flexLines: 0, salientTypes: [], memWordBits: 1024, bufferTokens: 64 },
    { rows: 5, cols: 3, flexLines: 4, memWordBits: 256, bufferTokens: 64 },
    { rows: 16, cols: 16, flexLines: 2, memWordBits: 256, bufferTokens: 16 },
  ];
  for (const [di, cfg] of designs.entries()) {
    const seed = 7200 + di;
    it(`design ${JSON.stringify(cfg)} (seed ${seed})`, () => {
      const d = design(cfg);
      const rng = new Rng(seed);
      let wrapped = 0;
      for (let round = 0; round < 3; round++) {
        const layers: QuantizedLayer[] = [];
        const nLayers = rng.int(1, 3);
        for (let li = 0; li < nLayers; li++) {
          const m = rng.int(1, 40);
          const k = rng.int(1, 60);
          const n = rng.int(1, 20);
          const types = d.config.salientTypes;
          const type: SalientKind = types.length === 0 || rng.next() < 0.15 ? "none" : rng.pick(types);
          const p = type === "none" ? 0 : rng.int(1, Math.min(k, 12));
          const g = tileGeometry(d, k, p, type);
          const reservedBias = rng.next(); // some layers lean on exponent-31 codes
          layers.push(handLayer({
            name: `r${round}_l${li}`, m, k, n, geometry: g,
            act: (_r, _i, sal) => {
              if (!sal) return rng.int(0, 15);
              const mask = MASK[g.salientType];
              const c = rng.u32() & mask;
              if (rng.next() < reservedBias * 0.5) {
                const mb = g.salientType === "fp8" ? 2 : 6;
                return c | (31 << mb); // exponent 31
              }
              return c;
            },
            wgt: () => rng.int(0, 15),
          }) as unknown as QuantizedLayer);
        }
        const { dir, man } = writeSet(d, layers);
        wrapped += checkGolden(dir, man, layers, `seed ${seed} round ${round}`);
      }
      if (d.config.salientTypes.length > 0) expect(wrapped, `seed ${seed}: no sum wrapped`).toBeGreaterThan(0);
    });
  }

  it("int4-only layers need no wrap and match exactly (seed 7301)", () => {
    const d = design({ rows: 8, cols: 8, flexLines: 0, salientTypes: [], memWordBits: 64, bufferTokens: 8 });
    const rng = new Rng(7301);
    const g = tileGeometry(d, 50, 0, "none");
    const q = handLayer({ name: "i4", m: 19, k: 50, n: 17, geometry: g, act: () => rng.int(0, 15), wgt: () => rng.int(0, 15) }) as unknown as QuantizedLayer;
    const { dir, man } = writeSet(d, [q]);
    expect(checkGolden(dir, man, [q], "seed 7301")).toBe(0);
  });
});

describe("golden model: image integrity", () => {
  const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
  const make = () => {
    const rng = new Rng(7401);
    const g = tileGeometry(d, 20, 3, "fp8");
    const q = handLayer({ name: "attn.q", m: 6, k: 20, n: 10, geometry: g, act: (_r, _i, s) => rng.int(0, s ? 255 : 15), wgt: () => rng.int(0, 15) }) as unknown as QuantizedLayer;
    return writeSet(d, [q]);
  };

  for (const which of ["act", "wgt"] as const) {
    it(`one modified byte in the ${which} image is refused with a UserError naming the file`, () => {
      const { dir, man } = make();
      const file = path.join(dir, `attn.q.${which}.hex`);
      const bytes = fs.readFileSync(file);
      // Change one hex digit to another valid hex digit so only the hash can catch it.
      const at = bytes.indexOf(0x0a) - 3;
      bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
      fs.writeFileSync(file, bytes);
      let err: unknown;
      try {
        runGolden(dir, man);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain(`attn.q.${which}.hex`);
      expect((err as Error).message).toMatch(/sha256/);
      expect(fs.existsSync(path.join(dir, "attn.q.expected.hex")), "no output written for a corrupt image").toBe(false);
    });
  }

  it("a missing image is refused with a UserError naming the file", () => {
    const { dir, man } = make();
    fs.rmSync(path.join(dir, "attn.q.wgt.hex"));
    expect(() => runGolden(dir, man)).toThrow(UserError);
    expect(() => runGolden(dir, man)).toThrow(/attn\.q\.wgt\.hex/);
  });

  it("the unmodified folder passes, and write: false writes nothing", () => {
    const { dir, man } = make();
    runGolden(dir, man, { write: false });
    expect(fs.existsSync(path.join(dir, "attn.q.expected.hex"))).toBe(false);
    runGolden(dir, man);
    expect(fs.existsSync(path.join(dir, "attn.q.expected.hex"))).toBe(true);
  });
});

describe("quantError", () => {
  it("exact data: zero MSE and an enormous SQNR", () => {
    // x = [[1, 2], [3, -1]], w = [[2], [1]] -> ref [4, 5]; s_a = 0.5, s_w = 2 -> Y = [4, 5] reproduces it exactly.
    // Column 1 of each output row is padding (paddedN = 2), poisoned with -7: it must be ignored.
    const x = Float32Array.from([1, 2, 3, -1]);
    const w = Float32Array.from([2, 1]);
    const e = quantError(x, w, 2, 2, 1, Int32Array.from([4, -7, 5, -7]), 2, 0.5, [2]);
    expect(e.mse).toBe(0);
    expect(e.sqnrDb).toBeGreaterThan(200);
    expect(e.refPower).toBe((16 + 25) / 2);
  });

  it("all-zero data reproduced exactly is not reported as the worst SQNR (-Infinity dB)", () => {
    // Reference and output are both 0: an exact result. 10 log10(0 / 1e-300) = -Infinity would rank it worst.
    const e = quantError(new Float32Array(4), Float32Array.from([2, 1]), 2, 2, 1, new Int32Array(4), 2, 0.5, [2]);
    expect(e.mse).toBe(0);
    expect(e.sqnrDb).toBeGreaterThan(200);
  });

  it("a hand-computed tiny case (padded columns ignored)", () => {
    // ref = [3, 5.5]; Y = [3, 5] (column 1 of each row is padding, poisoned with 999);
    // dequantized = Y * 0.5 * 2 = [3, 5]; errors [0, 0.5]; MSE = 0.25 / 2 = 0.125;
    // power = (9 + 30.25) / 2 = 19.625; SQNR = 10 log10(39.25 / 0.25) = 10 log10(157).
    const x = Float32Array.from([1, 2, 3, -1]);
    const w = Float32Array.from([2, 0.5]);
    const e = quantError(x, w, 2, 2, 1, Int32Array.from([3, 999, 5, 999]), 2, 0.5, [2]);
    expect(e.mse).toBeCloseTo(0.125, 12);
    expect(e.refPower).toBeCloseTo(19.625, 12);
    expect(e.sqnrDb).toBeCloseTo(10 * Math.log10(157), 9);
    expect(e.sqnrDb).toBeCloseTo(21.959, 3);
  });

  it("end to end: quantized Gaussian layers give a sane SQNR equal to an independent recomputation (seed 7501)", () => {
    const d = design({ rows: 16, cols: 16, flexLines: 2 });
    const rng = new Rng(7501);
    const layers: LayerInput[] = [];
    for (const [name, plan, m, k, n] of [
      ["fp8", { salientType: "fp8" as const }, 24, 70, 20],
      ["fp12", { salientType: "fp12" as const, ratio: 0.05 }, 9, 33, 17],
      ["none", { salientType: "none" as const }, 12, 40, 8],
    ] as const) {
      const x = tensor2d(m, k);
      const w = tensor2d(k, n);
      for (let r = 0; r < m; r++) for (let c = 0; c < k; c++) x.data[r * k + c] = rng.normal() * (c % 13 === 0 && name !== "none" ? 25 : 1);
      for (let i = 0; i < k * n; i++) w.data[i] = rng.normal() * 0.02;
      layers.push({ name, x, w, plan });
    }
    const dir = tmpDir();
    const quantized = layers.map((l) => quantizeLayer(d, l));
    const out = path.join(dir, "img");
    writeImageDir(out, buildImageSet(d, quantized), layers);
    const man = loadManifest(out);
    const results = runGolden(out, man);
    for (const [li, q] of quantized.entries()) {
      const r = results[li];
      const l = man.layers[li];
      expect(r.error, `${q.name}: reference tensors present, error figures expected`).toBeDefined();
      // Reference tensors on disk are the float inputs.
      expect(Array.from(readTensorFile(path.join(out, `${q.name}.x.npy`)).data)).toEqual(Array.from(layers[li].x.data));
      const { y } = refMatmul(q.actCodes, q.wgtCodes, q.m, q.geometry.paddedK, q.n, l.paddedN, q.geometry.tileChannels, q.geometry.s, q.geometry.salientType);
      const { x, w } = layers[li];
      let err = 0;
      let pow = 0;
      for (let t = 0; t < q.m; t++) {
        for (let j = 0; j < q.n; j++) {
          let ref = 0;
          for (let c = 0; c < q.k; c++) ref += x.data[t * q.k + c] * w.data[c * q.n + j];
          const deq = y[t * l.paddedN + j] * q.actScale * q.weightScales[j];
          err += (ref - deq) ** 2;
          pow += ref ** 2;
        }
      }
      const mse = err / (q.m * q.n);
      const sqnr = 10 * Math.log10(pow / err);
      expect(r.error!.mse / mse, `seed 7501 ${q.name}: mse ${r.error!.mse} vs ${mse}`).toBeCloseTo(1, 9);
      expect(r.error!.sqnrDb, `seed 7501 ${q.name}`).toBeCloseTo(sqnr, 6);
      expect(r.error!.sqnrDb, `seed 7501 ${q.name}: int4/fp quantization should land in a sane range`).toBeGreaterThan(5);
      expect(r.error!.sqnrDb).toBeLessThan(60);
    }
  });
});
