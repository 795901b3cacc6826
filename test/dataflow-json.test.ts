// The JSON schema (examples, round trips, errors) and the `plan` command.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tmpDir } from "./helpers/cosim.js";
import { UserError } from "../src/core/errors.js";
import { registerPlanCommand, runPlan } from "../src/cli/plan.js";
import { readJson } from "../src/dataflow/io.js";
import { graphToJson, modelFromJson, stringifyModel } from "../src/dataflow/json.js";
import { planModel, permutationsFor } from "../src/dataflow/plan.js";
import { withExplicitReorders } from "../src/dataflow/naive.js";
import { input, relErr, run } from "./dataflow-helpers.js";

const EX = "examples/blocks";

describe("example block files", () => {
  it.each(readdirSync(EX).filter((f) => f.endsWith(".json")))("%s plans with zero explicit reorders", (f) => {
    const m = modelFromJson(readJson(join(EX, f)), f);
    expect(planModel(m).explicitReorders).toBe(0);
  });

  it.each(["tiny-graph.json", "tiny-llama.json", "tiny-opt.json"])("%s: rewritten graph, written and read back, equals the original", (f) => {
    const m = modelFromJson(readJson(join(EX, f)), f);
    const r = planModel(m);
    const back = modelFromJson(JSON.parse(stringifyModel(graphToJson(r.graph))), "back").graph;
    const x = input(6, m.graph.input.channels, 2);
    const ref = run(m.graph, x)[0];
    expect(relErr(run(back, x)[0], ref)).toBeLessThan(1e-12);
    expect(relErr(run(withExplicitReorders(m.graph, permutationsFor(m.graph, m.permutations)), x)[0], ref)).toBeLessThan(1e-12);
  });

  it("the rewritten tiny graph records where each permutation went", () => {
    const m = modelFromJson(readJson(join(EX, "tiny-graph.json")), "t");
    const g = graphToJson(planModel(m).graph) as { nodes: Array<Record<string, any>> };
    const node = (n: string) => g.nodes.find((x) => x.name === n)!;
    expect(node("ln1").outPerm).toEqual([3, 0, 7, 1, 2, 6, 4, 5]);
    expect(node("ln1").gamma.perm).toEqual([3, 0, 7, 1, 2, 6, 4, 5]);
    expect(node("q_proj").perm).toEqual([3, 0, 7, 1, 2, 6, 4, 5]);
    expect(node("q_proj").weight.rowPerm).toEqual([3, 0, 7, 1, 2, 6, 4, 5]);
    expect(node("v_proj").weight.colPerm).toEqual([6, 4, 7, 5, 2, 0, 1, 3]);
    expect(node("fc1").weight.colPerm).toEqual([9, 2, 0, 11, 1, 3, 4, 5, 6, 7, 8, 10]);
    expect(node("fc1").bias.perm).toEqual([9, 2, 0, 11, 1, 3, 4, 5, 6, 7, 8, 10]);
    expect(g.nodes.some((n) => n.op === "reorder")).toBe(false);
  });
});

