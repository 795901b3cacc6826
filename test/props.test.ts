/**
 * Property-based hardening (fast-check, fixed seeds): random argument vectors, configuration
 * files, manifests, layer specs and tensor headers. Whatever they hold, oltron answers with a
 * clean exit code and a message, never an internal error or a stack trace, and a refused
 * command writes nothing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { execa } from "execa";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { UserError } from "../src/core/errors.js";
import { readTensorFile } from "../src/data/tensorio.js";
import { runGolden } from "../src/flows/golden.js";
import { parseLayerSpec, writeImageDir } from "../src/flows/quantize.js";
import { buildImageSet } from "../src/image/build.js";
import { loadManifest } from "../src/image/manifest.js";
import { Rng } from "../src/core/rng.js";
import { design, randomCodeLayer, tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const OLTRON = path.join(ROOT, "bin", "oltron.js");

/** Only a UserError (a message for the user) may come out; anything else fails the property. */
function cleanly(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof UserError)) throw new Error(`not a clean refusal: ${(e as Error)?.stack ?? e}`);
  }
}

const weird = fc.oneof(
  fc.constantFrom("", "0", "-1", "1e9", "NaN", "Infinity", "-0", "0x10", "1.5", "65536", "4294967296", "../x", "/", ".", "..", "a,b", "fp8,fp8", "none", "r0.5", "::", "💥"),
  fc.integer({ min: -5, max: 300 }).map(String),
  fc.string({ maxLength: 12 }),
);

describe("random command lines", () => {
  const flags = ["--rows", "--cols", "--flex-lines", "--salient-types", "--psum-bits", "--mem-word-bits", "--buffer-tokens", "--axi-id-bits",
    "--axi-max-burst", "--axi-max-reads", "--load-slots", "--preset", "--config", "--layer", "--threshold", "--ratio", "--seed", "--out", "--design",
    "--images", "--example", "--tokens", "--json", "--bogus"];
  const commands = [["generate"], ["formats"], ["report", "registers"], ["quantize"], ["golden"], ["plan"], ["formats", "fp8"], []];
  it("always end in a clean exit code with a message, never an internal error", async () => {
    const cwd = tmpDir("props-cli");
    const samples = fc.sample(
      fc.tuple(fc.constantFrom(...commands), fc.array(fc.tuple(fc.constantFrom(...flags), weird), { maxLength: 4 })),
      { seed: 4242, numRuns: 40 },
    );
    for (const [cmd, opts] of samples) {
      // Outputs go to the scratch folder; a stray relative --out lands there too.
      const args = [...cmd, ...opts.flatMap(([f, v]) => (f === "--json" ? [f] : [f, v]))];
      if (cmd[0] === "generate" && !args.includes("--out")) args.push("--out", path.join(cwd, "gen"));
      const r = await execa("node", [OLTRON, ...args], { cwd, reject: false, all: true });
      const where = `oltron ${args.join(" ")}\n${r.all}`;
      expect([0, 1, 2, 3], where).toContain(r.exitCode);
      expect(r.all, where).not.toMatch(/internal error|\n\s+at .*\(.*:\d+:\d+\)/);
      if (r.exitCode !== 0) expect(r.stderr.trim().length, where).toBeGreaterThan(0);
    }
  });
});

describe("random configuration files", () => {
  it("generate either writes a design or refuses with a message and writes nothing", async () => {
    const dir = tmpDir("props-config");
    const keys = ["rows", "cols", "flexLines", "salientTypes", "psumBits", "memWordBits", "bufferTokens", "axiIdBits", "axiMaxBurst", "axiMaxReads", "loadSlots", "other"];
    const value = fc.oneof(fc.integer({ min: -3, max: 2000 }), fc.double(), fc.constant(null), fc.string({ maxLength: 5 }), fc.array(fc.constantFrom("fp8", "fp12", "x"), { maxLength: 3 }), fc.boolean());
    const samples = fc.sample(fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 4 }), { seed: 77, numRuns: 12 });
    for (const [i, cfg] of samples.entries()) {
      const file = path.join(dir, `c${i}.json`);
      fs.writeFileSync(file, JSON.stringify(cfg));
      const out = path.join(dir, `out${i}`);
      const r = await execa("node", [OLTRON, "generate", "--config", file, "--out", out], { reject: false, all: true });
      const where = `${JSON.stringify(cfg)}\n${r.all}`;
      expect([0, 1], where).toContain(r.exitCode);
      expect(r.all, where).not.toMatch(/internal error/);
      if (r.exitCode !== 0) expect(fs.existsSync(out), where).toBe(false);
    }
  });
});

