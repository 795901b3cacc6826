/**
 * The `--json` contract: one zod schema per command's JSON document, published as
 * docs/schemas/cli/<name>.schema.json (kept equal by a test) and checked on every print, so a
 * document that drifts from its schema is an oltron bug (exit 70), never a silent change a
 * script finds later. Objects are open (`passthrough`): fields may be added in a minor
 * version, never removed or retyped.
 */
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";
import { archConfigSchema } from "../hw/design-schema.js";
import { simResultSchema } from "../flows/result-schema.js";

const num = z.number();
const int = z.number().int();
const str = z.string();
const open = <T extends z.ZodRawShape>(shape: T) => z.object(shape).passthrough();

/** `{"error": ...}`: what every command prints on stdout under --json when it fails. */
export const errorOutput = z.object({
  error: z.object({
    kind: z.enum(["bad-input", "usage"]).describe("bad-input: a value, file or configuration (exit 1); usage: an unknown or missing option or command (exit 2)"),
    code: str.describe("stable machine-readable code, e.g. invalid-option-value, unknown-option, missing-option, bad-input"),
    message: str,
    exitCode: int,
    field: str.optional().describe("the option or argument at fault, e.g. --rows"),
    value: str.optional().describe("the value given"),
    hint: str.optional().describe("what to do, e.g. the legal range or the option meant"),
  }),
});

const errorFigures = open({ sqnrDb: num, mse: num }).nullable();

const goldenRow = open({
  name: str, m: int, k: int, n: int, macs: num, expectedFile: str, dequantizedFile: str.optional(), error: errorFigures.optional(), seconds: num,
});

const formatsRow = z.union([
  open({ code: int, value: num.nullable() }),
  open({ code: int, normal: z.unknown(), outlier: z.unknown() }),
]);

const siliconModule = open({ module: str, areaUm2: num }).describe("one mapped module (hw/silicon.ts ModuleSilicon)");

