/**
 * The house layout (README "Layout"): imports run one way between the folders of src/,
 * and no file imports itself back through others. Read from the sources' own imports.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src", import.meta.url));

/** Higher rank may import lower rank only; equal ranks are separate rooms that must not meet. */
const RANK: Record<string, number> = {
  cli: 9, index: 9,
  bench: 8,
  report: 8,
  flows: 7,
  sim: 6,
  image: 5,
  golden: 4, quant: 4,
  hw: 3,
  data: 2, dataflow: 2,
  core: 1,
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []);
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)\.js"/g)].map((m) => path.join(path.dirname(file), `${m[1]}.ts`));
}

const room = (file: string) => path.relative(SRC, file).split(path.sep)[0].replace(/\.ts$/, "");
const files = sources(SRC);
const graph = new Map(files.map((f) => [f, imports(f)]));

describe("src/ layout", () => {
  it("every file sits in a room of the layout table", () => {
    expect(files.length).toBeGreaterThan(40);
    const unknown = files.filter((f) => RANK[room(f)] === undefined).map((f) => path.relative(SRC, f));
    expect(unknown).toEqual([]);
  });

  it("every relative import names an existing file", () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !fs.existsSync(d)).map((d) => `${path.relative(SRC, f)} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it("imports between rooms run downhill only", () => {
    const uphill: string[] = [];
    for (const [f, deps] of graph) {
      for (const d of deps) {
        const a = room(f);
        const b = room(d);
        if (a !== b && !(RANK[a] > RANK[b])) uphill.push(`${path.relative(SRC, f)} -> ${path.relative(SRC, d)}`);
      }
    }
    expect(uphill).toEqual([]);
  });

  it("has no import circle between files", () => {
    const state = new Map<string, 1 | 2>();
    const cycles: string[] = [];
    const visit = (f: string, stack: string[]) => {
      state.set(f, 1);
      for (const d of graph.get(f) ?? []) {
        const here = [...stack, f];
        if (state.get(d) === 1) cycles.push([...here.slice(here.indexOf(d)), d].map((x) => path.relative(SRC, x)).join(" -> "));
        else if (!state.has(d)) visit(d, here);
      }
      state.set(f, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f, []);
    expect(cycles).toEqual([]);
  });
});

describe("test/ contract", () => {
  const TEST = fileURLToPath(new URL(".", import.meta.url));
  const tests = fs.readdirSync(TEST).filter((f) => f.endsWith(".test.ts"));

  it("no test sets its own wall-clock timeout or asserts on elapsed time: a busy machine slows the suite, never fails it", () => {
    const found: string[] = [];
    for (const f of tests) {
      fs.readFileSync(path.join(TEST, f), "utf8").split("\n").forEach((line, i) => {
        // `}, 600_000);` closing an it(), and an upper bound on Date.now() - t0 or performance.now().
        if (/^\s*\}, [\d_]+\);\s*$/.test(line) || /(Date\.now\(\)|performance\.now\(\)) - \w+.*\)\.toBeLessThan/.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });
});