describe("random manifests", () => {
  const D = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });
  const base = tmpDir("props-man");
  writeImageDir(base, buildImageSet(D, [randomCodeLayer(D, new Rng(3), { m: 5, k: 9, n: 6, type: "fp8" })], { allowOverflow: true }));
  const original = JSON.parse(fs.readFileSync(path.join(base, "manifest.json"), "utf8"));

  /** Every path to a value inside the manifest, so a mutation can reach any field. */
  function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
    if (v === null || typeof v !== "object") return [at];
    const kids = Array.isArray(v) ? v.map((x, i) => paths(x, [...at, i])) : Object.entries(v).map(([k, x]) => paths(x, [...at, k]));
    return [at, ...kids.flat()];
  }
  const all = paths(original).filter((p) => p.length > 0);

  it("loading and running the golden model on any one-field edit either works or refuses with a message", () => {
    const replacement = fc.oneof(
      fc.constant(null), fc.constant(undefined), fc.integer({ min: -10, max: 10 }), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, 1e308, 0.5),
      fc.string({ maxLength: 6 }), fc.constantFrom("../x", "/etc/passwd", "", "a/b"), fc.constant([]), fc.constant({}), fc.boolean(),
    );
    fc.assert(
      fc.property(fc.constantFrom(...all), replacement, (where, value) => {
        const man = structuredClone(original);
        let o: Record<string | number, unknown> = man;
        for (const k of where.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
        const last = where[where.length - 1];
        if (value === undefined) delete o[last];
        else o[last] = value;
        const dir = fs.mkdtempSync(path.join(base, "m-"));
        for (const f of fs.readdirSync(base)) if (fs.statSync(path.join(base, f)).isFile()) fs.copyFileSync(path.join(base, f), path.join(dir, f));
        fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(man));
        try {
          cleanly(() => runGolden(dir, loadManifest(dir), { write: false }));
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { seed: 99, numRuns: 300 },
    );
  });
});

describe("random layer specs and tensor headers", () => {
  it("a --layer spec parses or is refused with a message", () => {
    const part = fc.oneof(fc.constantFrom("qkv", "o_proj", "up_gate", "down", "fp8", "fp12", "none", "r0.1", "r2", "4", "-1", "64x64x64", "0x1x1", "65537x1x1", "1e3x2x2", ""), fc.string({ maxLength: 6 }));
    fc.assert(fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => cleanly(() => parseLayerSpec(parts.join(":"), 0))), { seed: 5, numRuns: 500 });
  });

  it("a .npy with any header is read or refused with a message", () => {
    const dir = tmpDir("props-npy");
    const header = fc.oneof(
      fc.record({ descr: fc.constantFrom("<f4", "<f8", "<f2", "<i4", "|u1", ">f4", "<c8", "x"), fortran_order: fc.constantFrom("False", "True", "0"), shape: fc.array(fc.integer({ min: -2, max: 70000 }), { maxLength: 4 }) })
        .map((h) => `{'descr': '${h.descr}', 'fortran_order': ${h.fortran_order}, 'shape': (${h.shape.join(", ")}${h.shape.length === 1 ? "," : ""}), }`),
      fc.string({ maxLength: 40 }),
    );
    let n = 0;
    fc.assert(fc.property(header, fc.integer({ min: 0, max: 64 }), fc.constantFrom(1, 2, 3), (h, bodyBytes, version) => {
      const text = h.padEnd(Math.ceil((h.length + 11) / 64) * 64 - 11, " ") + "\n";
      const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
      const len = Buffer.alloc(version === 1 ? 2 : 4);
      if (version === 1) len.writeUInt16LE(text.length);
      else len.writeUInt32LE(text.length);
      const file = path.join(dir, `t${n++}.npy`);
      fs.writeFileSync(file, Buffer.concat([pre, len, Buffer.from(text, "latin1"), Buffer.alloc(bodyBytes)]));
      cleanly(() => readTensorFile(file));
    }), { seed: 11, numRuns: 300 });
  });

  it("a .safetensors with any header is read or refused with a message", () => {
    const dir = tmpDir("props-st");
    const entry = fc.record({
      dtype: fc.constantFrom("F32", "F16", "BF16", "F64", "I8", "U8", "X"),
      shape: fc.array(fc.integer({ min: -1, max: 5000 }), { maxLength: 3 }),
      data_offsets: fc.tuple(fc.integer({ min: -4, max: 80 }), fc.integer({ min: -4, max: 80 })),
    });
    const header = fc.oneof(fc.dictionary(fc.constantFrom("a", "b", "__metadata__"), entry, { maxKeys: 3 }).map((o) => JSON.stringify(o)), fc.string({ maxLength: 30 }));
    let n = 0;
    fc.assert(fc.property(header, fc.integer({ min: 0, max: 80 }), fc.boolean(), (h, bodyBytes, lieAboutLength) => {
      const text = Buffer.from(h, "utf8");
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(lieAboutLength ? text.length + 1000 : text.length));
      const file = path.join(dir, `t${n++}.safetensors`);
      fs.writeFileSync(file, Buffer.concat([len, text, Buffer.alloc(bodyBytes)]));
      cleanly(() => readTensorFile(file, "a"));
    }), { seed: 12, numRuns: 300 });
  });
});

