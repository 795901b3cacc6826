/**
 * Example blocks by name: `plan --example` and `verify --block` take the same names, the
 * built-in blocks and the files shipped in examples/blocks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { allExampleNames, loadModel } from "../src/cli/plan.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

describe("example blocks", () => {
  it("every shipped file and built-in block loads by its name", () => {
    const shipped = fs.readdirSync(path.join(ROOT, "examples", "blocks")).map((f) => f.replace(/\.json$/, ""));
    expect(allExampleNames()).toEqual(expect.arrayContaining([...shipped, "llama7b", "opt6.7b"]));
    for (const name of allExampleNames()) {
      const m = loadModel(name);
      expect(m.graph.input.channels, name).toBeGreaterThan(0);
    }
    expect(loadModel("tiny-llama").graph.name).toBe("tiny-llama");
  });

  it("an unknown name is refused, listing every example", () => {
    expect(() => loadModel("tiny-lama")).toThrow(/block 'tiny-lama' is neither a file nor an example \(llama7b, opt6\.7b, tiny-graph, tiny-llama, tiny-opt\)/);
  });
});