describe("schema errors name the bad value", () => {
  const base = () => JSON.parse(readFileSync(join(EX, "tiny-graph.json"), "utf8"));
  it.each([
    ["wrong format", (o: any) => (o.format = "nope"), /'format' must be/],
    ["unknown node key", (o: any) => (o.nodes[1].wieght = 1), /unknown key 'wieght'/],
    ["inline data of the wrong size", (o: any) => (o.nodes[1].weight.data = [[1, 2]]), /'data' must hold 64 finite numbers/],
    ["two weight sources", (o: any) => (o.nodes[2].weight.fill = 1), /exactly one of 'data'.*got fill and seed/],
    ["unknown input", (o: any) => (o.nodes[3].inputs = ["ln9"]), /input 'ln9' is not the graph input/],
    ["heads not dividing", (o: any) => (o.nodes[4].heads = 3), /divide into 3 heads/],
    ["bad permutation", (o: any) => (o.permutations.layers.fc1 = [0, 0, 1, 2, 3, 4, 5, 6]), /channel 0 appears twice/],
    ["bad block config", () => ({ format: "oltron-blocks", version: 1, arch: "llama", dModel: 60, heads: 8, ffn: 10 }), /dModel 60 is not divisible by heads 8/],
    ["unknown arch", () => ({ format: "oltron-blocks", version: 1, arch: "gpt", dModel: 8, heads: 2, ffn: 10 }), /arch must be "llama" or "opt"/],
    ["a huge dModel, refused before anything is built", () => ({ format: "oltron-blocks", version: 1, arch: "llama", dModel: 1048576, heads: 8, ffn: 10 }), /'dModel' = 1048576 is outside 1\.\.65536/],
    ["1e8 layers, refused before anything is built", () => ({ format: "oltron-blocks", version: 1, arch: "llama", dModel: 8, heads: 2, ffn: 10, layers: 1e8 }), /'layers' = 100000000 is outside 1\.\.1024/],
  ])("%s", (_w, edit, msg) => {
    const o = base();
    const replaced = edit(o);
    const doc = typeof replaced === "object" && replaced && "format" in replaced ? replaced : o;
    let err: unknown;
    try {
      planModel(modelFromJson(doc, "f.json"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(msg);
  });
});

describe("oltron plan", () => {
  let out = "";
  afterEach(() => vi.restoreAllMocks());
  const capture = () => {
    out = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    // JSON documents are printed through console.log (cli/json-outputs.ts).
    vi.spyOn(console, "log").mockImplementation((s: unknown) => void (out += `${String(s)}\n`));
  };

  it("defaults to the llama7b example and prints a table", () => {
    capture();
    runPlan(undefined, {});
    expect(out).toContain("llama7b-block");
    expect(out).toMatch(/b0\.o_proj\s+4096\s+folded/);
    expect(out).toMatch(/b0\.down_proj\s+11008\s+folded/);
    expect(out).toContain("explicit reorders left: 0");
  });

  it("--example opt6.7b --json through commander", async () => {
    capture();
    const program = new Command().exitOverride();
    registerPlanCommand(program);
    await program.parseAsync(["node", "oltron", "plan", "--example", "opt6.7b", "--json"]);
    const plan = JSON.parse(out);
    expect(plan.explicitReorders).toBe(0);
    expect(plan.entries.map((e: any) => e.placement)).toEqual(["fused", "fused", "fused", "folded", "fused", "folded"]);
    expect(plan.entries[5].into.map((i: any) => i.node)).toEqual(["b0.fc1"]);
  });

  it("--out writes the rewritten graph atomically, without materialising 7B-sized weights", () => {
    capture();
    const dir = tmpDir("plan");
    const file = join(dir, "rewritten.json");
    writeFileSync(file, "old");
    runPlan(undefined, { out: file });
    expect(readdirSync(dir)).toEqual(["rewritten.json"]);
    const text = readFileSync(file, "utf8");
    expect(text.length).toBeLessThan(2_000_000);
    const g = modelFromJson(JSON.parse(text), file).graph;
    expect(g.nodes.filter((n) => n.op === "reorder")).toHaveLength(0);
    expect(out).toContain(`rewritten graph written to ${file}`);
  });

  it("reads a block file; --perm-seed changes the permutations", () => {
    const dir = tmpDir("plan");
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    capture();
    runPlan(join(EX, "tiny-opt.json"), { out: a });
    runPlan(join(EX, "tiny-opt.json"), { out: b, permSeed: "9" });
    expect(readFileSync(a, "utf8")).not.toEqual(readFileSync(b, "utf8"));
    expect(out).toContain("'tiny-opt'");
  });

  it.each([
    [[join(EX, "tiny-opt.json"), { example: "llama7b" }], /not both/],
    [[undefined, { example: "gpt2" }], /unknown example 'gpt2'/],
    [[undefined, { permSeed: "x" }], /--perm-seed must be an integer in 0\.\.4294967295, got 'x'/],
    [[undefined, { permSeed: "1e20" }], /--perm-seed must be an integer in 0\.\.4294967295, got '1e20'/],
    [[undefined, { permSeed: "4294967296" }], /--perm-seed must be an integer in 0\.\.4294967295/],
    [["/nonexistent/block.json", {}], /cannot read \/nonexistent\/block.json: ENOENT/],
    [[undefined, { out: "/nonexistent/dir/out.json" }], /cannot write \/nonexistent\/dir\/out.json/],
  ] as const)("user errors: %j", (args, msg) => {
    capture();
    expect(() => runPlan(args[0], { ...args[1] })).toThrow(UserError);
    expect(() => runPlan(args[0], { ...args[1] })).toThrow(msg);
  });

  it("a file that is not JSON", () => {
    const f = join(tmpDir("plan"), "bad.json");
    writeFileSync(f, "{ nope");
    expect(() => runPlan(f, {})).toThrow(/bad.json is not valid JSON/);
    expect(existsSync(f)).toBe(true);
  });
});
