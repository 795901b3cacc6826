// Every placement the pass refuses, with its reason, and proof that the refusal is needed
// (forcing the fold would change the result) and that the graph with the explicit reorder
// left in is still exact.
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { UserError } from "../src/core/errors.js";
import { foldReorders, type PlanEntry } from "../src/dataflow/fold.js";
import { modelFromJson } from "../src/dataflow/json.js";
import type { Graph } from "../src/dataflow/graph.js";
import { blockPerm, identity } from "../src/dataflow/perm.js";
import { permuteParam } from "../src/dataflow/params.js";
import { blockShuffle, input, randomPerms, relErr, run, shuffle, small, SMALL } from "./dataflow-helpers.js";

const TOL = 1e-12;

function graph(nodes: object[], outputs: string[], channels = 16): Graph {
  return modelFromJson({ format: "oltron-dataflow-graph", version: 1, name: "t", input: { name: "x", channels }, outputs, nodes }, "test").graph;
}

const lin = (name: string, from: string, out: number, seed: number) => ({ op: "linear", name, inputs: [from], out, weight: { seed, std: 0.3 }, bias: { seed: seed + 50, std: 0.1 } });
const norm = (name: string, from: string) => ({ op: "layernorm", name, inputs: [from], gamma: { seed: 90, mean: 1, std: 0.2 }, beta: { seed: 91, std: 0.2 } });

function entry(r: ReturnType<typeof foldReorders>, name: string): PlanEntry {
  return r.plan.find((e) => e.linear === name)!;
}

function exact(g: Graph, r: ReturnType<typeof foldReorders>, channels = 16): void {
  const x = input(5, channels, 12);
  expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(TOL);
}

