/**
 * The build cache heals itself and explains itself: a corrupt or partial entry is rebuilt,
 * never used; every build says why it happened; `cache clean` removes only oltron's entries;
 * the testbench memory size does not split Verilator builds.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cacheEntries, cacheRoot, cleanCache } from "../src/core/cache.js";
import { generateRtl } from "../src/hw/generate.js";
import { memAddrBitsFor, VERILATOR_MEMORY_BYTES } from "../src/sim/driver.js";
import { buildSim, type SimBuild } from "../src/sim/build.js";
import type { Manifest } from "../src/image/manifest.js";
import { design, tmpDir } from "./helpers/cosim.js";

const D = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

let saved: string | undefined;
beforeEach(() => {
  saved = process.env.OLTRON_CACHE;
  process.env.OLTRON_CACHE = tmpDir("cache");
});
afterEach(() => {
  if (saved === undefined) delete process.env.OLTRON_CACHE;
  else process.env.OLTRON_CACHE = saved;
});

async function build(opts: { memAddrBits?: number; rebuild?: boolean } = {}): Promise<{ b: SimBuild; logs: string[] }> {
  const logs: string[] = [];
  const b = await buildSim(generateRtl(D), { simulator: "icarus", memAddrBits: opts.memAddrBits ?? 16, rebuild: opts.rebuild, log: (s) => logs.push(s) });
  return { b, logs };
}

/** The built vvp file still runs: vvp loads it and reaches the testbench (which asks for +image). */
async function runs(b: SimBuild): Promise<boolean> {
  const r = await execa("vvp", ["-n", b.binary], { reject: false, all: true });
  return /\+image=<file> is required/.test(r.all ?? "");
}

