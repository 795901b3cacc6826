// Proof that folding the TOBE reorders changes nothing: the original graph, the naive TOBE
// graph (explicit gather + permuted weight rows before every linear) and the rewritten graph
// with zero explicit reorders agree. Float64 evaluation: the three graphs compute the same
// sums in different orders (norm statistics, softmax sums and dot products over permuted
// channels), so they differ only by rounding, ~1e-15 relative; we assert < 1e-12, far inside
// the 1e-5 bound, so any real mistake (a wrong gamma, a head mixed, a bias left unpermuted)
// at O(1e-2) or more cannot hide.
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { foldReorders } from "../src/dataflow/fold.js";
import { withExplicitReorders } from "../src/dataflow/naive.js";
import { countReorders, linears } from "../src/dataflow/graph.js";
import { derivePermutations, tobeLikePermutation } from "../src/dataflow/derive.js";
import { linearOperands } from "../src/dataflow/operands.js";
import { evaluate } from "../src/dataflow/eval.js";
import { checkPerm } from "../src/dataflow/perm.js";
import type { Graph, Node } from "../src/dataflow/graph.js";
import type { Param } from "../src/dataflow/params.js";
import { input, randomPerms, relErr, run, small, SMALL } from "./dataflow-helpers.js";

const F64_TOL = 1e-12;

describe.each([
  ["llama", 1],
  ["opt", 1],
  ["llama", 2],
  ["opt", 2],
] as const)("%s-style, %i block(s): folding is exact", (arch, layers) => {
  const g = small(arch, layers);
  const x = input(SMALL.tokens, SMALL.dModel);
  const perms = randomPerms(g, 100 + layers);
  const ref = run(g, x)[0];
  const naive = withExplicitReorders(g, perms);
  const folded = foldReorders(g, perms);

  it("the naive TOBE graph (explicit gathers, permuted weight rows) equals the original", () => {
    expect(countReorders(naive)).toBe(linears(g).length);
    expect(relErr(run(naive, x)[0], ref)).toBeLessThan(F64_TOL);
  });

  it("the rewritten graph has no explicit reorder and equals the naive graph", () => {
    expect(folded.explicitReorders).toBe(0);
    expect(countReorders(folded.graph)).toBe(0);
    const got = run(folded.graph, x)[0];
    expect(relErr(got, run(naive, x)[0])).toBeLessThan(F64_TOL);
    expect(relErr(got, ref)).toBeLessThan(F64_TOL);
  });

  it("places every reorder where the rules say", () => {
    const by = new Map(folded.plan.map((e) => [e.linear.replace(/^b\d+\./, ""), e]));
    const norm1 = arch === "llama" ? "input_layernorm" : "self_attn_layer_norm";
    const norm2 = arch === "llama" ? "post_attention_layernorm" : "final_layer_norm";
    for (const l of ["q_proj", "k_proj", "v_proj"]) {
      expect(by.get(l)!.placement).toBe("fused");
      expect(by.get(l)!.into).toEqual([{ node: `b${layers - 1}.${norm1}`, how: "addressing" }]);
    }
    const o = by.get(arch === "llama" ? "o_proj" : "out_proj")!;
    expect(o.placement).toBe("folded");
    expect(o.into).toEqual([{ node: `b${layers - 1}.v_proj`, how: "columns" }]);
    const down = by.get(arch === "llama" ? "down_proj" : "fc2")!;
    expect(down.placement).toBe("folded");
    expect(down.into.map((i) => i.node.split(".")[1]).sort()).toEqual(arch === "llama" ? ["gate_proj", "up_proj"] : ["fc1"]);
    for (const l of arch === "llama" ? ["gate_proj", "up_proj"] : ["fc1"]) {
      expect(by.get(l)!.placement).toBe("fused");
      expect(by.get(l)!.into[0].node).toBe(`b${layers - 1}.${norm2}`);
    }
  });

  it("agrees in float32 too, to float32 rounding", () => {
    // Float32 storage rounds every intermediate (relative step 6e-8); after a block's ~10
    // dependent stages with different summation orders, a few 1e-6 is the expected spread.
    expect(relErr(run(folded.graph, x, "f32")[0], run(g, x, "f32")[0])).toBeLessThan(1e-5);
  });
});

describe("attention: whole-head permutations", () => {
  it.each(["llama", "opt"] as const)("%s: moving whole heads folds into v columns with q/k heads reordered alike", (arch) => {
    const g = small(arch);
    const x = input(SMALL.tokens, SMALL.dModel, 9);
    const perms = randomPerms(g, 7, { oProj: "heads" });
    const o = perms.get(arch === "llama" ? "b0.o_proj" : "b0.out_proj")!;
    expect(o.slice(0, 16).every((c) => Math.floor(c / 16) === Math.floor(o[0] / 16))).toBe(true);
    const r = foldReorders(g, perms);
    expect(r.explicitReorders).toBe(0);
    const e = r.plan.find((p) => p.linear.endsWith(arch === "llama" ? "o_proj" : "out_proj"))!;
    expect(e.into).toEqual([
      { node: "b0.v_proj", how: "columns" },
      { node: "b0.q_proj", how: "head-order" },
      { node: "b0.k_proj", how: "head-order" },
    ]);
    expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(F64_TOL);
  });
});

