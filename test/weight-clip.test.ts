/**
 * Clipped int4 weight scales (QuaRot's --w_clip search): the chosen clip is the best on the
 * search's own measure among all it tries, never worse than max/7, and it reaches the
 * hardware bit-exact as any scale does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { mseClipScales, W_CLIP } from "../src/quant/weight-clip.js";
import { generateWeights } from "../src/data/synthetic.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");

/** sum |q(w) - w|^2.4 of one column at scale s, codes -8..7, round half to even. */
function colErr(col: number[], s: number): number {
  const rhe = (v: number) => {
    const f = Math.floor(v);
    const d = v - f;
    return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  };
  return col.reduce((a, v) => a + Math.abs(Math.max(-8, Math.min(7, rhe(v / s))) * s - v) ** 2.4, 0);
}

describe("clipped weight scales", () => {
  it("pick the best shrink of max/7 on the search's measure, never worse than max/7, and clip heavy-tailed columns", () => {
    const w = generateWeights(256, 24, 5, "heavy");
    const ws = mseClipScales(w);
    expect(W_CLIP).toEqual({ grid: 100, maxShrink: 0.8, norm: 2.4 });
    for (let j = 0; j < 24; j++) {
      const col = Array.from({ length: 256 }, (_, i) => w.data[i * 24 + j]);
      const mx = Math.max(...col.map(Math.abs));
      const chosen = colErr(col, ws[j]);
      for (let step = 0; step < 80; step++) expect(chosen, `column ${j}, shrink ${step}`).toBeLessThanOrEqual(colErr(col, ((1 - step / 100) * mx) / 7) * (1 + 1e-12));
      expect(ws[j]).toBeLessThanOrEqual(mx / 7 + 1e-15);
      expect(ws[j]).toBeGreaterThanOrEqual((0.21 * mx) / 7 - 1e-15);
    }
    // Heavy tails: most columns are better off clipped.
    let clipped = 0;
    for (let j = 0; j < 24; j++) {
      let mx = 0;
      for (let i = 0; i < 256; i++) mx = Math.max(mx, Math.abs(w.data[i * 24 + j]));
      if (ws[j] < (0.99 * mx) / 7) clipped++;
    }
    expect(clipped).toBeGreaterThan(12);
    expect(mseClipScales({ shape: [3, 1], data: new Float32Array(3) })[0]).toBe(1);
  });

  it("--w-clip with GPTQ is recorded in the plan and co-simulates bit-exact", async () => {
    const out = path.join(tmpDir("wclip"), "run");
    const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "tiny", "--layer", "down:16x64x8:fp12:r0.05", "--weight-model", "heavy",
      "--weights", "gptq", "--w-clip", "--out", out, "--json"], { reject: false, all: true, cwd: ROOT });
    expect(r.exitCode, r.all).toBe(0);
    expect(JSON.parse(r.stdout).pass).toBe(true);
    const man = JSON.parse(fs.readFileSync(path.join(out, "images", "manifest.json"), "utf8"));
    expect(man.layers[0].plan).toMatchObject({ weights: "gptq", wClip: true });
  });
});