describe("build cache", () => {
  it("says why it builds: first build, a changed memory depth, --rebuild; a valid entry is reused silently", async () => {
    const first = await build();
    expect(first.b.cached).toBe(false);
    expect(first.b.reason).toMatch(new RegExp(`first icarus build of design oltron_${D.name}_top`));
    expect(first.logs.join("\n")).toMatch(/building icarus model .*: first icarus build/);
    const again = await build();
    expect(again.b.cached).toBe(true);
    expect(again.logs).toEqual([]);
    const deeper = await build({ memAddrBits: 17 });
    expect(deeper.b.reason).toMatch(/testbench memory 65536 -> 131072 words/);
    const forced = await build({ rebuild: true });
    expect(forced.b.cached).toBe(false);
    expect(forced.b.reason).toBe("--rebuild was given");
    expect(forced.b.key).toBe(first.b.key);
    expect(await runs(forced.b)).toBe(true);
  });

  const corruptions: [string, (b: SimBuild) => void, RegExp][] = [
    ["a truncated binary", (b) => fs.truncateSync(b.binary, Math.floor(fs.statSync(b.binary).size / 2)), /does not match its recorded sha256/],
    ["a flipped byte", (b) => {
      const data = fs.readFileSync(b.binary);
      data[Math.floor(data.length / 2)] ^= 0x40;
      fs.writeFileSync(b.binary, data);
    }, /does not match its recorded sha256/],
    ["a missing binary", (b) => fs.rmSync(b.binary), /the binary is missing/],
    ["no completion record", (b) => fs.rmSync(path.join(b.dir, "entry.json")), /no completion record/],
    ["a garbled completion record", (b) => fs.writeFileSync(path.join(b.dir, "entry.json"), "{ not json"), /no completion record/],
    ["a record of another build", (b) => {
      const f = path.join(b.dir, "entry.json");
      fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, "utf8")), key: "0000000000000000" }));
    }, /record names another build/],
  ];
  for (const [what, corrupt, why] of corruptions) {
    it(`rebuilds an entry with ${what} instead of using it`, async () => {
      const { b } = await build();
      corrupt(b);
      const healed = await build();
      expect(healed.b.cached).toBe(false);
      expect(healed.b.reason).toMatch(/unusable/);
      expect(healed.b.reason).toMatch(why);
      expect(healed.b.dir).toBe(b.dir);
      expect(await runs(healed.b)).toBe(true);
      expect((await build()).b.cached).toBe(true);
    });
  }

  it("a build that fails on a flag the user passed through is their error, named, with the tool's words", async () => {
    const { UserError } = await import("../src/core/errors.js");
    const p = buildSim(generateRtl(D), { simulator: "icarus", memAddrBits: 16, extraFlags: ["-Wno-such-warning-class", "-Xbogus"], log: () => {} });
    await expect(p).rejects.toThrow(UserError);
    await expect(buildSim(generateRtl(D), { simulator: "icarus", memAddrBits: 16, extraFlags: ["-Xbogus"], log: () => {} })).rejects.toThrow(/iverilog failed with --build-flag -Xbogus/);
    expect(cacheEntries()).toEqual([]);
  });

  it("cache clean removes oltron's entries and leftovers, and nothing else", async () => {
    const { b } = await build();
    const root = cacheRoot();
    fs.mkdirSync(`${b.dir}.tmp-abc123`);
    fs.writeFileSync(path.join(root, "sim", "notes.txt"), "mine");
    fs.writeFileSync(path.join(root, "keep.txt"), "mine");
    // A silicon-flow result (hw/silicon.ts caches them by a 16-digit hash) is oltron's too.
    fs.mkdirSync(path.join(root, "silicon"), { recursive: true });
    fs.writeFileSync(path.join(root, "silicon", "0123456789abcdef.json"), "{}");
    fs.writeFileSync(path.join(root, "silicon", "mine.json"), "{}");
    expect(cacheEntries().map((e) => path.basename(e.path)).sort()).toEqual([path.basename(b.dir), `${path.basename(b.dir)}.tmp-abc123`, "0123456789abcdef.json"].sort());
    const gone = cleanCache().removed;
    expect(gone.length).toBe(3);
    expect(fs.readFileSync(path.join(root, "silicon", "mine.json"), "utf8")).toBe("{}");
    expect(gone.every((e) => e.bytes >= 0)).toBe(true);
    expect(fs.existsSync(b.dir)).toBe(false);
    expect(fs.readFileSync(path.join(root, "sim", "notes.txt"), "utf8")).toBe("mine");
    expect(fs.readFileSync(path.join(root, "keep.txt"), "utf8")).toBe("mine");
  });

  it("cache clean keeps an entry another process is building (its lock held), and removes one whose lock is dead", async () => {
    const { b } = await build();
    const root = cacheRoot();
    // Being rebuilt by a live process (this one): the entry, its temporary and its lock stay.
    fs.mkdirSync(`${b.dir}.lock`);
    fs.writeFileSync(path.join(`${b.dir}.lock`, "pid"), String(process.pid));
    fs.mkdirSync(`${b.dir}.tmp-xyz789`);
    fs.mkdirSync(path.join(root, "silicon"), { recursive: true });
    fs.writeFileSync(path.join(root, "silicon", "00000000000000aa.json.tmp-12"), "{");
    fs.mkdirSync(path.join(root, "silicon", "00000000000000aa.lock"));
    fs.writeFileSync(path.join(root, "silicon", "00000000000000aa.lock", "pid"), String(process.pid));
    const { removed, inUse } = cleanCache();
    expect(removed).toEqual([]);
    expect(inUse.map((e) => path.basename(e.path)).sort()).toEqual([path.basename(b.dir), `${path.basename(b.dir)}.lock`, `${path.basename(b.dir)}.tmp-xyz789`, "00000000000000aa.json.tmp-12", "00000000000000aa.lock"].sort());
    expect(fs.existsSync(b.dir)).toBe(true);
    // Its owner gone (a pid that has exited): everything goes.
    const { execFileSync } = await import("node:child_process");
    const dead = execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    fs.writeFileSync(path.join(`${b.dir}.lock`, "pid"), dead);
    fs.writeFileSync(path.join(root, "silicon", "00000000000000aa.lock", "pid"), dead);
    const second = cleanCache();
    expect(second.inUse).toEqual([]);
    expect(second.removed.length).toBe(5);
    expect(fs.existsSync(b.dir)).toBe(false);
  });

  it("`oltron cache list` and `cache clean` report the folder and what they removed", async () => {
    await build();
    const env = { ...process.env, OLTRON_CACHE: cacheRoot() };
    const list = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "cache", "list", "--json"], { env, reject: false });
    expect(list.exitCode).toBe(0);
    expect(JSON.parse(list.stdout).entries).toHaveLength(1);
    const clean = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "cache", "clean"], { env, reject: false });
    expect(clean.exitCode).toBe(0);
    expect(clean.stdout).toMatch(new RegExp(`removed 1 entries \\(.* MiB\\) from ${cacheRoot().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    expect(cacheEntries()).toEqual([]);
  });

  it("lives under XDG_CACHE_HOME (or ~/.cache) when OLTRON_CACHE is not set", () => {
    const env = { o: process.env.OLTRON_CACHE, x: process.env.XDG_CACHE_HOME };
    try {
      delete process.env.OLTRON_CACHE;
      process.env.XDG_CACHE_HOME = "/some/where";
      expect(cacheRoot()).toBe("/some/where/oltron");
      delete process.env.XDG_CACHE_HOME;
      expect(cacheRoot()).toBe(path.join(process.env.HOME ?? "", ".cache", "oltron"));
    } finally {
      process.env.OLTRON_CACHE = env.o;
      if (env.x === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = env.x;
    }
  });
});

describe("testbench memory depth", () => {
  const man = (words: number, bits = 256) => ({ memoryWords: words, memWordBits: bits }) as Manifest;
  it("is one generous size for Verilator, whatever the image size below it", () => {
    const fixed = Math.log2(VERILATOR_MEMORY_BYTES / 32);
    for (const words of [1, 1000, 2 ** 16 + 1, 2 ** 17 + 5, 2 ** 19, 2 ** fixed]) expect(memAddrBitsFor(man(words), "verilator")).toBe(fixed);
    expect(memAddrBitsFor(man(2 ** fixed + 1), "verilator")).toBe(fixed + 1);
    expect(memAddrBitsFor(man(100, 1024), "verilator")).toBe(Math.log2(VERILATOR_MEMORY_BYTES / 128));
  });
  it("stays small for Icarus (at least 2^16 words, grown to fit)", () => {
    expect(memAddrBitsFor(man(100), "icarus")).toBe(16);
    expect(memAddrBitsFor(man(2 ** 16 + 1), "icarus")).toBe(17);
  });
});