describe("derived permutations", () => {
  it("tobeLikePermutation puts the salient channels first in each tile, spread evenly", () => {
    const imp = new Float64Array(256).fill(1);
    for (const c of [3, 100, 101, 200, 250, 7, 8, 9]) imp[c] = 50;
    const p = checkPerm(tobeLikePermutation(imp, { tile: 64, salientRatio: 8 / 256 }), 256, "p");
    for (let t = 0; t < 4; t++) {
      expect(imp[p[t * 64]]).toBe(50);
      expect(imp[p[t * 64 + 1]]).toBe(50);
      expect(imp[p[t * 64 + 2]]).toBe(1);
    }
  });

  it.each(["llama", "opt"] as const)("%s: seeded and calibration-derived permutations fold completely and exactly", (arch) => {
    const g = small(arch, 2);
    const x = input(SMALL.tokens, SMALL.dModel, 5);
    for (const src of [{ seed: 4 }, { calibration: x }]) {
      const perms = derivePermutations(g, src, { salientRatio: 0.05, tile: 32 });
      expect(new Set(["b0.q_proj", "b0.k_proj", "b0.v_proj"].map((l) => perms.get(l)))).toHaveProperty("size", 1);
      const r = foldReorders(g, perms);
      expect(r.explicitReorders).toBe(0);
      expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(F64_TOL);
    }
  });

  it("calibration puts the outlier channel first", () => {
    const g = small("llama");
    const perms = derivePermutations(g, { calibration: input(SMALL.tokens, SMALL.dModel) }, { salientRatio: 1 / 64 });
    // Channel 5 of the input is a 20x outlier and RMSNorm keeps it the largest (gamma ~ 1 +- 0.1).
    expect(perms.get("b0.q_proj")![0]).toBe(5);
  });

  it("without head awareness an o_proj permutation crosses heads and stays explicit", () => {
    const g = small("llama");
    const r = foldReorders(g, derivePermutations(g, { seed: 2 }, { headAware: false, salientRatio: 0.1 }));
    expect(r.explicitReorders).toBe(1);
    expect(r.plan.find((e) => e.linear === "b0.o_proj")!.refusal!.kind).toBe("cross-head");
  });
});

