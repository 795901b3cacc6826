/**
 * Weights of the IR. A parameter is a source (inline values, a constant, or seeded normal
 * values) plus an optional gather per axis. Permuting a parameter only records a gather,
 * so folding permutations into LLaMA-7B-sized weights never materialises them.
 */
import { UserError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import { compose } from "./perm.js";

export type ParamSource =
  | { kind: "data"; data: Float64Array }
  | { kind: "fill"; value: number }
  | { kind: "normal"; seed: number; mean: number; std: number };

export interface Param {
  /** [N] for vectors (gamma, beta, bias), [K, N] for linear weights. */
  dims: number[];
  source: ParamSource;
  /** perms[axis][i] = source index read at position i along that axis (absent: identity). */
  perms?: Array<number[] | undefined>;
}

export type Precision = "f64" | "f32";
export type FloatArray = Float64Array | Float32Array;

export function alloc(precision: Precision, n: number): FloatArray {
  return precision === "f64" ? new Float64Array(n) : new Float32Array(n);
}

/** Returns a copy of `p` whose values along `axis` are gathered by `perm` (composed with any earlier gather). */
export function permuteParam(p: Param, axis: number, perm: readonly number[]): Param {
  const perms = p.dims.map((_, a) => p.perms?.[a]);
  perms[axis] = compose(perms[axis], perm);
  return { ...p, perms };
}

/** The parameter's values, row-major in its logical (gathered) order. */
/** The most values one parameter may hold when it is computed (2^27: 1 GiB as float64). */
export const MAX_PARAM_VALUES = 2 ** 27;

export function materialize(p: Param, precision: Precision = "f64"): FloatArray {
  const n = p.dims.reduce((a, b) => a * b, 1);
  if (n > MAX_PARAM_VALUES) {
    throw new UserError(`a parameter of shape [${p.dims.join(", ")}] has ${n} values, more than the ${MAX_PARAM_VALUES} oltron computes: use a smaller dModel/ffn for co-simulation ('oltron plan' needs no weights)`);
  }
  const base = sourceValues(p.source, n);
  const out = alloc(precision, n);
  const rows = p.dims.length === 2 ? p.dims[0] : 1;
  const cols = p.dims[p.dims.length - 1];
  const rp = p.dims.length === 2 ? p.perms?.[0] : undefined;
  const cp = p.perms?.[p.dims.length - 1];
  for (let i = 0; i < rows; i++) {
    const src = (rp ? rp[i] : i) * cols;
    const dst = i * cols;
    for (let j = 0; j < cols; j++) out[dst + j] = base[src + (cp ? cp[j] : j)];
  }
  return out;
}

function sourceValues(s: ParamSource, n: number): Float64Array {
  switch (s.kind) {
    case "data":
      return s.data;
    case "fill":
      return new Float64Array(n).fill(s.value);
    case "normal": {
      const rng = new Rng(s.seed);
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = s.mean + s.std * rng.normal();
      return v;
    }
  }
}