export const JSON_OUTPUTS = {
  error: { doc: "any command under --json, when it fails", schema: errorOutput },
  formats: { doc: "oltron formats <type> --json: the decode table", schema: z.array(formatsRow) },
  generate: {
    doc: "oltron generate --json",
    schema: open({
      design: str, out: str, config: archConfigSchema, pes: open({ efficient: int, flexible: int, total: int }), top: str,
      stableTop: str.optional(), project: z.array(str), files: z.array(str),
    }),
  },
  quantize: {
    doc: "oltron quantize --json (with --golden, the golden results too)",
    schema: open({
      out: str, design: str, memoryWords: int, memWordBits: int,
      layers: z.array(open({
        name: str, m: int, k: int, n: int, salientType: str, actFormat: str, salientChannels: int, s: int, tiles: int, minTiles: int, nTiles: int,
        actScale: z.union([num, z.array(num)]),
      })),
      golden: z.array(goldenRow).optional(),
    }),
  },
  golden: { doc: "oltron golden --json: one row per layer", schema: z.array(goldenRow) },
  "sim-result": { doc: "oltron sim/verify/demo --json: the simulation result (also docs/schemas/sim-result.schema.json)", schema: simResultSchema },
  plan: {
    doc: "oltron plan --json: the dataflow plan of a transformer block",
    schema: open({
      graph: str, explicitReorders: int,
      entries: z.array(open({ linear: str, input: z.unknown(), channels: z.unknown(), placement: z.unknown(), refusal: z.unknown().optional(), where: z.unknown() })),
    }),
  },
  "report-run": {
    doc: "oltron report <run-folder> --json: the report's data",
    schema: open({
      design: str, arch: str, simulator: str, status: str, pass: z.boolean(),
      cycles: open({ total: num, busy: num, stall: num, ideal: num }), utilization: num,
      layers: z.array(open({
        name: str, m: int, k: int, n: int, format: str, tiles: int, minTiles: int, averageBits: num, mismatches: int,
        traffic: open({ descriptors: num, activations: num, weights: num, written: num }),
        salientChannelsList: z.array(int), slotsPerTile: z.array(int),
      })),
    }),
  },
  "report-accuracy": {
    doc: "oltron report <bench-results> --json: SQNR-vs-bits points",
    schema: z.array(open({ design: str, layer: str, method: str, label: str, bits: num, sqnrDb: num })),
  },
  "report-area": {
    doc: "oltron report area --json: {silicon, cells}",
    schema: open({
      silicon: open({
        design: str, arch: str, library: open({ name: str, node: str, vdd: num, file: str, sha256: str }), tools: open({ yosys: str, sta: str }),
        modules: z.array(siliconModule), rams: z.array(open({})), logicAreaUm2: num, ramAreaUm2: num, totalAreaUm2: num,
        byRole: z.record(open({ logicUm2: num, ramUm2: num })), timing: open({ fmaxMHz: num }), ramTable: open({ source: str, version: num }),
      }),
      cells: open({ design: str, yosys: str, hybrid: open({}), cached: open({ hybrid: z.boolean() }) }),
    }),
  },
  "report-energy": {
    doc: "oltron report energy --json",
    schema: open({
      design: str, arch: str, fmaxMHz: num, areaMm2: num,
      layers: z.array(open({
        name: str, m: int, k: int, n: int, cycles: num,
        energy: open({ parts: z.record(num), totalPj: num, perTokenPj: num, topsPerW: num, topsPerMm2: num, fmaxMHz: num, seconds: num, sources: z.record(str) }),
      })),
    }),
  },
  "report-registers": {
    doc: "oltron report registers --json",
    schema: open({
      design: str,
      registers: z.array(open({ name: str, offset: int, access: z.enum(["ro", "rw", "wo", "w1c"]), doc: str, read: str.optional() })),
      errors: z.array(open({ name: str, code: int, doc: str })),
    }),
  },
  explore: {
    doc: "oltron explore --json (and explore collect --json): explore.json",
    schema: open({
      generator: str, config: open({}), blocks: z.array(open({})), points: z.array(open({ key: str, design: str, sqnrDb: num, cycles: num })),
      sensitivity: z.unknown(), ranking: z.array(str), sources: z.record(str),
    }),
  },
  status: {
    doc: "oltron explore status / verify status --json: the jobs of a plan",
    schema: open({
      jobs: int,
      states: z.array(open({ index: int, key: str, what: str, state: z.enum(["done", "running", "failed", "stale", "pending"]), detail: str.optional() })),
    }),
  },
  bench: {
    doc: "oltron bench --json: perf.json",
    schema: open({
      generatedAt: str, machine: open({ cpus: int, node: str }), quick: z.boolean(),
      golden: open({ shape: z.array(int), seconds: num, macsPerSecond: num }).optional(),
      generation: z.array(open({ design: str, seconds: num })),
      layers: z.array(open({ design: str, layer: str, m: int, k: int, n: int, cycles: num, utilization: num, bitExact: z.boolean() })),
      simulationSpeed: z.array(open({ design: str, simCyclesPerSecond: num, speedRatio: num, verdict: str })),
      peArea: z.array(open({ pe: str, ratio: num, meetsTarget: z.boolean() })),
      pool: open({}).optional(),
      gptq: open({ rows: z.array(open({ k: int, n: int, m: int, ratio: num, codesEqual: num, meetsTarget: z.boolean() })) }).optional(),
    }),
  },
  "bench-accuracy": {
    doc: "oltron bench accuracy --json: accuracy.json",
    schema: open({
      generatedAt: str, machine: open({ cpus: int, node: str }), seconds: num, setup: open({}), designs: z.array(open({ name: str })),
      layers: z.array(open({})), model: z.array(open({})),
      deviations: z.array(open({ deviation: str, description: str, method: str, samples: int, meanDb: num, minDb: num, maxDb: num })),
      summary: open({ rows: int, targetMet: int, failures: z.array(str), equalCycles: open({ rows: int, met: int, failures: z.array(str) }) }),
    }),
  },
  "cache-list": { doc: "oltron cache list --json", schema: open({ root: str, entries: z.array(open({ path: str, bytes: int })) }) },
  "cache-clean": { doc: "oltron cache clean --json", schema: open({ root: str, removed: z.array(str), bytes: int, inUse: z.array(str) }) },
} as const;

export type JsonOutputName = keyof typeof JSON_OUTPUTS;

/** The published JSON Schema of one output. */
export function jsonOutputSchemaDocument(name: JsonOutputName): object {
  const o = JSON_OUTPUTS[name];
  return { ...zodToJsonSchema(o.schema, { name: `oltron-${name}`, $refStrategy: "none" }), description: o.doc };
}

/**
 * Prints a command's JSON document after checking it against its published schema: a
 * mismatch is a bug in oltron, reported as one (exit 70) rather than printed.
 */
export function printJson(name: JsonOutputName, value: unknown, indent = 1): void {
  const text = JSON.stringify(value, null, indent || undefined);
  const r = JSON_OUTPUTS[name].schema.safeParse(JSON.parse(text));
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`the --json output '${name}' does not match its schema (docs/schemas/cli/${name}.schema.json): ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  console.log(text);
}

