/**
 * The generated accelerator as a firmware engineer uses it: the C driver of examples/driver,
 * built on the generated <prefix>_params.h, programs runs over AXI4-Lite as the host of the
 * Verilator model (the generated <prefix>_host.cpp clocks it and plays the memory), and the
 * outputs it leaves in memory are the golden model's, bit for bit.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256, writeFiles } from "../src/core/files.js";
import { Rng } from "../src/core/rng.js";
import { writeDesign } from "../src/flows/design.js";
import { runGolden } from "../src/flows/golden.js";
import { buildImageSet } from "../src/image/build.js";
import { descriptorBlock } from "../src/image/layout.js";
import type { Manifest } from "../src/image/manifest.js";
import { layerTraffic } from "../src/image/traffic.js";
import { assembleMemoryImage } from "../src/sim/driver.js";
import { design, randomCodeLayer, tmpDir } from "./helpers/cosim.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DRIVER = path.join(ROOT, "examples", "driver");
const D = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 8, loadSlots: 2 });

let work = "";
let designDir = "";
let binary = "";

beforeAll(async () => {
  work = tmpDir("host");
  designDir = path.join(work, "design");
  const rtl = writeDesign(designDir, D);
  const obj = path.join(work, "obj");
  const sources = Object.keys(rtl.sources).map((n) => path.join(designDir, n));
  const r = await execa("verilator", [
    "--cc", "--exe", "--build", "-O2", "-j", "2", "--top-module", rtl.top, "-Wno-fatal", "-Wno-lint", "-Wno-style",
    "--Mdir", obj, ...sources, path.join(designDir, Object.keys(rtl.host)[0]),
    "-CFLAGS", `-I${designDir} -I${DRIVER}`, "-o", "Vhost",
  ], { reject: false, all: true });
  expect(r.exitCode, r.all).toBe(0);
  binary = path.join(obj, "Vhost");
});

/** Writes an image folder (descriptors optionally altered), runs the host, returns its result and dump. */
async function run(tag: string, man: Manifest, files: Record<string, string>, latency: number, extra: string[] = []) {
  const dir = path.join(work, tag);
  writeFiles(dir, files);
  fs.writeFileSync(path.join(dir, "mem.hex"), assembleMemoryImage(dir, man));
  const lo = Math.min(...man.layers.map((l) => l.out.offset));
  const hi = Math.max(...man.layers.map((l) => l.out.offset + l.out.words)) - 1;
  const r = await execa(binary, [
    `+image=${path.join(dir, "mem.hex")}`, `+desc_base=${man.descriptorTable.offset}`, `+latency=${latency}`,
    `+dump=${path.join(dir, "out.hex")}`, `+dump_lo=${lo}`, `+dump_hi=${hi}`, `+result=${path.join(dir, "result.txt")}`, ...extra,
  ], { reject: false, all: true });
  const lines = fs.readFileSync(path.join(dir, "result.txt"), "utf8").trim().split("\n");
  const kv = Object.fromEntries(lines.filter((l) => !/^(raw_)?stat /.test(l)).map((l) => l.split(" ") as [string, string]));
  const stats = lines.filter((l) => l.startsWith("stat ")).map((l) => l.split(" ").slice(1).map(Number));
  const rawStats = lines.filter((l) => l.startsWith("raw_stat ")).map((l) => l.split(" ").slice(1).map(Number));
  return { exitCode: r.exitCode, kv, stats, rawStats, dir, dump: fs.readFileSync(path.join(dir, "out.hex"), "utf8").trim().split("\n"), lo };
}

