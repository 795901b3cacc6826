/**
 * The design-space sweep `oltron explore` runs: a configuration file (JSON or YAML) or the
 * default below, checked with a schema so a bad value is named with its legal range.
 */
import * as fs from "node:fs";
import YAML from "yaml";
import { z } from "zod";
import { UserError } from "../core/errors.js";
import { LAYER_TYPES } from "../data/synthetic.js";
import { ARCH_NAMES, type ArchName } from "../hw/parts.js";

const layerSchema = z.object({
  /** The synthetic activation profile (data/synthetic.ts) and the layer's name in results. */
  type: z.enum(LAYER_TYPES),
  k: z.number().int().min(1).max(65536),
  n: z.number().int().min(1).max(65536),
}).strict();

export const exploreConfigSchema = z.object({
  archs: z.array(z.enum(ARCH_NAMES as unknown as [ArchName, ...ArchName[]])).min(1),
  /** Square arrays, by their presets (<arch>-16x16, -32x32, -64x64; 4 and 8: tiny and small8). */
  sizes: z.array(z.union([z.literal(4), z.literal(8), z.literal(16), z.literal(32), z.literal(64)])).min(1),
  /** Oltron only: flexible lines (default: the preset's). */
  flexLines: z.array(z.number().int().min(1).max(64)).min(1).optional(),
  /** Oltron only: the salient type of its decoder and plans. */
  salientTypes: z.array(z.enum(["fp8", "fp12"])).min(1),
  /** Oltron only: bits per activation the adaptive planner may spend (docs/quantization.md). */
  budgets: z.array(z.number().gt(4).max(16)).min(1),
  /**
   * Oltron only: "budget" lets the planner add tiles (salient channels beyond the flexible lanes
   * cost extra tiles, hence cycles and image bits); "equal-tiles" allows no tile beyond the
   * all-int4 count, so the layer costs the cycles of the other architectures.
   */
  oltronPlans: z.array(z.enum(["budget", "equal-tiles"])).min(1),
  /** The decoder block's layers (LLaMA-7B shapes by default; q, k, v fused, gate and up fused). */
  layers: z.array(layerSchema).min(1),
  /** Tokens the cost is computed for (prefill length). */
  tokens: z.number().int().min(1).max(1 << 20),
  /** Accuracy sample: held-out tokens, calibration tokens and output channels quantized and scored. */
  evalTokens: z.number().int().min(8).max(8192),
  calibTokens: z.number().int().min(8).max(8192),
  sampleN: z.number().int().min(1).max(1024),
  seeds: z.array(z.number().int().min(0).max(0xffffffff)).min(1),
}).strict();

export type ExploreConfig = z.infer<typeof exploreConfigSchema>;
export type ExploreLayer = z.infer<typeof layerSchema>;

/** LLaMA-7B: hidden 4096, MLP 11008; prefill of 2048 tokens. */
export const LLAMA7B_LAYERS: ExploreLayer[] = [
  { type: "qkv", k: 4096, n: 12288 },
  { type: "o_proj", k: 4096, n: 4096 },
  { type: "up_gate", k: 4096, n: 22016 },
  { type: "down", k: 11008, n: 4096 },
];

export const DEFAULT_EXPLORE: ExploreConfig = {
  archs: [...ARCH_NAMES],
  sizes: [16, 64],
  salientTypes: ["fp8"],
  budgets: [4.25],
  oltronPlans: ["budget", "equal-tiles"],
  layers: LLAMA7B_LAYERS,
  tokens: 2048,
  evalTokens: 256,
  calibTokens: 128,
  sampleN: 64,
  seeds: [1],
};

/** The default with a file's keys over it. */
export function loadExploreConfig(file?: string): ExploreConfig {
  if (!file) return DEFAULT_EXPLORE;
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new UserError(`${file}: no such file (give a JSON or YAML sweep configuration; docs/ppa.md, "oltron explore")`);
  let raw: unknown;
  try {
    const text = fs.readFileSync(file, "utf8");
    raw = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"} (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`${file}: expected a mapping of sweep keys (${Object.keys(exploreConfigSchema.shape).join(", ")})`);
  const parsed = exploreConfigSchema.safeParse({ ...DEFAULT_EXPLORE, ...(raw as object) });
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const got = i.path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], raw);
    throw new UserError(`${file}: invalid ${i.path.join(".") || "configuration"}${got !== undefined ? ` = ${JSON.stringify(got)}` : ""}: ${i.message}`);
  }
  return parsed.data;
}
