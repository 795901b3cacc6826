/**
 * What the array will see, read from a layer's images without simulating: the token rows in
 * the order the issue stage sends them (token chunks, N-tiles, K-tiles, tokens), their bit
 * toggles, the OVP outlier pairs among them, and the toggles of column 0's tile partial sum.
 * The same quantities the testbench monitors count in co-simulation (templates/tb_events.hbs),
 * for sweeps too large to simulate; two differences, both small on long tiles: the monitors
 * also see the all-zero rows of pipeline bubbles, and attribute a layer's first partial sums
 * to the layer before (test/events.test.ts bounds the gap).
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { readImage } from "./block.js";
import { rowNibble } from "./layout.js";
import type { Manifest, ManifestLayer } from "./manifest.js";
import { readOperands } from "./read.js";

/** Counts of what entered the array during one layer (the RTL's monitors, or read from its images here). */
export interface ArrayCounts {
  tokens: number;
  salientLanes: number;
  secondMode: number;
  outlierPairs: number;
  toggles: number;
  psumToggles: number;
}

const ONES = Uint8Array.from({ length: 16 }, (_, v) => (v & 1) + ((v >> 1) & 1) + ((v >> 2) & 1) + ((v >> 3) & 1));

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function imageActivity(d: ElaboratedDesign, dir: string, man: Manifest, l: ManifestLayer): ArrayCounts {
  const W = man.memWordBits;
  const act = readImage(dir, l.act.file, l.act.sha256, W, l.act.words);
  const { a, w } = readOperands(dir, man, l);
  const cap = man.design.bufferTokens;
  const rowNibbles = d.act.rowBits / 4;
  const ovp = l.actFormat === "ovp-int" || l.actFormat === "ovp-flint";
  const psumMask = d.config.psumBits >= 32 ? 0xffffffff : 2 ** d.config.psumBits - 1;
  const K = l.paddedK;
  const N = l.paddedN;
  const prev = new Uint8Array(rowNibbles);
  let prevSum = 0;
  let tokens = 0;
  let outlierPairs = 0;
  let toggles = 0;
  let psumToggles = 0;
  for (let m0 = 0; m0 < l.m; m0 += cap) {
    const m1 = Math.min(l.m, m0 + cap);
    for (let j = 0; j < l.nTiles; j++) {
      for (let t = 0; t < l.tiles; t++) {
        const blockNib = (t * l.act.tileStride * W) / 4;
        for (let r = m0; r < m1; r++) {
          tokens++;
          const base = blockNib + rowNibble(man.design.actStrideBits, r, W, cap);
          for (let i = 0; i < rowNibbles; i++) {
            const v = act.nib[base + i];
            toggles += ONES[v ^ prev[i]];
            prev[i] = v;
          }
          if (ovp) {
            for (let p = 0; p + 1 < rowNibbles; p += 2) if (prev[p] === 8 || prev[p + 1] === 8) outlierPairs++;
          }
          // Column 0 of N-tile j: the tile's partial sum, modulo 2^32 as the datapath adds.
          let sum = 0;
          const c = j * d.cols;
          if (c < N) {
            for (let i = t * l.tileChannels; i < (t + 1) * l.tileChannels; i++) sum = (sum + Math.imul(a[r * K + i], w[i * N + c])) | 0;
          }
          const s = (sum & psumMask) >>> 0;
          psumToggles += popcount32((s ^ prevSum) >>> 0);
          prevSum = s;
        }
      }
    }
  }
  const second = l.salientType === "fp12" || l.actFormat === "ovp-flint";
  return { tokens, salientLanes: tokens * l.salientLanes, secondMode: second ? tokens : 0, outlierPairs, toggles, psumToggles };
}