describe("the C driver, as the host of the Verilator model", () => {
  it("compiles as plain C99 against the generated header, warning-free", async () => {
    const header = path.join(designDir, `${D.prefix}_params.h`);
    const r = await execa("cc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", path.join(DRIVER, "oltron_driver.c"),
      `-DOLTRON_PARAMS_H="${header}"`, `-I${DRIVER}`, "-o", path.join(work, "driver.o")], { reject: false, all: true });
    expect(r.all).toBe("");
    expect(r.exitCode).toBe(0);
  });

  it("programs a run and leaves the golden model's outputs in memory, at latency 1 and 40", async () => {
    const layers = [
      randomCodeLayer(D, new Rng(77), { name: "A", m: 19, k: 11, n: 7, type: "fp12" }),
      randomCodeLayer(D, new Rng(78), { name: "B", m: 5, k: 6, n: 4, type: "fp8" }),
    ];
    const set = buildImageSet(D, layers, { allowOverflow: true });
    for (const latency of [1, 40]) {
      const res = await run(`ok-${latency}`, set.manifest, set.files, latency);
      expect(res.exitCode, JSON.stringify(res.kv)).toBe(0);
      expect(res.kv.status).toBe("done");
      expect(res.kv.error_name).toBe("NONE");
      runGolden(res.dir, set.manifest, { error: false });
      for (const l of set.manifest.layers) {
        const expected = fs.readFileSync(path.join(res.dir, `${l.name}.expected.hex`), "utf8").trim().split("\n");
        expect(res.dump.slice(l.out.offset - res.lo, l.out.offset - res.lo + l.out.words), `${l.name} at latency ${latency}`).toEqual(expected);
      }
      const traffic = set.manifest.layers.map((l) => layerTraffic(set.manifest, l));
      expect(Number(res.kv.words_read)).toBe(traffic.reduce((a, t) => a + t.read, 0));
      expect(Number(res.kv.words_written)).toBe(traffic.reduce((a, t) => a + t.written, 0));
      // The driver's per-descriptor statistics: one entry per descriptor, issue ends rising,
      // and each descriptor's busy cycles are its tokens x tiles x N-tiles.
      const descs = set.descriptors;
      expect(Number(res.kv.stats_count)).toBe(descs.length);
      expect(res.stats.map((x) => x[0])).toEqual(descs.map((_, i) => i));
      let prev = [0, 0];
      res.stats.forEach(([, end, busy], i) => {
        expect(end).toBeGreaterThan(prev[0]);
        expect(busy - prev[1], `descriptor ${i}`).toBe(descs[i].m * descs[i].kTiles * descs[i].nTiles);
        prev = [end, busy];
      });
      expect(prev[0]).toBeLessThanOrEqual(Number(res.kv.cycles_total));
    }
  });

  it("a second, shorter run's statistics hold its own entries only: an entry it did not record reads 0, not the first run's", async () => {
    const layers = [randomCodeLayer(D, new Rng(80), { name: "A", m: 19, k: 11, n: 7, type: "fp8" })];
    const set = buildImageSet(D, layers, { allowOverflow: true });
    const n = set.descriptors.length;
    expect(n).toBeGreaterThan(2);
    // The second run starts at the last descriptor (it carries the last flag): a 1-descriptor table.
    const last = set.manifest.descriptorTable.offset + (n - 1) * D.descriptorWords;
    const res = await run("rerun", set.manifest, set.files, 3, [`+rerun_desc=${last}`]);
    expect(res.exitCode, JSON.stringify(res.kv)).toBe(0);
    expect(res.kv.rerun_status).toBe("done");
    expect(Number(res.kv.stats_count)).toBe(1);
    expect(res.rawStats.map((x) => x[0])).toEqual(set.descriptors.map((_, i) => i));
    expect(res.rawStats[0][1]).toBeGreaterThan(0);
    expect(res.rawStats[0][2]).toBe(set.descriptors[n - 1].m * set.descriptors[n - 1].kTiles * set.descriptors[n - 1].nTiles);
    for (const [i, end, busy] of res.rawStats.slice(1)) expect([end, busy], `entry ${i}`).toEqual([0, 0]);
    // Running a descriptor again rewrites the same outputs.
    runGolden(res.dir, set.manifest, { error: false });
    const l = set.manifest.layers[0];
    const expected = fs.readFileSync(path.join(res.dir, `${l.name}.expected.hex`), "utf8").trim().split("\n");
    expect(res.dump.slice(l.out.offset - res.lo, l.out.offset - res.lo + l.out.words)).toEqual(expected);
  });

  it("reports a descriptor the hardware refuses by the header's error name", async () => {
    const set = buildImageSet(D, [randomCodeLayer(D, new Rng(79), { name: "A", m: 3, k: 5, n: 4, type: "fp8" })], { allowOverflow: true });
    set.descriptors[0].nTiles = 0;
    const text = descriptorBlock(D, set.descriptors).toHex();
    set.files["descriptors.hex"] = text;
    set.manifest.descriptorTable.sha256 = sha256(text);
    const res = await run("bad", set.manifest, set.files, 1);
    expect(res.exitCode).toBe(1);
    expect(res.kv.status).toBe("error");
    expect(res.kv.error_name).toBe("DESC_NTILES");
    expect(res.kv.error_code).toBe("19");
  });
});
