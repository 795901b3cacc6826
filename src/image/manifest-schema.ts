/**
 * The schema of manifest.json (docs/formats.md): every field's type and range, checked with
 * zod before anything reads a value, and published as JSON Schema
 * (docs/schemas/manifest.schema.json, kept equal to this file by a test). Cross-field
 * consistency (tiles, permutation, descriptors, image sizes) is checked in manifest.ts.
 */
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const count = int(0, 2 ** 32);
const positive = z.number().finite().gt(0);
const sha = z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 (64 lowercase hex digits)");
const fileName = z.string().min(1);

const image = z.object({ file: fileName, offset: count, words: int(1, 2 ** 32), sha256: sha });

export const manifestLayerSchema = z.object({
  name: z.string().min(1),
  layerType: z.string().optional(),
  m: int(1, 2 ** 24),
  k: int(1, 2 ** 24),
  n: int(1, 2 ** 24),
  salientType: z.enum(["none", "fp8", "fp12"]),
  actFormat: z.enum(["tobe", "int8", "ovp-int", "ovp-flint"]).optional(),
  plan: z.object({
    salientType: z.enum(["none", "fp8", "fp12"]),
    ratio: z.number().min(0).max(1).optional(),
    threshold: positive.optional(),
    channels: z.array(int(0, 2 ** 24)).optional(),
    groups: int(1, 2 ** 24).optional(),
    scaling: z.enum(["tensor", "token"]).optional(),
    weights: z.enum(["rtn", "gptq"]).optional(),
    wClip: z.boolean().optional(),
    clip: z.number().gt(0).max(1).optional(),
  }).passthrough(),
  salientChannels: int(0, 2 ** 24),
  s: int(0, 1024),
  tiles: int(1, 2 ** 24),
  minTiles: int(0, 2 ** 24),
  tileChannels: int(1, 1024),
  salientLanes: int(0, 1024),
  paddedK: int(1, 2 ** 26),
  nTiles: int(1, 2 ** 24),
  paddedN: int(1, 2 ** 26),
  actScale: positive,
  actScales: z.array(positive).optional(),
  weightScales: z.array(positive),
  permutation: z.array(int(-1, 2 ** 24)),
  salientSet: z.array(int(-1, 2 ** 24)),
  descriptors: z.object({ first: count, count: int(1, 2 ** 24) }),
  act: image.extend({ tileStride: count }),
  wgt: image.extend({ blockStride: count }),
  out: z.object({ offset: count, words: int(1, 2 ** 32), tileStride: count, file: fileName }),
  reference: z.object({ x: fileName, w: fileName, xSha256: sha.optional(), wSha256: sha.optional() }).optional(),
}).passthrough();

export const manifestSchema = z.object({
  format: z.literal("oltron-images"),
  version: z.literal(1),
  design: z.object({
    name: z.string().min(1),
    hash: z.string().min(1),
    arch: z.enum(["oltron", "int4", "olive", "w4a8"]).optional(),
    rows: int(2, 256),
    cols: int(2, 256),
    flexLines: int(0, 256),
    memWordBits: int(32, 1024),
    bufferTokens: int(2, 65536),
    actStrideBits: int(1, 2 ** 24),
    wgtStrideBits: int(1, 2 ** 24),
    outStrideBits: int(1, 2 ** 24),
    descriptorWords: int(1, 1024),
    loadSlots: z.union([z.literal(2), z.literal(4), z.literal(8)]).optional(),
    axiMaxBurst: int(1, 256).optional(),
    axiMaxReads: int(1, 32).optional(),
  }).passthrough(),
  memWordBits: int(32, 1024),
  memoryWords: int(1, 2 ** 32),
  descriptorTable: image.extend({ count: int(1, 2 ** 32) }),
  layers: z.array(manifestLayerSchema).min(1),
  manifestSha256: sha,
}).passthrough();

/** The first problems zod found, each naming the field, the value found and what is legal. */
export function schemaProblems(value: unknown): string[] {
  const r = manifestSchema.safeParse(value);
  if (r.success) return [];
  return r.error.issues.slice(0, 3).map((i) => {
    const where = i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").replace(/^\./, "") || "(top)";
    let found: unknown = value;
    for (const p of i.path) found = found !== null && typeof found === "object" ? (found as Record<string | number, unknown>)[p] : undefined;
    const shown = found === undefined ? "missing" : JSON.stringify(found)?.slice(0, 60);
    return `${where} = ${shown}: ${legal(i)}`;
  });
}

function legal(i: z.ZodIssue): string {
  switch (i.code) {
    case "invalid_type": return i.received === "undefined" ? `required (${i.expected})` : `must be ${i.expected === "number" ? "a number" : `a${/^[aeiou]/.test(i.expected) ? "n" : ""} ${i.expected}`}`;
    case "too_small": return i.type === "array" ? `needs at least ${i.minimum} entries` : i.type === "string" ? "must not be empty" : `must be ${i.inclusive ? ">=" : ">"} ${i.minimum}`;
    case "too_big": return `must be ${i.inclusive ? "<=" : "<"} ${i.maximum}`;
    case "invalid_enum_value": return `must be one of ${i.options.join(", ")}`;
    case "invalid_literal": return `must be ${JSON.stringify(i.expected)}`;
    default: return i.message.toLowerCase();
  }
}

/** The published JSON Schema of manifest.json. */
export function manifestJsonSchema(): object {
  return zodToJsonSchema(manifestSchema, { name: "OltronManifest", $refStrategy: "none" });
}
