/**
 * The schema of design.json, published as docs/schemas/design.schema.json (kept equal by a
 * test). The file is read back by re-elaborating its `config` (every cross-parameter rule is
 * checked there, hw/design.ts); this schema states each field's type and single-field range.
 */
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const pow2 = (min: number, max: number) => int(min, max).refine((v) => (v & (v - 1)) === 0, "must be a power of two");

export const archConfigSchema = z.object({
  arch: z.enum(["oltron", "int4", "olive", "w4a8"]),
  rows: int(2, 256),
  cols: int(2, 256),
  flexLines: int(0, 256),
  salientTypes: z.array(z.enum(["fp8", "fp12"])).max(2),
  psumBits: int(1, 32),
  memWordBits: pow2(32, 1024),
  bufferTokens: pow2(2, 65536),
  axiIdBits: int(1, 8),
  axiMaxBurst: int(1, 256),
  axiMaxReads: int(1, 32),
  loadSlots: z.union([z.literal(2), z.literal(4), z.literal(8)]),
  statsDepth: pow2(2, 4096),
});

export const designJsonSchema = z.object({
  generator: z.object({ name: z.literal("oltron-gen"), version: z.string() }),
  config: archConfigSchema,
  hash: z.string().regex(/^[0-9a-f]{6}$/),
  prefix: z.string(),
  name: z.string(),
  arch: z.enum(["oltron", "int4", "olive", "w4a8"]),
  decoder: z.enum(["tobe", "ovp", "none"]),
  grid: z.array(z.object({ pe: z.enum(["eff", "flex", "ovp", "w4a8"]), rows: int(1, 256) })),
  formats: z.array(z.enum(["tobe", "int8", "ovp-int", "ovp-flint"])),
  rows: int(2, 256),
  cols: int(2, 256),
  flexLines: int(0, 256),
  effRows: int(0, 256),
  pes: z.object({ efficient: int(0, 65536), flexible: int(0, 65536), total: int(4, 65536) }),
  rtl: z.object({
    top: z.string(),
    tbTop: z.string(),
    sources: z.array(z.string()),
    /** The wrapper module name given to 'oltron generate --top-name' (the hash stays in `prefix`). */
    stableTop: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
    /** The standard project files written beside the RTL (filelists, FuseSoC core, package, register maps). */
    project: z.array(z.string()).optional(),
  }).passthrough(),
}).passthrough();

export function designJsonSchemaDocument(): object {
  return zodToJsonSchema(designJsonSchema, { name: "OltronDesign", $refStrategy: "none" });
}
