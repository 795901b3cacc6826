/**
 * The seeded draws the synthetic data generators share (data/synthetic.ts, data/mechanistic.ts):
 * deterministic on every run of the same Node major version.
 */
import { Rng } from "../core/rng.js";

/** Independent random streams per (seed, layer type, purpose): changing one leaves the others alone. */
export function streamSeed(seed: number, typeIndex: number, stream: number): number {
  let h = (seed ^ Math.imul(typeIndex + 2, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = (h ^ Math.imul(stream, 0xc2b2ae35)) >>> 0;
  return Math.imul(h ^ (h >>> 13), 0x27d4eb2f) >>> 0;
}

/** Box-Muller keeping both outputs: half the transcendental calls of Rng.normal(). */
export class Gauss {
  private spare = 0;
  private hasSpare = false;
  constructor(readonly rng: Rng) {}
  next(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u = 1 - this.rng.next(); // (0, 1]: log stays finite
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.rng.next();
    this.spare = r * Math.sin(a);
    this.hasSpare = true;
    return r * Math.cos(a);
  }
}

export function logUniform(rng: Rng, [lo, hi]: readonly [number, number]): number {
  return lo * Math.exp(rng.next() * Math.log(hi / lo));
}

export function median(v: ArrayLike<number>): number {
  const s = Float64Array.from(v).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