describe("published schema", () => {
  it("docs/schemas/manifest.schema.json is the schema oltron validates with, and a fresh manifest satisfies it", async () => {
    const { manifestJsonSchema, schemaProblems } = await import("../src/image/manifest-schema.js");
    const file = path.join(ROOT, "docs", "schemas", "manifest.schema.json");
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual(JSON.parse(JSON.stringify(manifestJsonSchema())));
    const D = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });
    const dir = tmpDir("schema");
    writeImageDir(dir, buildImageSet(D, [randomCodeLayer(D, new Rng(4), { m: 3, k: 7, n: 5, type: "fp12" })], { allowOverflow: true }));
    expect(schemaProblems(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")))).toEqual([]);
    // The published document itself, read by a JSON Schema validator, accepts what oltron writes.
    const ajv = new Ajv({ strict: false });
    const valid = ajv.compile(JSON.parse(fs.readFileSync(file, "utf8")));
    expect(valid(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"))), JSON.stringify(valid.errors)).toBe(true);
    expect(schemaProblems({ format: "oltron-images", version: 1 })[0]).toBe("design = missing: required (object)");
    expect(schemaProblems({ ...JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")), memWordBits: 4096 })).toEqual(["memWordBits = 4096: must be <= 1024"]);
  });
});

describe("published schemas of design.json and the result", () => {
  it("docs/schemas/*.schema.json equal the schemas in the code, and real files satisfy them", async () => {
    const { designJsonSchema, designJsonSchemaDocument } = await import("../src/hw/design-schema.js");
    const { simResultSchema, simResultSchemaDocument } = await import("../src/flows/result-schema.js");
    const read = (f: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "docs", "schemas", f), "utf8"));
    expect(read("design.schema.json")).toEqual(JSON.parse(JSON.stringify(designJsonSchemaDocument())));
    expect(read("sim-result.schema.json")).toEqual(JSON.parse(JSON.stringify(simResultSchemaDocument())));
    const dir = tmpDir("schemas");
    const run = await execa("node", [OLTRON, "verify", "--preset", "tiny", "--layer", "qkv:8x16x8", "--out", path.join(dir, "run")], { reject: false, all: true });
    expect(run.exitCode, run.all).toBe(0);
    const design = JSON.parse(fs.readFileSync(path.join(dir, "run", "design", "design.json"), "utf8"));
    expect(designJsonSchema.safeParse(design).success).toBe(true);
    const ajv = new Ajv({ strict: false });
    const validDesign = ajv.compile(read("design.schema.json"));
    expect(validDesign(design), JSON.stringify(validDesign.errors)).toBe(true);
    expect(designJsonSchema.safeParse({ ...design, config: { ...design.config, memWordBits: 48 } }).success).toBe(false);
    const result = JSON.parse(fs.readFileSync(path.join(dir, "run", "images", "sim-result.json"), "utf8"));
    const parsed = simResultSchema.safeParse(result);
    expect(parsed.success, JSON.stringify(parsed.error?.issues?.slice(0, 3))).toBe(true);
    expect(simResultSchema.safeParse({ ...result, status: "fine" }).success).toBe(false);
    const validResult = ajv.compile(read("sim-result.schema.json"));
    expect(validResult(result), JSON.stringify(validResult.errors)).toBe(true);
    expect(validResult({ ...result, status: "fine" })).toBe(false);
  });
});
