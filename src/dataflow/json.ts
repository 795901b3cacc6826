/**
 * JSON forms of the IR (schema in docs/dataflow.md): "oltron-dataflow-graph" lists nodes
 * explicitly; "oltron-blocks" is the short form for a stack of LLaMA/OPT blocks. Both may
 * carry a "permutations" section. Unknown keys are errors so a typo never silently
 * changes a model.
 */
import { UserError } from "../core/errors.js";
import { buildBlocks, type BlockConfig } from "./blocks.js";
import { analyze, OPS, type Graph, type Node, type Op } from "./graph.js";
import type { Param, ParamSource } from "./params.js";
import { checkPerm } from "./perm.js";
import type { DeriveOptions } from "./derive.js";

export const GRAPH_FORMAT = "oltron-dataflow-graph";
export const BLOCKS_FORMAT = "oltron-blocks";
export const FORMAT_VERSION = 1;

export interface PermutationSpec {
  /** Explicit permutations by linear name. */
  layers: Record<string, number[]>;
  /** Derive the rest (seeded importance); absent: the rest keep original order. */
  derive?: DeriveOptions & { seed: number };
}

export interface Model {
  graph: Graph;
  permutations: PermutationSpec;
  /** Set when the model came from the block short form. */
  blocks?: BlockConfig;
}

/** Used when a file has no "permutations" section: derive every permutation from seed 1. */
export const DEFAULT_PERMUTATIONS: PermutationSpec = { layers: {}, derive: { seed: 1 } };

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new UserError(`${where}: expected a JSON object, got ${JSON.stringify(v)?.slice(0, 60)}`);
  return v as Obj;
}

function keys(o: Obj, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new UserError(`${where}: unknown key '${k}' (allowed: ${allowed.join(", ")})`);
}