describe("linearOperands", () => {
  it("hands each linear's permuted activations and weights to the quantized path", () => {
    const g = small("opt");
    const x = input(SMALL.tokens, SMALL.dModel, 21);
    const perms = randomPerms(g, 8);
    const r = foldReorders(g, perms);
    const ops = linearOperands(r.graph, x);
    expect(ops.map((o) => o.name)).toEqual(linears(g).map((l) => l.name));
    const orig = evaluate(g, x).values;
    const origOps = linearOperands(g, x);
    for (const op of ops) {
      const l = linears(g).find((n) => n.name === op.name)!;
      const [t, k] = op.x.shape;
      const n = op.w.shape[1];
      expect(op.perm).toEqual(perms.get(op.name));
      // Activations arrive in TOBE order: column i holds original channel perm[i].
      const src = orig.get(l.inputs[0])!;
      for (let r0 = 0; r0 < t; r0++) for (let i = 0; i < k; i++) expect(op.x.data[r0 * k + i]).toBeCloseTo(src[r0 * k + op.perm[i]], 4);
      // Weight rows carry the same permutation, so x w is the linear's output (columns in the chosen order).
      const w0 = origOps.find((o) => o.name === op.name)!.w;
      const colOrder = l.weight.perms?.[1];
      expect(colOrder).toBeUndefined();
      const outOrder = r.graph.nodes.find((m) => m.name === op.name)!;
      const cols = outOrder.op === "linear" ? (outOrder.weight.perms?.[1] ?? Array.from({ length: n }, (_, j) => j)) : [];
      for (let i = 0; i < k; i += 7) for (let j = 0; j < n; j += 5) expect(op.w.data[i * n + j]).toBe(w0.data[op.perm[i] * n + cols[j]]);
      let worst = 0;
      for (let r0 = 0; r0 < t; r0++) {
        for (let j = 0; j < n; j++) {
          let acc = op.bias ? op.bias.data[j] : 0;
          for (let i = 0; i < k; i++) acc += op.x.data[r0 * k + i] * op.w.data[i * n + j];
          worst = Math.max(worst, Math.abs(acc - op.y.data[r0 * n + j]));
        }
      }
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it("a seeded 4096 x 11008 weight is never materialised by planning", async () => {
    const { buildBlocks, EXAMPLES } = await import("../src/dataflow/blocks.js");
    const g = buildBlocks(EXAMPLES.llama7b);
    const r = foldReorders(g, derivePermutations(g, { seed: 1 }));
    expect(r.explicitReorders).toBe(0);
    const down = r.graph.nodes.find((n) => n.name === "b0.down_proj")!;
    expect(down.op === "linear" && down.weight.source.kind).toBe("normal");
  });
});

describe("a random sweep", () => {
  it("any permutations on any mix of blocks: the rewritten graph always equals the original", () => {
    const rng = new Rng(77);
    for (let trial = 0; trial < 12; trial++) {
      const arch = rng.pick(["llama", "opt"] as const);
      const heads = rng.pick([1, 2, 4]);
      const g = small(arch, rng.int(1, 2), { dModel: 16 * heads, heads, ffn: rng.int(5, 40), seed: trial });
      const x = input(rng.int(1, 6), 16 * heads, trial);
      const perms = randomPerms(g, trial, { oProj: rng.pick(["within", "heads", "any"] as const) });
      // Mismatched q/k/v permutations some of the time, to exercise explicit leftovers.
      if (rng.next() < 0.5) perms.set("b0.k_proj", randomPerms(g, trial + 1000).get("b0.k_proj")!.slice().reverse());
      const r = foldReorders(g, perms);
      expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(F64_TOL);
      expect(r.explicitReorders).toBe(r.plan.filter((e) => e.placement === "explicit").length);
    }
  });
});

describe("beyond the standard blocks", () => {
  // Post-LN (OPT-350m-style) blocks: the norm output is itself the residual stream. The pass
  // has no block templates, only the rules, so it still folds everything it can: the stream
  // between LN1 and LN2 runs permuted (out of LN1's addressing and fc2's columns), and only
  // the first block's q/k/v, which read the graph input, keep explicit reorders.
  function postLn(layers: number): Graph {
    const d = 32;
    const heads = 2;
    const ffn = 24;
    let s = 500;
    const p = (dims: number[], mean = 0, std = 0.3): Param => ({ dims, source: { kind: "normal", seed: s++, mean, std } });
    const nodes: Node[] = [];
    let x = "x";
    for (let b = 0; b < layers; b++) {
      const n = (k: string) => `b${b}.${k}`;
      for (const q of ["q", "k", "v"]) nodes.push({ op: "linear", name: n(q), inputs: [x], out: d, weight: p([d, d], 0, 0.2), bias: p([d], 0, 0.05) });
      nodes.push({ op: "attention", name: n("attn"), inputs: [n("q"), n("k"), n("v")], heads, causal: true });
      nodes.push({ op: "linear", name: n("out"), inputs: [n("attn")], out: d, weight: p([d, d], 0, 0.2), bias: p([d], 0, 0.05) });
      nodes.push({ op: "add", name: n("res1"), inputs: [x, n("out")] });
      nodes.push({ op: "layernorm", name: n("ln1"), inputs: [n("res1")], eps: 1e-5, gamma: p([d], 1, 0.1), beta: p([d], 0, 0.1) });
      nodes.push({ op: "linear", name: n("fc1"), inputs: [n("ln1")], out: ffn, weight: p([d, ffn], 0, 0.2), bias: p([ffn], 0, 0.05) });
      nodes.push({ op: "relu", name: n("act"), inputs: [n("fc1")] });
      nodes.push({ op: "linear", name: n("fc2"), inputs: [n("act")], out: d, weight: p([ffn, d], 0, 0.2), bias: p([d], 0, 0.05) });
      nodes.push({ op: "add", name: n("res2"), inputs: [n("ln1"), n("fc2")] });
      nodes.push({ op: "layernorm", name: n("ln2"), inputs: [n("res2")], eps: 1e-5, gamma: p([d], 1, 0.1), beta: p([d], 0, 0.1) });
      x = n("ln2");
    }
    return { name: "post-ln", input: { name: "x", channels: d }, outputs: [x], nodes };
  }

  it("post-LN stack: everything folds except the readers of the graph input", () => {
    const g = postLn(2);
    const r = foldReorders(g, randomPerms(g, 31));
    const placed = Object.fromEntries(r.plan.map((e) => [e.linear, e.placement]));
    expect(placed).toEqual({
      "b0.q": "explicit", "b0.k": "explicit", "b0.v": "explicit", "b0.out": "folded", "b0.fc1": "folded", "b0.fc2": "folded",
      "b1.q": "folded", "b1.k": "folded", "b1.v": "folded", "b1.out": "folded", "b1.fc1": "folded", "b1.fc2": "folded",
    });
    // b0's q/k/v share one gather of x; each keeps its own explicit reorder.
    expect(r.plan[0].refusal!.kind).toBe("fixed");
    const fc1 = r.plan.find((e) => e.linear === "b0.fc1")!;
    expect(fc1.into.map((i) => `${i.node}:${i.how}`).sort()).toEqual(["b0.fc2:columns", "b0.ln1:addressing"]);
    const x = input(6, 32, 3);
    expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(F64_TOL);
  });
});
