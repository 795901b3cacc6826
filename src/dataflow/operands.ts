/**
 * The hand-off to the quantized-path proof: for every linear of a (rewritten) graph, the
 * activations it actually reads, already in its TOBE order, and its stored weights, so the
 * quantizer and golden model can be run per layer against the float result.
 */
import type { Tensor } from "../core/tensor.js";
import { evaluate, type Activation } from "./eval.js";
import type { Graph } from "./graph.js";
import { identity } from "./perm.js";
import { materialize, type FloatArray, type Precision } from "./params.js";

export interface LinearOperand {
  name: string;
  /** Input activations as evaluated [tokens x K], in the linear's TOBE order. */
  x: Tensor;
  /** Weights as stored [K x N]: rows in TOBE order, columns in the order the pass chose for the output. */
  w: Tensor;
  /** TOBE permutation of the input channels (perm[i] = original channel at position i). */
  perm: number[];
  bias?: Tensor;
  /** The linear's output as evaluated [tokens x N] (= x w + bias), for checking a quantized result. */
  y: Tensor;
}

export function linearOperands(graph: Graph, x: Activation, opts: { precision?: Precision } = {}): LinearOperand[] {
  const e = evaluate(graph, x, opts);
  const f32 = (shape: number[], d: FloatArray): Tensor => ({ shape, data: d instanceof Float32Array ? d : Float32Array.from(d) });
  const out: LinearOperand[] = [];
  for (const n of graph.nodes) {
    if (n.op !== "linear") continue;
    const k = e.channels.get(n.inputs[0])!;
    out.push({
      name: n.name,
      x: f32([e.tokens, k], e.values.get(n.inputs[0])!),
      w: f32([k, n.out], materialize(n.weight, "f32")),
      perm: n.perm ? [...n.perm] : identity(k),
      ...(n.bias ? { bias: f32([n.out], materialize(n.bias, "f32")) } : {}),
      y: f32([e.tokens, n.out], e.values.get(n.name)!),
    });
  }
  return out;
}
