/**
 * The schema of the simulation result (sim-result.json, `sim/verify --json`), published as
 * docs/schemas/sim-result.schema.json (kept equal by a test, which also validates real
 * results against it). Field meanings: docs/formats.md, section 9.
 */
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";

const count = z.number().int().min(0);
/** Counters are NaN (null in JSON) when a run was stopped before the host could read them. */
const counter = count.nullable();
const access = z.object({ writes: count, reads: count });
const ramAccesses = z.object({ ibuf: access, wbuf: access, acc: access, out: access, stats: access });
const stage = z.object({ busy: count, stall: count, idle: count });
const latency = z.tuple([z.number().int().min(1), z.number().int().min(1)]);

export const simResultSchema = z.object({
  design: z.string(),
  arch: z.enum(["oltron", "int4", "olive", "w4a8"]),
  simulator: z.enum(["verilator", "icarus"]),
  status: z.enum(["done", "timeout", "error", "protocol"]),
  error: z.object({ code: count, name: z.string(), descriptor: counter }).optional(),
  pass: z.boolean(),
  memory: z.object({
    seed: count, readLatency: latency, writeLatency: latency,
    backpressure: z.object({ ar: z.number(), r: z.number(), aw: z.number(), w: z.number(), b: z.number() }),
    reorder: z.boolean(), bandwidth: z.number().optional(), slverrAt: count.optional(),
    fault: z.object({ kind: z.enum(["rid", "no-rlast", "early-rlast", "bid"]), at: count }).optional(),
  }),
  axi: z.object({ readBursts: counter, readBeats: counter, writeBursts: counter, writeBeats: counter, writeResponses: counter, maxReadsInFlight: counter }),
  cycles: z.object({ total: counter, busy: counter, stall: counter, watchdog: count }),
  wallClockLimit: count.optional(),
  trace: z.object({ file: z.string(), format: z.enum(["fst", "vcd"]), from: count, to: count.optional() }).optional(),
  words: z.object({ read: counter, written: counter }),
  macs: count,
  utilization: z.number().nullable(),
  idealCycles: z.number(),
  build: z.object({ key: z.string(), cached: z.boolean(), seconds: z.number(), reason: z.string().optional(), dir: z.string() }),
  wallSeconds: z.number(),
  simCyclesPerSecond: z.number().nullable(),
  macsPerSecond: z.number(),
  layers: z.array(z.object({
    name: z.string(), m: count, k: count, n: count, salientType: z.enum(["none", "fp8", "fp12"]), actFormat: z.enum(["tobe", "int8", "ovp-int", "ovp-flint"]), salientChannels: count, s: count, tiles: count, minTiles: count, mismatches: count,
    error: z.object({ sqnrDb: z.number().nullable(), mse: z.number() }).optional(),
    traffic: z.object({ read: count, written: count }).passthrough(),
    cycles: z.object({ total: count, busy: count, stall: count, utilization: z.number(), ideal: z.number() }).optional(),
    events: z.object({
      tokens: count, macs: z.record(count), decoder: z.record(count), activity: z.number().min(0).max(1), toggles: count, psumActivity: z.number().min(0).max(1), psumToggles: count,
      ram: ramAccesses, dram: z.object({ readBytes: count, writtenBytes: count }), source: z.enum(["rtl monitors + manifest", "images + manifest"]),
    }).optional(),
  }).passthrough()),
  events: z.object({
    ram: ramAccesses, cycles: count,
    stages: z.object({ read: stage, preload: stage, issue: stage, write: stage }),
  }).optional(),
  drainCycles: count.optional(),
  mismatches: count,
  firstMismatches: z.array(z.object({ layer: z.string(), token: count, channel: count, expected: z.number(), actual: z.number() })),
  provenance: z.object({
    oltron: z.string(), node: z.string(), simulator: z.object({ name: z.enum(["verilator", "icarus"]), version: z.string() }),
    command: z.array(z.string()), cwd: z.string(), startedAt: z.string().datetime(), finishedAt: z.string().datetime(),
    inputs: z.array(z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
    editedRtl: z.object({ edited: z.array(z.string()), added: z.array(z.string()) }).optional(),
    expectedFrom: z.string().optional(),
  }),
});

export function simResultSchemaDocument(): object {
  return zodToJsonSchema(simResultSchema, { name: "OltronSimResult", $refStrategy: "none" });
}
