/**
 * Channel permutations. Convention everywhere in the dataflow code (the TOBE convention):
 * perm[i] is the original channel placed at position i, so a gather reads in[:, perm[i]].
 * A value's "layout" is such a permutation: the original channel stored at each position.
 */
import { UserError } from "../core/errors.js";

export type Perm = readonly number[];

export function identity(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export function isIdentity(p: Perm): boolean {
  return p.every((v, i) => v === i);
}

export function samePerm(a: Perm, b: Perm): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Throws unless `p` is a permutation of 0..n-1; `what` names it in the message. */
export function checkPerm(p: unknown, n: number, what: string): number[] {
  if (!Array.isArray(p)) throw new UserError(`${what}: permutation must be an array of channel indices, got ${typeof p}`);
  if (p.length !== n) throw new UserError(`${what}: permutation has ${p.length} entries, the layer has ${n} input channels`);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = p[i];
    if (!Number.isInteger(c) || c < 0 || c >= n) {
      throw new UserError(`${what}: entry ${i} is ${JSON.stringify(c)}, not a channel index in 0..${n - 1} (TOBE zero-padding channels (-1) belong to the quantizer's tile layout, not to the graph)`);
    }
    if (seen[c]) throw new UserError(`${what}: channel ${c} appears twice (entries must be a permutation of 0..${n - 1})`);
    seen[c] = 1;
  }
  return [...(p as number[])];
}

export function inverse(p: Perm): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}

/** The gather that turns data stored in layout `from` into layout `to`. */
export function between(from: Perm, to: Perm): number[] {
  const inv = inverse(from);
  return to.map((c) => inv[c]);
}

/** Applying gather `outer` to data already gathered by `inner`: result[i] = inner[outer[i]]. */
export function compose(inner: Perm | undefined, outer: Perm): number[] {
  return inner ? outer.map((i) => inner[i]) : [...outer];
}

/**
 * Block structure of `p` over blocks of `size` channels: if every output block reads one
 * whole input block, returns that block map (rho[b] = source block); otherwise the first
 * output block that reads from two input blocks, with one channel from each.
 */
export function blockMap(
  p: Perm,
  size: number,
): { rho: number[] } | { crossing: { block: number; channels: [number, number]; sources: [number, number] } } {
  const blocks = p.length / size;
  const rho = new Array<number>(blocks);
  for (let b = 0; b < blocks; b++) {
    const first = p[b * size];
    const src = Math.floor(first / size);
    for (let j = 1; j < size; j++) {
      const c = p[b * size + j];
      if (Math.floor(c / size) !== src) return { crossing: { block: b, channels: [first, c], sources: [src, Math.floor(c / size)] } };
    }
    rho[b] = src;
  }
  return { rho };
}

/** The permutation that moves whole blocks of `size` channels by `rho`, keeping order within blocks. */
export function blockPerm(rho: Perm, size: number): number[] {
  const p: number[] = [];
  for (const src of rho) for (let j = 0; j < size; j++) p.push(src * size + j);
  return p;
}

/** Short human summary for tables and messages. */
export function describePerm(p: Perm): string {
  if (isIdentity(p)) return "identity";
  const head = p.slice(0, 4).join(",");
  return `[${head}${p.length > 4 ? ",…" : ""}] (${p.length})`;
}