describe("refusals", () => {
  const rng = new Rng(5);

  it("residual add whose other input is unpermuted", () => {
    // x -> a -> (x + a) -> b: b's reorder would have to pass the add, whose other operand is x.
    const g = graph([norm("n", "x"), lin("a", "n", 16, 1), { op: "add", name: "res", inputs: ["x", "a"] }, lin("b", "res", 8, 2), { op: "add", name: "out", inputs: ["x", "a"] }], ["b"]);
    const p = shuffle(16, rng);
    const r = foldReorders(g, { b: p });
    const e = entry(r, "b");
    expect(e.placement).toBe("explicit");
    expect(e.refusal!.kind).toBe("residual");
    expect(e.refusal!.reason).toContain("residual add 'res'");
    expect(e.refusal!.reason).toContain("'x'");
    expect(r.explicitReorders).toBe(1);
    exact(g, r);
    // Forcing it: permuting only a's columns (as a fold would) changes the result.
    const forced = structuredClone(g);
    const a = forced.nodes.find((n) => n.name === "a")!;
    if (a.op === "linear") a.weight = permuteParam(a.weight, 1, p);
    const x = input(5, 16, 12);
    expect(relErr(run(forced, x)[0], run(g, x)[0])).toBeGreaterThan(1e-3);
  });

  it("a linear reading the graph input directly", () => {
    const g = graph([lin("a", "x", 8, 1)], ["a"]);
    const e = entry(foldReorders(g, { a: shuffle(16, rng) }), "a");
    expect(e.refusal).toMatchObject({ kind: "fixed" });
    expect(e.refusal!.reason).toContain("graph input");
  });

  it("a value that is also a graph output keeps its order", () => {
    const g = graph([norm("n", "x"), lin("a", "n", 16, 1), { op: "relu", name: "r", inputs: ["a"] }, lin("b", "r", 8, 2)], ["b", "r"]);
    const r = foldReorders(g, { b: shuffle(16, rng) });
    expect(entry(r, "b").refusal).toMatchObject({ kind: "fixed" });
    expect(entry(r, "b").refusal!.reason).toContain("'r' is a graph output");
    exact(g, r);
  });

  describe("reduction over channels (grouped softmax)", () => {
    const g = graph([norm("n", "x"), lin("a", "n", 16, 1), { op: "softmax", name: "s", inputs: ["a"], groups: 4 }, lin("b", "s", 8, 2)], ["b"]);

    it("a permutation that moves channels between the groups is refused", () => {
      const p = shuffle(16, rng);
      const r = foldReorders(g, { b: p });
      expect(entry(r, "b").refusal!.kind).toBe("reduction");
      expect(entry(r, "b").refusal!.reason).toContain("softmax 's' normalises over 4 groups of 4 channels");
      exact(g, r);
      const forced = structuredClone(g);
      const a = forced.nodes.find((n) => n.name === "a")!;
      if (a.op === "linear") a.weight = permuteParam(a.weight, 1, p);
      const b = forced.nodes.find((n) => n.name === "b")!;
      if (b.op === "linear") b.weight = permuteParam(b.weight, 0, p);
      const x = input(5, 16, 12);
      expect(relErr(run(forced, x)[0], run(g, x)[0])).toBeGreaterThan(1e-3);
    });

    it("within-group and whole-group moves pass through it", () => {
      const r = foldReorders(g, { b: blockShuffle(16, 4, rng, [2, 0, 3, 1]) });
      expect(entry(r, "b")).toMatchObject({ placement: "folded", into: [{ node: "a", how: "columns" }] });
      exact(g, r);
    });

    it("a softmax over all channels is permutation-equivariant, so any order passes", () => {
      const g1 = graph([norm("n", "x"), lin("a", "n", 16, 1), { op: "softmax", name: "s", inputs: ["a"] }, lin("b", "s", 8, 2)], ["b"]);
      const r = foldReorders(g1, { b: shuffle(16, rng) });
      expect(entry(r, "b").placement).toBe("folded");
      exact(g1, r);
    });
  });

  it("the pass never moves a reorder to a norm's input side: the norm's addressing absorbs it", () => {
    const g = graph([norm("n", "x"), lin("a", "n", 8, 1)], ["a"]);
    const r = foldReorders(g, { a: shuffle(16, rng) });
    expect(entry(r, "a")).toMatchObject({ placement: "fused", into: [{ node: "n", how: "addressing" }] });
    const n = r.graph.nodes.find((m) => m.name === "n")!;
    expect(n.inputs).toEqual(["x"]);
    exact(g, r);
  });

  describe("attention", () => {
    const g = small("llama");
    const x = input(SMALL.tokens, SMALL.dModel, 4);

    it("a permutation that moves v channels across heads (head mixing) is refused", () => {
      const perms = randomPerms(g, 3, { oProj: "any" });
      const r = foldReorders(g, perms);
      const e = entry(r, "b0.o_proj");
      expect(e.refusal!.kind).toBe("cross-head");
      expect(e.refusal!.reason).toMatch(/attention 'b0.attn' .* mixing heads/);
      expect(r.explicitReorders).toBe(1);
      expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(TOL);
      // Forcing it: permuting v's columns by a cross-head order changes the block output.
      const forced = structuredClone(g);
      for (const n of forced.nodes) {
        if (n.name === "b0.v_proj" && n.op === "linear") n.weight = permuteParam(n.weight, 1, perms.get("b0.o_proj")!);
        if (n.name === "b0.o_proj" && n.op === "linear") n.weight = permuteParam(n.weight, 0, perms.get("b0.o_proj")!);
      }
      expect(relErr(run(forced, x)[0], run(g, x)[0])).toBeGreaterThan(1e-3);
    });

    it("whole-head moves are refused when q cannot follow (q is pinned as a graph output)", () => {
      const g2 = { ...g, outputs: [...g.outputs, "b0.q_proj"] };
      const rho = [1, 3, 0, 2];
      const r = foldReorders(g2, { "b0.o_proj": blockPerm(rho, 16) });
      const e = entry(r, "b0.o_proj");
      expect(e.refusal!.kind).toBe("head-order");
      expect(e.refusal!.reason).toContain("head order 1,3,0,2");
      expect(e.refusal!.reason).toContain("'b0.q_proj'");
      expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(TOL);
      // Moving v's heads without q/k's would change the result.
      const forced = structuredClone(g);
      for (const n of forced.nodes) if (n.name === "b0.v_proj" && n.op === "linear") n.weight = permuteParam(n.weight, 1, blockPerm(rho, 16));
      for (const n of forced.nodes) if (n.name === "b0.o_proj" && n.op === "linear") n.weight = permuteParam(n.weight, 0, blockPerm(rho, 16));
      expect(relErr(run(forced, x)[0], run(g, x)[0])).toBeGreaterThan(1e-3);
      // ...while within-head moves still fold, since q and k need not change.
      const r2 = foldReorders(g2, { "b0.o_proj": blockShuffle(64, 16, rng) });
      expect(entry(r2, "b0.o_proj").placement).toBe("folded");
    });

    it("mismatched q/k/v permutations: the majority's order is fused, the odd one stays explicit", () => {
      const a = shuffle(64, rng);
      const b = shuffle(64, rng);
      const r = foldReorders(g, { "b0.q_proj": b, "b0.k_proj": a, "b0.v_proj": a });
      expect(entry(r, "b0.k_proj").placement).toBe("fused");
      expect(entry(r, "b0.v_proj").placement).toBe("fused");
      const q = entry(r, "b0.q_proj");
      expect(q.refusal!.kind).toBe("conflict");
      expect(q.refusal!.reason).toContain("the permutation of 'b0.k_proj' was chosen (wanted by 2 of 3");
      expect(r.explicitReorders).toBe(1);
      // The leftover reorder converts from the fused order to q's: gather by a^-1 o b.
      const reorder = r.graph.nodes.find((n) => n.op === "reorder")!;
      expect(reorder.op === "reorder" && reorder.perm.map((i) => a[i])).toEqual(b);
      expect(relErr(run(r.graph, x)[0], run(g, x)[0])).toBeLessThan(TOL);
    });

    it("a tie between orders goes to the reader first in graph order; unpermuted readers count too", () => {
      const a = shuffle(64, rng);
      const r = foldReorders(g, { "b0.q_proj": a });
      expect(entry(r, "b0.q_proj").refusal!.reason).toContain("the original order was chosen (wanted by 2 of 3");
      const r2 = foldReorders(g, { "b0.q_proj": a, "b0.k_proj": identity(64).reverse() });
      expect(entry(r2, "b0.q_proj").placement).toBe("fused");
      expect(r2.explicitReorders).toBe(2);
      expect(relErr(run(r2.graph, x)[0], run(g, x)[0])).toBeLessThan(TOL);
    });
  });
});

describe("bad input to the pass is a UserError", () => {
  const g = small("opt");
  it.each([
    ["wrong length", { "b0.fc1": [0, 1, 2] }, "3 entries"],
    ["repeated channel", { "b0.fc1": identity(64).map((i) => (i === 3 ? 4 : i)) }, "channel 4 appears twice"],
    ["TOBE padding entry", { "b0.fc1": identity(64).map((i) => (i === 0 ? -1 : i)) }, "zero-padding"],
    ["unknown linear", { "b0.nope": identity(64) }, "not a linear"],
  ])("%s", (_what, perms, msg) => {
    expect(() => foldReorders(g, perms)).toThrow(UserError);
    expect(() => foldReorders(g, perms)).toThrow(msg);
  });

  it("an already rewritten graph", () => {
    const r = foldReorders(g, { "b0.fc2": shuffle(SMALL.ffn, new Rng(1)) });
    expect(() => foldReorders(r.graph, {})).toThrow(/already carries a TOBE permutation/);
  });
});
