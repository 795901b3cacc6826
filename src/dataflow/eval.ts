/**
 * Float reference evaluator for the IR. Arithmetic runs in doubles; with precision "f32"
 * every stored value (weights and node outputs) is rounded to float32, which is what a
 * float32 implementation that accumulates in a wide register would compute.
 */
import { UserError } from "../core/errors.js";
import { analyze, type AttentionNode, type Graph, type LinearNode, type Node, type NormNode } from "./graph.js";
import { alloc, materialize, type FloatArray, type Precision } from "./params.js";

export interface Activation {
  shape: readonly number[];
  data: ArrayLike<number>;
}

export interface Evaluation {
  tokens: number;
  /** Every value of the graph (input and node outputs), [tokens x channels] row-major. */
  values: Map<string, FloatArray>;
  channels: Map<string, number>;
}

export function evaluate(g: Graph, x: Activation, opts: { precision?: Precision } = {}): Evaluation {
  const precision = opts.precision ?? "f64";
  const { channels } = analyze(g);
  const [tokens, c] = x.shape;
  if (x.shape.length !== 2 || c !== g.input.channels || !(tokens >= 1)) {
    throw new UserError(`graph '${g.name}': input must be [tokens x ${g.input.channels}], got [${x.shape.join(" x ")}]`);
  }
  const values = new Map<string, FloatArray>();
  const xin = alloc(precision, tokens * c);
  xin.set(Array.from(x.data));
  values.set(g.input.name, xin);
  for (const n of g.nodes) {
    const ins = n.inputs.map((v) => values.get(v)!);
    const cin = n.inputs.map((v) => channels.get(v)!);
    values.set(n.name, run(n, ins, cin, tokens, precision));
  }
  return { tokens, values, channels };
}

/** The graph outputs of an evaluation, in `g.outputs` order. */
export function outputs(g: Graph, e: Evaluation): FloatArray[] {
  return g.outputs.map((o) => e.values.get(o)!);
}

function run(n: Node, ins: FloatArray[], cin: number[], t: number, p: Precision): FloatArray {
  const c = cin[0];
  switch (n.op) {
    case "linear":
      return linear(n, ins[0], t, c, p);
    case "rmsnorm":
    case "layernorm":
      return norm(n, ins[0], t, c, p);
    case "attention":
      return attention(n, ins, cin, t, p);
    case "softmax":
      return softmax(ins[0], t, c, n.groups, p);
    case "reorder": {
      const out = alloc(p, t * c);
      for (let r = 0; r < t; r++) for (let i = 0; i < c; i++) out[r * c + i] = ins[0][r * c + n.perm[i]];
      return out;
    }
    case "add":
      return map2(ins[0], ins[1], p, (a, b) => a + b);
    case "mul":
      return map2(ins[0], ins[1], p, (a, b) => a * b);
    case "silu":
      return map1(ins[0], p, (a) => a / (1 + Math.exp(-a)));
    case "relu":
      return map1(ins[0], p, (a) => (a > 0 ? a : 0));
  }
}

function linear(n: LinearNode, x: FloatArray, t: number, k: number, p: Precision): FloatArray {
  const w = materialize(n.weight, p);
  const b = n.bias ? materialize(n.bias, p) : undefined;
  const nOut = n.out;
  const out = alloc(p, t * nOut);
  const acc = new Float64Array(nOut);
  for (let r = 0; r < t; r++) {
    if (b) acc.set(b);
    else acc.fill(0);
    for (let i = 0; i < k; i++) {
      const a = x[r * k + i];
      if (a === 0) continue;
      const row = i * nOut;
      for (let j = 0; j < nOut; j++) acc[j] += a * w[row + j];
    }
    out.set(acc, r * nOut);
  }
  return out;
}

function norm(n: NormNode, x: FloatArray, t: number, c: number, p: Precision): FloatArray {
  const gamma = materialize(n.gamma, p);
  const beta = n.beta ? materialize(n.beta, p) : undefined;
  const out = alloc(p, t * c);
  for (let r = 0; r < t; r++) {
    const row = r * c;
    let mean = 0;
    if (n.op === "layernorm") {
      for (let i = 0; i < c; i++) mean += x[row + i];
      mean /= c;
    }
    let sq = 0;
    for (let i = 0; i < c; i++) sq += (x[row + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / c + n.eps);
    for (let i = 0; i < c; i++) {
      const src = n.outPerm ? n.outPerm[i] : i;
      out[row + i] = gamma[i] * (x[row + src] - mean) * inv + (beta ? beta[i] : 0);
    }
  }
  return out;
}

function attention(n: AttentionNode, [q, k, v]: FloatArray[], [cq, , cv]: number[], t: number, p: Precision): FloatArray {
  const h = n.heads;
  const dq = cq / h;
  const dv = cv / h;
  const scale = 1 / Math.sqrt(dq);
  const out = alloc(p, t * cv);
  const s = new Float64Array(t);
  for (let hd = 0; hd < h; hd++) {
    for (let i = 0; i < t; i++) {
      const last = n.causal ? i : t - 1;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let d = 0; d < dq; d++) dot += q[i * cq + hd * dq + d] * k[j * cq + hd * dq + d];
        s[j] = dot * scale;
        if (s[j] > max) max = s[j];
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += s[j] = Math.exp(s[j] - max);
      for (let d = 0; d < dv; d++) {
        let acc = 0;
        for (let j = 0; j <= last; j++) acc += s[j] * v[j * cv + hd * dv + d];
        out[i * cv + hd * dv + d] = acc / sum;
      }
    }
  }
  return out;
}

function softmax(x: FloatArray, t: number, c: number, groups: number, p: Precision): FloatArray {
  const out = alloc(p, t * c);
  const gs = c / groups;
  for (let r = 0; r < t; r++) {
    for (let g = 0; g < groups; g++) {
      const base = r * c + g * gs;
      let max = -Infinity;
      for (let i = 0; i < gs; i++) max = Math.max(max, x[base + i]);
      let sum = 0;
      for (let i = 0; i < gs; i++) sum += Math.exp(x[base + i] - max);
      for (let i = 0; i < gs; i++) out[base + i] = Math.exp(x[base + i] - max) / sum;
    }
  }
  return out;
}

function map1(a: FloatArray, p: Precision, f: (x: number) => number): FloatArray {
  const out = alloc(p, a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]);
  return out;
}

function map2(a: FloatArray, b: FloatArray, p: Precision, f: (x: number, y: number) => number): FloatArray {
  const out = alloc(p, a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
  return out;
}