function num(o: Obj, k: string, where: string, dflt?: number): number {
  const v = o[k] ?? dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${where}: '${k}' must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function int(o: Obj, k: string, where: string, dflt?: number): number {
  const v = num(o, k, where, dflt);
  if (!Number.isInteger(v) || v < 0) throw new UserError(`${where}: '${k}' must be a non-negative integer, got ${v}`);
  return v;
}

/** An integer field within a range, checked before anything is built from it. */
function bounded(o: Obj, k: string, where: string, lo: number, hi: number, dflt?: number): number {
  const v = int(o, k, where, dflt);
  if (v < lo || v > hi) throw new UserError(`${where}: '${k}' = ${v} is outside ${lo}..${hi}`);
  return v;
}

function str(o: Obj, k: string, where: string): string {
  const v = o[k];
  if (typeof v !== "string" || !v) throw new UserError(`${where}: '${k}' must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

export function modelFromJson(json: unknown, source: string): Model {
  const o = obj(json, source);
  const fmt = o.format;
  if (o.version !== FORMAT_VERSION) throw new UserError(`${source}: 'version' must be ${FORMAT_VERSION}, got ${JSON.stringify(o.version)}`);
  let graph: Graph;
  let blocks: BlockConfig | undefined;
  if (fmt === BLOCKS_FORMAT) {
    keys(o, ["format", "version", "name", "arch", "dModel", "heads", "ffn", "layers", "seed", "eps", "bias", "permutations"], source);
    const arch = o.arch as BlockConfig["arch"];
    blocks = {
      arch,
      dModel: bounded(o, "dModel", source, 1, 65536),
      heads: bounded(o, "heads", source, 1, 1024),
      ffn: bounded(o, "ffn", source, 1, 262144),
      layers: bounded(o, "layers", source, 1, 1024, 1),
      seed: int(o, "seed", source, 1),
      eps: num(o, "eps", source, arch === "opt" ? 1e-5 : 1e-6),
      bias: o.bias === undefined ? arch === "opt" : bool(o.bias, `${source}: 'bias'`),
      ...(o.name !== undefined ? { name: str(o, "name", source) } : {}),
    };
    graph = buildBlocks(blocks);
  } else if (fmt === GRAPH_FORMAT) {
    keys(o, ["format", "version", "name", "input", "outputs", "nodes", "permutations"], source);
    graph = graphFromObj(o, source);
  } else {
    throw new UserError(`${source}: 'format' must be "${GRAPH_FORMAT}" or "${BLOCKS_FORMAT}", got ${JSON.stringify(fmt)}`);
  }
  const permutations = o.permutations === undefined ? DEFAULT_PERMUTATIONS : permsFromObj(o.permutations, `${source}: permutations`);
  return { graph, permutations, ...(blocks ? { blocks } : {}) };
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== "boolean") throw new UserError(`${where} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function permsFromObj(v: unknown, where: string): PermutationSpec {
  const o = obj(v, where);
  keys(o, ["layers", "derive"], where);
  const layers: Record<string, number[]> = {};
  for (const [k, p] of Object.entries(obj(o.layers ?? {}, `${where}.layers`))) {
    if (!Array.isArray(p)) throw new UserError(`${where}.layers['${k}']: must be an array of channel indices`);
    layers[k] = p as number[];
  }
  if (o.derive === undefined || o.derive === null) return { layers };
  const d = obj(o.derive, `${where}.derive`);
  keys(d, ["seed", "salientRatio", "tile", "headAware"], `${where}.derive`);
  return {
    layers,
    derive: {
      seed: int(d, "seed", `${where}.derive`, 1),
      ...(d.salientRatio !== undefined ? { salientRatio: num(d, "salientRatio", `${where}.derive`) } : {}),
      ...(d.tile !== undefined ? { tile: int(d, "tile", `${where}.derive`) } : {}),
      ...(d.headAware !== undefined ? { headAware: bool(d.headAware, `${where}.derive.headAware`) } : {}),
    },
  };
}

function graphFromObj(o: Obj, source: string): Graph {
  const input = obj(o.input, `${source}: input`);
  keys(input, ["name", "channels"], `${source}: input`);
  const g: Graph = {
    name: o.name === undefined ? "graph" : str(o, "name", source),
    input: { name: str(input, "name", `${source}: input`), channels: int(input, "channels", `${source}: input`) },
    outputs: strings(o.outputs, `${source}: outputs`),
    nodes: [],
  };
  if (!Array.isArray(o.nodes)) throw new UserError(`${source}: 'nodes' must be an array`);
  // Parameter dims depend on channel counts, so they are tracked while reading in order.
  const channels = new Map<string, number>([[g.input.name, g.input.channels]]);
  o.nodes.forEach((raw, i) => {
    const n = nodeFromObj(raw, `${source}: nodes[${i}]`, channels);
    g.nodes.push(n);
    channels.set(n.name, n.op === "linear" ? n.out : channels.get(n.inputs[n.op === "attention" ? 2 : 0]) ?? 0);
  });
  analyze(g);
  return g;
}

function strings(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw new UserError(`${where}: must be an array of value names`);
  return v as string[];
}

const NODE_KEYS: Record<Op, string[]> = {
  linear: ["out", "weight", "bias", "perm"],
  rmsnorm: ["eps", "gamma", "outPerm"],
  layernorm: ["eps", "gamma", "beta", "outPerm"],
  attention: ["heads", "causal"],
  softmax: ["groups"],
  reorder: ["perm"],
  add: [],
  mul: [],
  silu: [],
  relu: [],
};

function nodeFromObj(raw: unknown, where: string, channels: Map<string, number>): Node {
  const o = obj(raw, where);
  const op = o.op as Op;
  if (!OPS.includes(op)) throw new UserError(`${where}: 'op' must be one of ${OPS.join(", ")}, got ${JSON.stringify(o.op)}`);
  const name = str(o, "name", where);
  const at = `${where} ('${name}')`;
  keys(o, ["op", "name", "inputs", ...NODE_KEYS[op]], at);
  const inputs = strings(o.inputs, `${at}: inputs`);
  if (inputs.length === 0) throw new UserError(`${at}: 'inputs' is empty`);
  const cin = channels.get(inputs[0]);
  if (cin === undefined) throw new UserError(`${at}: input '${inputs[0]}' is not the graph input or an earlier node`);
  const perm = (k: string) => (o[k] === undefined ? {} : { [k]: checkPerm(o[k], cin, `${at}: ${k}`) });
  switch (op) {
    case "linear": {
      const out = int(o, "out", at);
      return {
        op,
        name,
        inputs,
        out,
        weight: paramFromJson(o.weight, [cin, out], `${at}: weight`),
        ...(o.bias !== undefined && o.bias !== null ? { bias: paramFromJson(o.bias, [out], `${at}: bias`) } : {}),
        ...perm("perm"),
      };
    }
    case "rmsnorm":
    case "layernorm":
      return {
        op,
        name,
        inputs,
        eps: num(o, "eps", at, 1e-5),
        gamma: paramFromJson(o.gamma ?? { fill: 1 }, [cin], `${at}: gamma`),
        ...(op === "layernorm" ? { beta: paramFromJson(o.beta ?? { fill: 0 }, [cin], `${at}: beta`) } : {}),
        ...perm("outPerm"),
      };
    case "attention":
      return { op, name, inputs, heads: int(o, "heads", at), causal: o.causal === undefined ? true : bool(o.causal, `${at}: causal`) };
    case "softmax":
      return { op, name, inputs, groups: int(o, "groups", at, 1) };
    case "reorder":
      return { op, name, inputs, perm: checkPerm(o.perm, cin, `${at}: perm`) };
    default:
      return { op, name, inputs };
  }
}

/** Reads a parameter; `dims` come from the node (a "dims" key, if given, must agree). */
export function paramFromJson(v: unknown, dims: number[], where: string): Param {
  const o = obj(v, where);
  const axisKeys = dims.length === 2 ? ["rowPerm", "colPerm"] : ["perm"];
  keys(o, ["dims", "data", "fill", "seed", "mean", "std", ...axisKeys], where);
  if (o.dims !== undefined && JSON.stringify(o.dims) !== JSON.stringify(dims)) {
    throw new UserError(`${where}: dims ${JSON.stringify(o.dims)} do not match the node's [${dims.join(", ")}]`);
  }
  const kinds = ["data", "fill", "seed"].filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) throw new UserError(`${where}: give exactly one of 'data' (inline values), 'fill' (a constant) or 'seed' (seeded normal values), got ${kinds.length ? kinds.join(" and ") : "none"}`);
  const n = dims.reduce((a, b) => a * b, 1);
  let source: ParamSource;
  if (o.data !== undefined) {
    const flat = Array.isArray(o.data) ? (o.data as unknown[]).flat() : undefined;
    if (!flat || flat.length !== n || flat.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
      throw new UserError(`${where}: 'data' must hold ${n} finite numbers ([${dims.join(" x ")}], flat or as rows), got ${flat ? flat.length + " entries" : JSON.stringify(o.data)?.slice(0, 40)}`);
    }
    source = { kind: "data", data: Float64Array.from(flat as number[]) };
  } else if (o.fill !== undefined) {
    source = { kind: "fill", value: num(o, "fill", where) };
  } else {
    source = { kind: "normal", seed: int(o, "seed", where), mean: num(o, "mean", where, 0), std: num(o, "std", where, 1) };
  }
  const perms = axisKeys.map((k, a) => (o[k] === undefined ? undefined : checkPerm(o[k], dims[a], `${where}: ${k}`)));
  return { dims, source, ...(perms.some((p) => p) ? { perms } : {}) };
}

export function paramToJson(p: Param): Obj {
  const s = p.source;
  const o: Obj = { dims: p.dims };
  if (s.kind === "data") o.data = Array.from(s.data);
  else if (s.kind === "fill") o.fill = s.value;
  else Object.assign(o, { seed: s.seed, mean: s.mean, std: s.std });
  const axisKeys = p.dims.length === 2 ? ["rowPerm", "colPerm"] : ["perm"];
  axisKeys.forEach((k, a) => {
    if (p.perms?.[a]) o[k] = p.perms[a];
  });
  return o;
}

export function graphToJson(g: Graph): Obj {
  return {
    format: GRAPH_FORMAT,
    version: FORMAT_VERSION,
    name: g.name,
    input: g.input,
    outputs: g.outputs,
    nodes: g.nodes.map((n) => {
      const o: Obj = { op: n.op, name: n.name, inputs: n.inputs };
      for (const [k, v] of Object.entries(n)) {
        if (k === "op" || k === "name" || k === "inputs" || v === undefined) continue;
        o[k] = typeof v === "object" && v !== null && "source" in v ? paramToJson(v as Param) : v;
      }
      return o;
    }),
  };
}

/** JSON text with one node (or one permutation) per line: diffable, and still small. */
export function stringifyModel(o: Obj): string {
  const lines = Object.entries(o).map(([k, v]) => {
    if (k === "nodes" && Array.isArray(v)) return `  "nodes": [\n${v.map((n) => `    ${JSON.stringify(n)}`).join(",\n")}\n  ]`;
    if (k === "permutations" && typeof v === "object" && v) {
      const inner = Object.entries(v as Obj).map(([pk, pv]) =>
        pk === "layers" && pv && typeof pv === "object"
          ? `    "layers": {\n${Object.entries(pv as Obj).map(([l, p]) => `      ${JSON.stringify(l)}: ${JSON.stringify(p)}`).join(",\n")}\n    }`
          : `    ${JSON.stringify(pk)}: ${JSON.stringify(pv)}`,
      );
      return `  "permutations": {\n${inner.join(",\n")}\n  }`;
    }
    return `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`;
  });
  return `{\n${lines.join(",\n")}\n}\n`;
}
