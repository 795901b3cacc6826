/**
 * The CLI as users run it (node bin/oltron.js): outputs, exit codes, error messages for bad
 * input, and no half-written folders.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { readTensorFile, writeNpy } from "../src/data/tensorio.js";
import { sha256 } from "../src/core/files.js";
import { Rng } from "../src/core/rng.js";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");

async function oltron(...args: string[]) {
  return execa("node", [path.join(ROOT, "bin", "oltron.js"), ...args], { reject: false, cwd: ROOT, all: true });
}

// The bin runs compiled code: test/global-setup.ts compiles the current sources first.

describe("oltron formats", () => {
  it("prints every code with its decoded value as JSON", async () => {
    for (const [t, n] of [["int4", 16], ["fp8", 256], ["fp12", 4096]] as const) {
      const r = await oltron("formats", t, "--json");
      expect(r.exitCode).toBe(0);
      const rows = JSON.parse(r.stdout) as { code: number; value: number }[];
      expect(rows.length).toBe(n);
      expect(rows.map((x) => x.code)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    // Hand-checked entries: fp8 0x7b = s0 e30 m3 = 7 << 29; int4 0x8 = -8; fp12 0x841 = -(1)
    const fp8 = JSON.parse((await oltron("formats", "fp8", "--json")).stdout);
    expect(fp8[0x7b].value).toBe(7 * 2 ** 29);
    expect(JSON.parse((await oltron("formats", "int4", "--json")).stdout)[8].value).toBe(-8);
    expect(JSON.parse((await oltron("formats", "fp12", "--json")).stdout)[0x801].value).toBe(-1);
  });

  it("prints a readable table and rejects an unknown type", async () => {
    const r = await oltron("formats", "fp8");
    expect(r.stdout.split("\n").length).toBe(257);
    const bad = await oltron("formats", "fp16");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("unknown format 'fp16': expected one of int4, fp8, fp12, int8, ovp-int, ovp-flint");
    expect(bad.stderr).not.toContain("    at ");
  });

  it("prints the int8 and OVP tables of the other architectures", async () => {
    const i8 = JSON.parse((await oltron("formats", "int8", "--json")).stdout);
    expect(i8.length).toBe(256);
    expect(i8[0x80].value).toBe(-128);
    // OVP flint, from docs/formats.md: magnitude code 100 is 16, an outlier 0111 is (2 + 1) << (3 + 3) = 192.
    const fl = JSON.parse((await oltron("formats", "ovp-flint", "--json")).stdout);
    expect(fl[0b0100].normal).toEqual({ shift: 4, int: 1 });
    expect(fl[0b0111].outlier).toEqual({ shift: 6, int: 3 });
    expect(fl[0b1000].normal).toBeNull();
    const text = (await oltron("formats", "ovp-int")).stdout;
    expect(text).toContain("victim marker");
    expect(text.split("\n").length).toBe(19);
  });
});

describe("oltron generate", () => {
  it("writes identical files twice and reads YAML configurations", async () => {
    const a = path.join(tmpDir("gen"), "a");
    const b = path.join(tmpDir("gen"), "b");
    const cfg = path.join(tmpDir("cfg"), "d.yaml");
    fs.writeFileSync(cfg, "rows: 8\ncols: 4\nflexLines: 2\nmemWordBits: 64\n");
    expect((await oltron("generate", "--config", cfg, "--out", a)).exitCode).toBe(0);
    expect((await oltron("generate", "--rows", "8", "--cols", "4", "--mem-word-bits", "64", "--out", b)).exitCode).toBe(0);
    const files = fs.readdirSync(a).sort();
    expect(files).toEqual(fs.readdirSync(b).sort());
    expect(files).toContain("design.json");
    for (const f of files) expect(fs.readFileSync(path.join(a, f), "utf8")).toBe(fs.readFileSync(path.join(b, f), "utf8"));
  });

  it("rejects bad parameters with the name, value and range, and writes nothing", async () => {
    const parent = tmpDir("bad");
    const cases: [string[], RegExp][] = [
      [["--rows", "300"], /invalid rows \(--rows\) = 300: must be an integer in 2\.\.256/],
      [["--flex-lines", "20"], /invalid flexLines \(--flex-lines\) = 20: must be an integer in 0\.\.16/],
      [["--mem-word-bits", "48"], /memWordBits \(--mem-word-bits\) = 48: must be a power of two/],
      [["--psum-bits", "9"], /invalid psumBits \(--psum-bits\) = 9: must be an integer in 11\.\.32 \(14 efficient rows/],
      [["--salient-types", "fp16"], /invalid salient type 'fp16'/],
      [["--preset", "huge"], /unknown preset 'huge'/],
      [["--rows", "abc"], /--rows must be a number/],
    ];
    for (const [args, msg] of cases) {
      const out = path.join(parent, "out");
      const r = await oltron("generate", ...args, "--out", out);
      expect(r.exitCode, args.join(" ")).not.toBe(0);
      expect(r.all, args.join(" ")).toMatch(msg);
      expect(r.all).not.toContain("    at ");
      expect(fs.existsSync(out)).toBe(false);
    }
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it("never replaces a folder or file it did not write", async () => {
    const dir = tmpDir("mine");
    fs.writeFileSync(path.join(dir, "thesis.tex"), "precious");
    const r = await oltron("generate", "--preset", "tiny", "--out", dir);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/exists and is not provably oltron.s \(1 entry; no .oltron-output marker\); refusing to replace it/);
    expect(fs.readFileSync(path.join(dir, "thesis.tex"), "utf8")).toBe("precious");
    const file = path.join(dir, "thesis.tex");
    expect((await oltron("generate", "--preset", "tiny", "--out", file)).stderr).toMatch(/exists and is not a folder/);
    const own = path.join(dir, "own");
    expect((await oltron("generate", "--preset", "tiny", "--out", own)).exitCode).toBe(0);
    expect((await oltron("generate", "--preset", "small8", "--out", own)).exitCode).toBe(0); // its own output: replaced
    expect(fs.readdirSync(own).some((f) => f.startsWith("oltron_r8c8"))).toBe(true);
    expect(fs.statSync(own).mode & 0o777).toBe(0o777 & ~process.umask());
  });

  it("shows parameters and their defaults in --help", async () => {
    const r = await oltron("generate", "--help");
    for (const s of ["--rows <n>", "(default 16)", "--flex-lines", "--mem-word-bits", "--buffer-tokens", "--salient-types", "--preset"]) {
      expect(r.stdout).toContain(s);
    }
  });
});

describe("oltron quantize / golden / sim / verify", () => {
  let designDir: string;
  beforeAll(async () => {
    designDir = path.join(tmpDir("design"), "tiny");
    expect((await oltron("generate", "--preset", "tiny", "--out", designDir)).exitCode).toBe(0);
  });

  it("quantizes user .npy tensors, runs golden with error figures, simulates bit-exact", async () => {
    const dir = tmpDir("npy");
    const m = 6, k = 20, n = 7;
    const x = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i) * (i % k === 3 ? 50 : 1));
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.7));
    writeNpy(path.join(dir, "x.npy"), { shape: [m, k], data: x });
    writeNpy(path.join(dir, "w.npy"), { shape: [k, n], data: w });
    const images = path.join(dir, "images");
    const q = await oltron("quantize", "--design", designDir, "--out", images, "--x", path.join(dir, "x.npy"), "--w", path.join(dir, "w.npy"), "--salient-type", "fp12", "--golden");
    expect(q.exitCode, q.all).toBe(0);
    expect(q.stdout).toMatch(/x +M=6 K=20 N=7 fp12 salient=1/);
    expect(q.stdout).toMatch(/SQNR \d+\.\d+ dB/);
    const man = JSON.parse(fs.readFileSync(path.join(images, "manifest.json"), "utf8"));
    expect(man.layers[0].permutation[0]).toBe(3); // the outlier channel leads its tile
    const s = await oltron("sim", "--design", designDir, "--images", images, "--json");
    expect(s.exitCode, s.all).toBe(0);
    const res = JSON.parse(s.stdout);
    expect(res.pass).toBe(true);
    expect(res.utilization).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(images, "sim-result.json"))).toBe(true);
    expect(fs.readFileSync(path.join(images, "x.out.hex"), "utf8")).toBe(fs.readFileSync(path.join(images, "x.expected.hex"), "utf8"));
  });

  it("reads PyTorch-layout weights ([out x in]) with --w-layout nk", async () => {
    const dir = tmpDir("nk");
    const m = 3, k = 12, n = 5;
    const x = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i + 1));
    const wKN = Float32Array.from({ length: k * n }, (_, i) => Math.cos(3 * i));
    const wNK = new Float32Array(k * n);
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) wNK[j * k + i] = wKN[i * n + j];
    writeNpy(path.join(dir, "x.npy"), { shape: [m, k], data: x });
    writeNpy(path.join(dir, "wkn.npy"), { shape: [k, n], data: wKN });
    writeNpy(path.join(dir, "wnk.npy"), { shape: [n, k], data: wNK });
    const a = await oltron("quantize", "--design", designDir, "--out", path.join(dir, "a"), "--x", path.join(dir, "x.npy"), "--w", path.join(dir, "wkn.npy"));
    const b = await oltron("quantize", "--design", designDir, "--out", path.join(dir, "b"), "--x", path.join(dir, "x.npy"), "--w", path.join(dir, "wnk.npy"), "--w-layout", "nk");
    expect(a.exitCode, a.all).toBe(0);
    expect(b.exitCode, b.all).toBe(0);
    expect(fs.readFileSync(path.join(dir, "b", "x.wgt.hex"), "utf8")).toBe(fs.readFileSync(path.join(dir, "a", "x.wgt.hex"), "utf8"));
    const wrong = await oltron("quantize", "--design", designDir, "--out", path.join(dir, "c"), "--x", path.join(dir, "x.npy"), "--w", path.join(dir, "wnk.npy"));
    expect(wrong.stderr).toMatch(/activations have K = 12 channels but weights have K = 5 rows \(the weights look \[out x in\].*--w-layout nk\)/);
  });

  it("reports bad tensors and mismatched shapes by file, and leaves no folder behind", async () => {
    const dir = tmpDir("badin");
    writeNpy(path.join(dir, "nan.npy"), { shape: [2, 4], data: Float32Array.from([1, 2, NaN, 4, 5, 6, 7, 8]) });
    writeNpy(path.join(dir, "w.npy"), { shape: [5, 3], data: new Float32Array(15).fill(1) });
    writeNpy(path.join(dir, "x.npy"), { shape: [2, 4], data: new Float32Array(8).fill(1) });
    fs.writeFileSync(path.join(dir, "trunc.npy"), fs.readFileSync(path.join(dir, "x.npy")).subarray(0, 100));
    const out = path.join(dir, "out");
    const cases: [string, string, RegExp][] = [
      ["nan.npy", "w.npy", /nan\.npy.*NaN at index 2/],
      ["x.npy", "w.npy", /activations have K = 4 channels but weights have K = 5 rows/],
      ["trunc.npy", "w.npy", /trunc\.npy.*truncated/],
    ];
    for (const [x, w, msg] of cases) {
      const r = await oltron("quantize", "--design", designDir, "--out", out, "--x", path.join(dir, x), "--w", path.join(dir, w));
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toContain("    at ");
      expect(fs.existsSync(out)).toBe(false);
    }
    const spec = await oltron("quantize", "--design", designDir, "--out", out, "--layer", "mlp:4x4x4");
    expect(spec.stderr).toMatch(/unknown layer type 'mlp'/);
  });

  it("refuses empty selectors and options the chosen layer source would ignore", async () => {
    const out = path.join(tmpDir("ignored"), "o");
    const cases: [string[], RegExp][] = [
      [["--layer", "qkv:4x8x4:fp8:r"], /empty salient selector/],
      [["--layer", "qkv:4x8x4:none:5"], /makes no sense with 'none'/],
      [["--layer", "qkv:4x8x4", "--ratio", "0.5"], /--ratio apply to --x\/--w and --block/],
      [["--layer", "qkv:4x8x4", "--w-name", "w"], /--w-name apply only to --x\/--w/],
      [["--layer", "qkv:4x8x4", "--tokens", "3"], /--tokens applies only to --block/],
    ];
    for (const [args, msg] of cases) {
      const r = await oltron("quantize", "--design", designDir, "--out", out, ...args);
      expect(r.exitCode, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(msg);
      expect(fs.existsSync(out)).toBe(false);
    }
  });

  it("writes waveforms in the format of the extension, within the cycle window, on both simulators, from sim and verify", async () => {
    const dir = tmpDir("wave");
    /** The VCD's timestamps, in ns (the testbench's timescale is 1 ns / 1 ps). */
    const stamps = (file: string) => fs.readFileSync(file, "utf8").split("\n").filter((l) => /^#\d+$/.test(l)).map((l) => Number(l.slice(1)) / 1000);
    for (const sim of ["verilator", "icarus"]) {
      const vcd = path.join(dir, `${sim}.vcd`);
      const out = path.join(dir, `run-${sim}`);
      const r = await oltron("verify", "--preset", "tiny", "--layer", "qkv:16x64x16", "--simulator", sim, "--trace", vcd, "--trace-from", "20", "--trace-to", "40", "--out", out);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain(`wrote waveform ${vcd} (cycles 20..40); view it with: gtkwave ${vcd}`);
      // Cycle n is the posedge at 25 + 10 n ns: nothing before cycle 20's, nothing after cycle 40 ends.
      const t = stamps(vcd);
      expect(t.length).toBeGreaterThan(20);
      expect(Math.min(...t)).toBeGreaterThanOrEqual(25 + 10 * 20 - 1);
      expect(Math.max(...t)).toBeLessThanOrEqual(25 + 10 * 41);
      const res = JSON.parse(fs.readFileSync(path.join(out, "images", "sim-result.json"), "utf8"));
      expect(res.trace).toEqual({ file: vcd, format: "vcd", from: 20, to: 40 });
      // FST by extension: the binary format's header block, much smaller than the text.
      const fst = path.join(dir, `${sim}.fst`);
      const s = await oltron("sim", "--design", path.join(out, "design"), "--images", path.join(out, "images"), "--simulator", sim, "--trace", fst, "--trace-from", "20", "--trace-to", "40");
      expect(s.exitCode, s.all).toBe(0);
      expect(fs.readFileSync(fst)[0]).toBe(0);
      expect(fs.statSync(fst).size).toBeLessThan(fs.statSync(vcd).size);
    }
    const bad = await oltron("verify", "--preset", "tiny", "--layer", "qkv:16x64x16", "--trace", path.join(dir, "w.ghw"), "--out", path.join(dir, "never"));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--trace .*w\.ghw: the waveform format follows the extension, which must be \.fst or \.vcd \(got '\.ghw'\)/);
    expect(fs.existsSync(path.join(dir, "never"))).toBe(false);
  });

  it("sim checks its output paths and trace window before running; manifests cannot name files outside their folder", async () => {
    const images = path.join(tmpDir("simchk"), "i");
    expect((await oltron("quantize", "--design", designDir, "--out", images, "--layer", "qkv:4x16x4")).exitCode).toBe(0);
    const noDir = await oltron("sim", "--design", designDir, "--images", images, "--result", "/nonexistent-oltron/r.json");
    expect(noDir.stderr).toMatch(/folder \/nonexistent-oltron does not exist/);
    const window = await oltron("sim", "--design", designDir, "--images", images, "--trace", path.join(images, "w.vcd"), "--trace-from", "50", "--trace-to", "10");
    expect(window.stderr).toMatch(/--trace-to 10 is before --trace-from 50/);
    // A file the simulator could not create (it would not say so) is refused before the run.
    const unwritable = await oltron("sim", "--design", designDir, "--images", images, "--trace", "/proc/sys/oltron-w.vcd");
    expect(unwritable.exitCode).toBe(1);
    expect(unwritable.stderr).toMatch(/--trace \/proc\/sys\/oltron-w\.vcd: cannot be written/);
    expect(unwritable.stderr).not.toContain("    at ");
    const late = await oltron("sim", "--design", designDir, "--images", images, "--simulator", "icarus", "--trace", path.join(images, "w.vcd"), "--trace-from", "100000");
    expect(late.exitCode).toBe(0);
    expect(late.stderr).toMatch(/no waveform written: the run ended after \d+ cycles/);
    const manFile = path.join(images, "manifest.json");
    const man = JSON.parse(fs.readFileSync(manFile, "utf8"));
    man.layers[0].name = "../evil";
    fs.writeFileSync(manFile, JSON.stringify(man));
    const evil = await oltron("golden", "--images", images);
    expect(evil.exitCode).toBe(1);
    expect(evil.stderr).toMatch(/layer 0 has an invalid name "..\/evil"/);
  });

  it("refuses an output folder that is, lies inside, or contains an input, and leaves the input as it was", async () => {
    const dir = tmpDir("apart");
    const designDir = path.join(dir, "design");
    expect((await oltron("generate", "--preset", "tiny", "--out", designDir)).exitCode).toBe(0);
    const before = fs.readFileSync(path.join(designDir, "design.json"), "utf8");
    const cases: [string[], RegExp][] = [
      [["quantize", "--design", designDir, "--out", designDir], /--out .* is the same folder as --design/],
      [["quantize", "--design", designDir, "--out", path.join(designDir, "images")], /--out .* is inside --design/],
      [["quantize", "--design", designDir, "--out", dir], /--out .* contains --design/],
    ];
    const x = path.join(dir, "x.npy");
    writeNpy(x, { shape: [4, 16], data: new Float32Array(64).fill(0.5) });
    cases.push([["verify", "--preset", "tiny", "--x", x, "--w", x, "--out", dir], /--out .* contains --x/]);
    for (const [args, msg] of cases) {
      const r = await oltron(...args, "--layer", "qkv:4x16x4");
      expect(r.exitCode, `${args.join(" ")}\n${r.all}`).toBe(1);
      expect(r.stderr).toMatch(msg);
    }
    expect(fs.readFileSync(path.join(designDir, "design.json"), "utf8")).toBe(before);
    expect(fs.readdirSync(dir).sort()).toEqual(["design", "x.npy"]);
  });

  it("reads activations of any rank [..., K] and float64 tensors, with a note; warns when a salient type selects no channel", async () => {
    const dir = tmpDir("rank");
    const rng = new Rng(5);
    // [2, 8, 16] float64, written by hand (numpy's layout: header padded to 64 bytes).
    const vals = Array.from({ length: 2 * 8 * 16 }, () => Math.abs(rng.normal()));
    const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 8, 16), }";
    const padded = header.padEnd(64 * Math.ceil((header.length + 11) / 64) - 11, " ") + "\n";
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, padded.length & 0xff, padded.length >> 8]);
    const body = Buffer.alloc(8 * vals.length);
    vals.forEach((v, i) => body.writeDoubleLE(v, 8 * i));
    const x = path.join(dir, "x.npy");
    fs.writeFileSync(x, Buffer.concat([pre, Buffer.from(padded, "latin1"), body]));
    const w = path.join(dir, "w.npy");
    writeNpy(w, { shape: [16, 4], data: Float32Array.from({ length: 64 }, () => rng.normal()) });
    const out = path.join(dir, "run");
    // Uniform |N(0,1)| channels: none is 1000x the median, so fp12 selects nothing.
    const r = await oltron("verify", "--preset", "tiny", "--x", x, "--w", w, "--salient-type", "fp12", "--threshold", "1000", "--out", out, "--json");
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(/note: --x .*x\.npy has shape \[2, 8, 16\]: read as 16 tokens x 16 channels/);
    expect(r.stderr).toMatch(/note: --x .*x\.npy is float64; its values are rounded to float32/);
    expect(r.stderr).toMatch(/warning: layer x: fp12 was requested but no channel was selected by threshold 1000 x the median channel max; the layer runs int4 only/);
    const res = JSON.parse(r.stdout);
    expect(res.pass).toBe(true);
    expect([res.layers[0].m, res.layers[0].k, res.layers[0].n]).toEqual([16, 16, 4]);
  });

  it("generate, quantize and demo take --json and then print exactly one JSON document on stdout", async () => {
    const dir = tmpDir("json");
    const g = await oltron("generate", "--preset", "tiny", "--out", path.join(dir, "d"), "--json");
    expect(g.exitCode, g.all).toBe(0);
    const gj = JSON.parse(g.stdout);
    expect(gj.design).toMatch(/^r4c4f2_[0-9a-f]{6}$/);
    expect(gj.files).toContain("design.json");
    expect(gj.out).toBe(path.join(dir, "d"));
    const q = await oltron("quantize", "--design", path.join(dir, "d"), "--out", path.join(dir, "i"), "--layer", "qkv:8x16x8", "--golden", "--json");
    expect(q.exitCode, q.all).toBe(0);
    const qj = JSON.parse(q.stdout);
    expect(qj.layers.map((l: { name: string; m: number; k: number; n: number }) => [l.m, l.k, l.n])).toEqual([[8, 16, 8]]);
    expect(qj.golden[0].error.sqnrDb).toBeGreaterThan(0);
    // The dequantized output beside the float reference, in original channel order: its error
    // against X*W is the golden model's reported MSE.
    expect(qj.golden[0].dequantizedFile).toBe("L0_qkv.deq.npy");
    const deq = readTensorFile(path.join(dir, "i", "L0_qkv.deq.npy"));
    const xr = readTensorFile(path.join(dir, "i", "L0_qkv.x.npy"));
    const wr = readTensorFile(path.join(dir, "i", "L0_qkv.w.npy"));
    expect(deq.shape).toEqual([8, 8]);
    let se = 0;
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        let ref = 0;
        for (let k = 0; k < 16; k++) ref += xr.data[r * 16 + k] * wr.data[k * 8 + c];
        se += (ref - deq.data[r * 8 + c]) ** 2;
      }
    }
    expect(se / 64).toBeCloseTo(qj.golden[0].error.mse, 4);
    // The float reference is protected by sha256 in the manifest: a changed byte is refused.
    const man = JSON.parse(fs.readFileSync(path.join(dir, "i", "manifest.json"), "utf8"));
    expect(man.layers[0].reference.xSha256).toBe(sha256(fs.readFileSync(path.join(dir, "i", "L0_qkv.x.npy"))));
    const xb = fs.readFileSync(path.join(dir, "i", "L0_qkv.x.npy"));
    xb[xb.length - 1] ^= 1;
    fs.writeFileSync(path.join(dir, "i", "L0_qkv.x.npy"), xb);
    const tampered = await oltron("golden", "--images", path.join(dir, "i"));
    expect(tampered.exitCode).toBe(1);
    expect(tampered.stderr).toMatch(/L0_qkv\.x\.npy: sha256 does not match the manifest: the float reference was changed or damaged/);
    expect(q.stderr).toMatch(/quantize: wrote 1 layer\(s\)/);
    const demo = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "demo", "--json"], { reject: false, cwd: dir, all: true });
    expect(demo.exitCode, demo.all).toBe(0);
    expect(JSON.parse(demo.stdout).pass).toBe(true);
    expect(demo.stderr).toMatch(/wrote rtl-out\/demo\/design/);
  });

  it("runs several named layers of one's own tensors from a YAML or CSV layer list, paths relative to the list", async () => {
    const dir = tmpDir("list");
    fs.mkdirSync(path.join(dir, "t"));
    const rng = new Rng(21);
    const t = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) });
    writeNpy(path.join(dir, "t", "q_in.npy"), t([1, 6, 32]));
    writeNpy(path.join(dir, "t", "q_w.npy"), t([32, 8]));
    writeNpy(path.join(dir, "t", "o_in.npy"), t([6, 16]));
    writeNpy(path.join(dir, "t", "o_w_nk.npy"), t([4, 16]));
    fs.writeFileSync(path.join(dir, "list.yaml"), [
      "layers:",
      "  - { name: q_proj, x: t/q_in.npy, w: t/q_w.npy, salient_type: fp12, ratio: 0.1 }",
      "  - { name: o_proj, x: t/o_in.npy, w: t/o_w_nk.npy, w_layout: nk, salient_type: none }",
    ].join("\n"));
    const out = path.join(dir, "run");
    const r = await oltron("verify", "--preset", "tiny", "--layers", path.join(dir, "list.yaml"), "--out", out, "--json");
    expect(r.exitCode, r.all).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.pass).toBe(true);
    expect(res.layers.map((l: { name: string; m: number; k: number; n: number; salientType: string }) => [l.name, l.m, l.k, l.n, l.salientType]))
      .toEqual([["q_proj", 6, 32, 8, "fp12"], ["o_proj", 6, 16, 4, "none"]]);
    expect(res.provenance.inputs.map((i: { file: string }) => path.basename(i.file))).toEqual(expect.arrayContaining(["list.yaml", "q_in.npy", "o_w_nk.npy"]));
    fs.writeFileSync(path.join(dir, "list.csv"), "name,x,w,w_layout,salient_type,threshold,ratio\nq,t/q_in.npy,t/q_w.npy,,fp8,,0.05\no,t/o_in.npy,t/o_w_nk.npy,nk,fp8,3,\n");
    const q = await oltron("quantize", "--design", path.join(out, "design"), "--out", path.join(dir, "imgs"), "--layers", path.join(dir, "list.csv"), "--json");
    expect(q.exitCode, q.all).toBe(0);
    expect(JSON.parse(q.stdout).layers.map((l: { name: string; n: number }) => [l.name, l.n])).toEqual([["q", 8], ["o", 4]]);
    // A spreadsheet's UTF-8 byte-order mark is not part of the first column's name.
    fs.writeFileSync(path.join(dir, "bom.csv"), "\ufeffname,x,w,w_layout,salient_type,threshold,ratio\nq,t/q_in.npy,t/q_w.npy,,fp8,,0.05\n");
    const bom = await oltron("quantize", "--design", path.join(out, "design"), "--out", path.join(dir, "imgs-bom"), "--layers", path.join(dir, "bom.csv"), "--json");
    expect(bom.exitCode, bom.all).toBe(0);
    expect(JSON.parse(bom.stdout).layers.map((l: { name: string }) => l.name)).toEqual(["q"]);
    // A name that cannot be a file name is changed, and the change is said, not silent.
    fs.writeFileSync(path.join(dir, "evil.csv"), "name,x,w,salient_type\n../evil,t/q_in.npy,t/q_w.npy,fp8\n");
    const evil = await oltron("quantize", "--design", path.join(out, "design"), "--out", path.join(dir, "imgs-evil"), "--layers", path.join(dir, "evil.csv"), "--json");
    expect(evil.exitCode, evil.all).toBe(0);
    expect(JSON.parse(evil.stdout).layers.map((l: { name: string }) => l.name)).toEqual(["evil"]);
    expect(evil.stderr).toMatch(/layers: layer '\.\.\/evil' is named 'evil' \(layer names become file names/);
    const bad: [string, string, RegExp][] = [
      ["twice.csv", "name,x,w,name\na,t/q_in.npy,t/q_w.npy,b\n", /the header names column 'name' twice; give each column once/],
      ["dup.yaml", "layers:\n  - { name: a, x: t/q_in.npy, w: t/q_w.npy }\n  - { name: a, x: t/q_in.npy, w: t/q_w.npy }", /layer 2: the name 'a' is used twice/],
      ["field.yaml", "layers:\n  - { name: a, x: t/q_in.npy, w: t/q_w.npy, salient: fp8 }", /layer 1: unknown field\(s\) salient; the fields are name, x, w/],
      ["ratio.csv", "name,x,w,ratio\na,t/q_in.npy,t/q_w.npy,1.5\n", /row 2: ratio = "1.5": must be in 0\.\.1/],
      ["missing.csv", "name,x,w\na,t/nope.npy,t/q_w.npy\n", /layer a: .*nope\.npy does not exist/],
      ["list.txt", "whatever", /the format follows the extension: \.yaml, \.yml, \.json or \.csv/],
    ];
    for (const [file, text, msg] of bad) {
      fs.writeFileSync(path.join(dir, file), text);
      const e = await oltron("verify", "--preset", "tiny", "--layers", path.join(dir, file), "--out", path.join(dir, "never"));
      expect(e.exitCode, `${file}: ${e.all}`).toBe(1);
      expect(e.stderr, file).toMatch(msg);
      expect(fs.existsSync(path.join(dir, "never"))).toBe(false);
    }
    const mixed = await oltron("verify", "--preset", "tiny", "--layers", path.join(dir, "list.yaml"), "--ratio", "0.1");
    expect(mixed.stderr).toMatch(/with --layers, give each layer's salient type/);
  });

  it("file-system trouble is a message naming the path and what to do, never an internal error", async () => {
    const dir = tmpDir("fserr");
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "x");
    const notDir = await oltron("generate", "--preset", "tiny", "--out", path.join(file, "sub"));
    expect(notDir.exitCode).toBe(1);
    expect(notDir.stderr).toMatch(/a-file: is a file where a folder is needed \(a part of the output path\): choose another path/);
    const tmp = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", path.join(dir, "run")],
      { reject: false, all: true, env: { ...process.env, TMPDIR: path.join(dir, "no-such-tmp") } });
    expect(tmp.exitCode).toBe(1);
    expect(tmp.stderr).toMatch(/the folder for temporary files, .*no-such-tmp \(TMPDIR\), is missing or not writable: set TMPDIR to a writable folder/);
    expect(fs.existsSync(path.join(dir, "run"))).toBe(false);
    const link = path.join(dir, "link");
    fs.symlinkSync(path.join(dir, "nowhere"), link);
    const dangling = await oltron("generate", "--preset", "tiny", "--out", link);
    expect(dangling.exitCode).toBe(1);
    expect(dangling.stderr).toMatch(/link is a symbolic link \(to .*nowhere\); give a real folder as output/);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    // Refused before the benchmark runs, not after: no benchmark progress was printed.
    const benchOut = await oltron("bench", "accuracy", "--out", file);
    expect(benchOut.exitCode).toBe(1);
    expect(benchOut.stderr).toMatch(/--out .*a-file: .*a-file is a file, not a folder/);
    expect(benchOut.stderr).not.toMatch(/accuracy: .*weights/);
    for (const r of [notDir, tmp, dangling, benchOut]) expect(r.all).not.toMatch(/internal error|\n\s+at /);
    const { fileSystemError } = await import("../src/core/errors.js");
    for (const [code, msg] of [["EACCES", /permission denied: choose a folder you can write to/], ["ENOSPC", /no space left on the device/], ["EROFS", /the file system is read-only/]] as const) {
      const e = Object.assign(new Error("x"), { code, path: "/some/where", syscall: "open" });
      expect(fileSystemError(e)?.message).toMatch(new RegExp(`^/some/where: .*\\(${code} in open\\)$`));
      expect(fileSystemError(e)?.message).toMatch(msg);
    }
    expect(fileSystemError(new Error("plain"))).toBeUndefined();
    // Inside oltron's cache, the message names the cache and OLTRON_CACHE, not TMPDIR or the user's folders.
    const { cacheRoot } = await import("../src/core/cache.js");
    for (const code of ["EROFS", "EACCES", "ENOSPC"]) {
      const e = Object.assign(new Error("x"), { code, path: path.join(cacheRoot(), "sim", "verilator-0123456789abcdef.tmp-abc"), syscall: "mkdir" });
      expect(fileSystemError(e)?.message).toMatch(new RegExp(`oltron's cache folder .* cannot be written \\(${code} in mkdir\\): set OLTRON_CACHE to a writable folder`));
      expect(fileSystemError(e)?.message).not.toMatch(/TMPDIR/);
    }
  });

  it("co-simulates the design folder's own RTL with --allow-edited-rtl: an engineering change is checked bit for bit, and recorded", async () => {
    const dir = tmpDir("edited-rtl");
    const design = path.join(dir, "design");
    expect((await oltron("generate", "--preset", "tiny", "--out", design)).exitCode).toBe(0);
    const images = path.join(dir, "images");
    expect((await oltron("quantize", "--design", design, "--layer", "qkv:8x16x8", "--out", images)).exitCode).toBe(0);
    const pe = fs.readdirSync(design).find((f) => f.endsWith("_pe_eff.v"))!;
    const original = fs.readFileSync(path.join(design, pe), "utf8");
    expect(original).toContain("psum_out <= psum_in + ");
    // A harmless edit and an added file: refused without the flag, a bit-exact pass with it.
    fs.writeFileSync(path.join(design, pe), original.replace("psum_out <= psum_in + ", "psum_out <= psum_in + /* reviewed */ "));
    fs.writeFileSync(path.join(design, "my_checks.v"), "module my_checks (input wire clk);\nendmodule\n");
    const refused = await oltron("sim", "--design", design, "--images", images);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`${pe}: differs from what generator .* regenerate it, or co-simulate your edit with --allow-edited-rtl`));
    const ok = await oltron("sim", "--design", design, "--images", images, "--allow-edited-rtl", "--json");
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(new RegExp(`warning: co-simulating the design folder's own RTL: ${pe} \\(edited\\), my_checks\\.v \\(added\\)`));
    const r = JSON.parse(ok.stdout);
    expect(r.pass).toBe(true);
    expect(r.provenance.editedRtl).toEqual({ edited: [pe], added: ["my_checks.v"] });
    // A real change of the arithmetic: the comparison catches it.
    fs.writeFileSync(path.join(design, pe), original.replace("psum_out <= psum_in + ", "psum_out <= psum_in - "));
    const junit = path.join(dir, "report.xml");
    const bad = await oltron("sim", "--design", design, "--images", images, "--allow-edited-rtl", "--junit", junit);
    expect(bad.exitCode, bad.all).toBe(3);
    expect(bad.stdout).toMatch(/FAIL \(\d+ mismatching outputs\): r4c4f2_\w+ \(the design folder's own RTL: 1 edited, 1 added file\(s\)\)/);
    // The JUnit report a CI system reads: the layer is a failed test case, with its first mismatches.
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(fs.readFileSync(junit, "utf8"));
    const suite = xml.testsuites.testsuite;
    expect([xml.testsuites.tests, xml.testsuites.failures, xml.testsuites.errors]).toEqual(["1", "1", "0"]);
    expect(suite.name).toMatch(/^oltron sim r4c4f2_\w+ on verilator$/);
    expect(suite.testcase.name).toBe("L0_qkv");
    expect(suite.testcase.failure.type).toBe("mismatch");
    expect(suite.testcase.failure.message).toMatch(/^\d+ output\(s\) differ from the golden model$/);
    expect(suite.testcase.failure["#text"]).toMatch(/token \d+ channel \d+: expected -?\d+, got -?\d+/);
  });

  it("sim --expected compares with the user's own expected outputs, recorded with their checksums", async () => {
    const dir = tmpDir("expected");
    const design = path.join(dir, "design");
    expect((await oltron("generate", "--preset", "tiny", "--out", design)).exitCode).toBe(0);
    const images = path.join(dir, "images");
    expect((await oltron("quantize", "--design", design, "--layer", "qkv:8x16x8", "--out", images, "--golden")).exitCode).toBe(0);
    const mine = path.join(dir, "mine");
    fs.mkdirSync(mine);
    const golden = fs.readFileSync(path.join(images, "L0_qkv.expected.hex"), "utf8");
    fs.writeFileSync(path.join(mine, "L0_qkv.expected.hex"), golden);
    const ok = await oltron("sim", "--design", design, "--images", images, "--expected", mine, "--json");
    expect(ok.exitCode, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout);
    expect(r.pass).toBe(true);
    expect(r.provenance.expectedFrom).toBe(path.resolve(mine));
    expect(r.provenance.inputs.map((i: { file: string }) => i.file)).toContain(path.join(path.resolve(mine), "L0_qkv.expected.hex"));
    // One word of the user's reference changed: the run is compared with it, not with the golden model.
    const lines = golden.trim().split("\n");
    lines[0] = lines[0].replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    fs.writeFileSync(path.join(mine, "L0_qkv.expected.hex"), lines.join("\n") + "\n");
    const bad = await oltron("sim", "--design", design, "--images", images, "--expected", mine);
    expect(bad.exitCode, bad.all).toBe(3);
    expect(bad.stdout).toMatch(/mismatch L0_qkv\[token 0\]/);
    // The golden model's own file in the image folder is untouched by the comparison.
    expect(fs.readFileSync(path.join(images, "L0_qkv.expected.hex"), "utf8")).toBe(golden);
    fs.writeFileSync(path.join(mine, "L0_qkv.expected.hex"), lines.slice(1).join("\n") + "\n");
    const short = await oltron("sim", "--design", design, "--images", images, "--expected", mine);
    expect(short.exitCode).toBe(1);
    expect(short.stderr).toMatch(/L0_qkv\.expected\.hex: \d+ words, but layer L0_qkv's outputs take \d+ words of 64 bits/);
    fs.rmSync(path.join(mine, "L0_qkv.expected.hex"));
    expect((await oltron("sim", "--design", design, "--images", images, "--expected", mine)).stderr).toMatch(/no L0_qkv\.expected\.hex for layer L0_qkv/);
    expect((await oltron("sim", "--design", design, "--images", images, "--expected", images)).stderr).toMatch(/is the image folder/);
  });

  it("verify --junit writes a passing JUnit report, one test case per layer", async () => {
    const dir = tmpDir("junit");
    const junit = path.join(dir, "verify.xml");
    const r = await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--layer", "down:4x16x4:fp12", "--out", path.join(dir, "run"), "--junit", junit);
    expect(r.exitCode, r.all).toBe(0);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(fs.readFileSync(junit, "utf8"));
    expect([xml.testsuites.tests, xml.testsuites.failures, xml.testsuites.errors]).toEqual(["2", "0", "0"]);
    expect(xml.testsuites.testsuite.testcase.map((c: { name: string }) => c.name)).toEqual(["L0_qkv", "L1_down"]);
    expect(xml.testsuites.testsuite.testcase.every((c: Record<string, unknown>) => c.failure === undefined && c.error === undefined)).toBe(true);
    const props = Object.fromEntries(xml.testsuites.testsuite.properties.property.map((p: { name: string; value: string }) => [p.name, p.value]));
    expect(props.status).toBe("done");
    expect(props.mismatches).toBe("0");
    // Refused before the run: a folder as the report file.
    const bad = await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", path.join(dir, "run2"), "--junit", dir);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--junit .*: exists and is not a file/);
    expect(fs.existsSync(path.join(dir, "run2"))).toBe(false);
  });

  it("replaces its own folders, never a file it did not write; one writer per folder at a time", async () => {
    const dir = tmpDir("own");
    const run = path.join(dir, "run");
    expect((await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run)).exitCode).toBe(0);
    // Files oltron adds later (a second simulation's outputs) are recorded and replaceable.
    expect((await oltron("sim", "--design", path.join(run, "design"), "--images", path.join(run, "images"))).exitCode).toBe(0);
    expect((await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run)).exitCode).toBe(0);
    // A file the user put there stops any replacement.
    fs.writeFileSync(path.join(run, "images", "notes.txt"), "mine\n");
    const refused = await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/holds 1 file\(s\) oltron did not write or that changed since \(images\/notes\.txt\); refusing to replace it/);
    expect(fs.readFileSync(path.join(run, "images", "notes.txt"), "utf8")).toBe("mine\n");
    fs.rmSync(path.join(run, "images", "notes.txt"));
    // A live writer's lock refuses a second run, naming it; a dead writer's lock is taken over.
    const lock = path.join(dir, ".run.lock");
    fs.mkdirSync(lock);
    fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
    const busy = await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run);
    expect(busy.exitCode).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`is being written by another oltron process \\(pid ${process.pid}; lock .*\\.run\\.lock\\)`));
    const dead = (await execa("node", ["-e", "process.stdout.write(String(process.pid))"])).stdout;
    fs.writeFileSync(path.join(lock, "pid"), dead);
    expect((await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", run)).exitCode).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it("--quiet keeps results and warnings only; --verbose adds where the simulator build lives", async () => {
    const out = path.join(tmpDir("quiet"), "run");
    const q = await oltron("--quiet", "verify", "--preset", "tiny", "--layer", "qkv:4x16x4:fp12:1000", "--out", out);
    expect(q.exitCode, q.all).toBe(0);
    expect(q.stdout).toMatch(/PASS \(bit-exact\)/);
    expect(q.stderr).not.toMatch(/verify: generating|quantize: layer|golden/);
    expect(q.stderr).toMatch(/warning: layer L0_qkv: fp12 was requested but no channel was selected/);
    const v = await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--out", out, "--verbose");
    expect(v.stderr).toMatch(/verify: simulator build .*sim\/verilator-[0-9a-f]{16} \(from the cache|built: /);
    const both = await oltron("verify", "--quiet", "--verbose");
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toMatch(/--quiet and --verbose contradict each other/);
  });

  it("golden refuses a tampered image", async () => {
    const images = path.join(tmpDir("tamper"), "i");
    expect((await oltron("quantize", "--design", designDir, "--out", images, "--layer", "qkv:4x16x4")).exitCode).toBe(0);
    const f = path.join(images, "L0_qkv.wgt.hex");
    fs.appendFileSync(f, "0000000000000000\n");
    const r = await oltron("golden", "--images", images);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/L0_qkv\.wgt\.hex: sha256 .* does not match the manifest/);
  });

  it("verify runs the whole flow with several layers and exits 0 on a bit-exact run", async () => {
    const out = path.join(tmpDir("verify"), "v");
    const r = await oltron("verify", "--preset", "tiny", "--out", out, "--layer", "qkv:9x24x10:fp8", "down:5x33x6:fp12:r0.1", "o_proj:3x8x4:none");
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/^PASS \(bit-exact\): r4c4f2_\w+ on verilator, 3 layer\(s\)/m);
    expect(JSON.parse(fs.readFileSync(path.join(out, "images", "sim-result.json"), "utf8")).mismatches).toBe(0);
  });

  it("verify --block co-simulates every linear of a reorder-free block in one run", async () => {
    const out = path.join(tmpDir("block"), "v");
    const r = await oltron("verify", "--preset", "small8", "--out", out, "--block", path.join(ROOT, "examples", "blocks", "tiny-opt.json"), "--tokens", "5");
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(/block: tiny-opt: \d+ linear\(s\), \d+ explicit reorder\(s\) left after folding the quantizer.s TOBE permutations/);
    expect(r.stdout).toMatch(/^PASS \(bit-exact\): r8c8f2_\w+ on verilator, \d+ layer\(s\)/m);
    const man = JSON.parse(fs.readFileSync(path.join(out, "images", "manifest.json"), "utf8"));
    expect(man.layers.map((l: { name: string }) => l.name)).toContain("b0.fc2");
    // salientSet follows the documented balancing order for folded layouts too.
    for (const l of man.layers as { tiles: number; tileChannels: number; s: number; permutation: number[]; salientSet: number[] }[]) {
      expect(l.salientSet.length).toBeLessThanOrEqual(l.tiles * l.s);
      l.salientSet.forEach((c, i) => expect(l.permutation[(i % l.tiles) * l.tileChannels + Math.floor(i / l.tiles)]).toBe(c));
    }
    const bad = await oltron("verify", "--preset", "small8", "--out", out, "--block", "nosuch");
    expect(bad.stderr).toMatch(/block 'nosuch' is neither a file nor an example \(llama7b, opt6\.7b, .*tiny-llama/);
    const both = await oltron("verify", "--preset", "small8", "--out", out, "--block", "llama7b", "--layer", "qkv:4x4x4");
    expect(both.stderr).toMatch(/give one source of layers/);
  });

  it("verify --budget chooses an adaptive plan per layer and co-simulates it bit-exact", async () => {
    const out = path.join(tmpDir("budget"), "v");
    const r = await oltron("verify", "--preset", "small8", "--out", out, "--budget", "4.5", "--layer", "o_proj:16x256x16", "down:16x256x16");
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/Adaptive plan on r8c8f2_\w+, budget 4.5 bits: average (\d\.\d+) information bits/);
    const avg = Number(r.stdout.match(/average (\d\.\d+) information bits/)![1]);
    expect(avg).toBeLessThanOrEqual(4.5);
    const man = JSON.parse(fs.readFileSync(path.join(out, "images", "manifest.json"), "utf8"));
    // The manifest records the chosen plans, and at this budget at least one layer uses salient channels.
    expect(man.layers.some((l: { salientType: string }) => l.salientType !== "none")).toBe(true);
    expect(r.stdout).toMatch(/^PASS \(bit-exact\)/m);
    const bad = await oltron("verify", "--preset", "small8", "--out", out, "--budget", "3");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/invalid budget 3: must be a number in \(4, 16\]/);
  });
});

describe("oltron sim/verify: the testbench memory", () => {
  it("verify runs bit-exact under a slow, stalling, reordering memory and records the model in the result", async () => {
    const out = path.join(tmpDir("mem"), "run");
    const r = await oltron("verify", "--preset", "tiny", "--layer", "qkv:9x20x6:fp8", "--out", out,
      "--mem-latency", "3..90", "--mem-write-latency", "5", "--mem-backpressure", "0.4", "--mem-reorder", "--mem-bandwidth", "0.5", "--mem-seed", "77", "--json");
    expect(r.exitCode, r.all).toBe(0);
    const res = JSON.parse(r.stdout.slice(r.stdout.indexOf("{\n")));
    expect(res.pass).toBe(true);
    expect(res.memory).toEqual({
      seed: 77, readLatency: [3, 90], writeLatency: [5, 5], backpressure: { ar: 0.4, r: 0.4, aw: 0.4, w: 0.4, b: 0.4 }, reorder: true, bandwidth: 0.5,
    });
    expect(res.axi.readBursts).toBeGreaterThan(0);
    // The same images under the ideal memory: same traffic, fewer cycles.
    const ideal = await oltron("sim", "--design", path.join(out, "design"), "--images", path.join(out, "images"), "--json");
    expect(ideal.exitCode, ideal.all).toBe(0);
    const idealRes = JSON.parse(ideal.stdout.slice(ideal.stdout.indexOf("{\n")));
    expect(idealRes.words).toEqual(res.words);
    expect(idealRes.cycles.total).toBeLessThan(res.cycles.total);
  });

  it("a watchdog too short ends in a reported hang (the host aborts the run), exit 3: ran, but failed", async () => {
    const out = path.join(tmpDir("mem"), "run");
    const r = await oltron("verify", "--preset", "tiny", "--layer", "qkv:9x20x6:fp8", "--out", out, "--max-cycles", "50");
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain("FAIL (hang: still busy after 50 cycles)");
  });

  it("verify --json prints exactly one JSON document, with provenance: versions, command line, time, inputs and their sha256", async () => {
    const dir = tmpDir("prov");
    const x = path.join(dir, "x.npy");
    const w = path.join(dir, "w.npy");
    const rng = new Rng(77);
    writeNpy(x, { shape: [8, 16], data: Float32Array.from({ length: 128 }, () => rng.normal()) });
    writeNpy(w, { shape: [16, 4], data: Float32Array.from({ length: 64 }, () => rng.normal()) });
    const out = path.join(dir, "run");
    const r = await oltron("verify", "--preset", "tiny", "--x", x, "--w", w, "--out", out, "--json");
    expect(r.exitCode, r.all).toBe(0);
    const doc = JSON.parse(r.stdout); // the whole of stdout, or this throws
    expect(doc.pass).toBe(true);
    const p = doc.provenance;
    expect(p.oltron).toMatch(/^\d+\.\d+\.\d+/);
    expect(p.simulator.name).toBe("verilator");
    expect(p.simulator.version).toMatch(/^Verilator \d/);
    expect(p.command.slice(0, 2)).toEqual(["oltron", "verify"]);
    expect(Date.parse(p.startedAt)).toBeLessThanOrEqual(Date.parse(p.finishedAt));
    const files = Object.fromEntries(p.inputs.map((i: { file: string; sha256: string }) => [i.file, i.sha256]));
    expect(files[path.resolve(x)]).toBe(sha256(fs.readFileSync(x)));
    expect(files[path.resolve(w)]).toBe(sha256(fs.readFileSync(w)));
    // The manifest is named where the run folder ended up, not where it was built.
    expect(files[path.resolve(out, "images", "manifest.json")]).toBe(sha256(fs.readFileSync(path.join(out, "images", "manifest.json"))));
    expect(JSON.parse(fs.readFileSync(path.join(out, "images", "sim-result.json"), "utf8")).provenance).toEqual(p);
    expect(r.stderr).toMatch(/verify: wrote /);
  });

  it("refuses bad memory settings, naming the flag and the legal range", async () => {
    const cases: [string[], RegExp][] = [
      [["--mem-latency", "0"], /--mem-latency must be a cycle count or a range lo\.\.hi with 1 <= lo <= hi <= 100000, got '0'/],
      [["--mem-latency", "9..3"], /--mem-latency .* got '9\.\.3'/],
      [["--mem-latency", "fast"], /--mem-latency .* got 'fast'/],
      [["--mem-backpressure", "0.99"], /--mem-backpressure must be a number in \[0, 0\.95\], got '0\.99'/],
      [["--mem-bandwidth", "0"], /--mem-bandwidth must be a number in \(0, 1\], got '0'/],
      [["--mem-seed", "-1"], /--mem-seed must be an integer/],
    ];
    for (const [flags, msg] of cases) {
      const r = await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x8x4", "--out", path.join(tmpDir("mem"), "x"), ...flags);
      // A bad value is bad input (1), whichever code checks it; the hint, not the whole help.
      expect(r.exitCode, flags.join(" ")).toBe(1);
      expect(r.stderr, flags.join(" ")).toMatch(msg);
      expect(r.stderr).not.toContain("    at ");
      expect(r.stderr.trim().split("\n").length, r.stderr).toBeLessThanOrEqual(3);
    }
  });

  it("exit codes and --json errors are a contract: bad values 1, bad usage 2, one JSON document on stdout", async () => {
    const cases: [string[], number, RegExp][] = [
      [["generate", "--rows", "abc"], 1, /--rows must be a number, got 'abc'/],
      [["generate", "--rows", "300"], 1, /rows \(--rows\) = 300: must be an integer in 2\.\.256/],
      [["sim", "--design", "d", "--images", "i", "--simulator", "vcs"], 1, /'vcs' is invalid\. Allowed choices are verilator, icarus/],
      [["verify", "--lyer", "x"], 2, /unknown option '--lyer'\n\(Did you mean --layer\?\)/],
      [["quantize", "--layer", "qkv:4x8x4"], 2, /required option '--design <dir>' not specified/],
      [["frobnicate"], 2, /unknown command 'frobnicate'/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await oltron(...args);
      expect(r.exitCode, args.join(" ")).toBe(code);
      expect(r.stderr, args.join(" ")).toMatch(msg);
      // A hint names the command's help instead of printing all of it.
      expect(r.stderr.trim().split("\n").length, r.stderr).toBeLessThanOrEqual(3);
      const j = await oltron(...args, "--json");
      expect(j.exitCode, `${args.join(" ")} --json`).toBe(code);
      const doc = JSON.parse(j.stdout);
      expect(doc.error.exitCode).toBe(code);
      expect(doc.error.kind).toBe(code === 1 ? "bad-input" : "usage");
      expect(doc.error.message).toMatch(msg.source.includes("\\n") ? /unknown option/ : msg);
    }
  });
});

describe("oltron report registers", () => {
  it("prints the register map and the error codes, and JSON with --json", async () => {
    const r = await oltron("report", "registers", "--preset", "tiny");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("| `0x18` | `STATUS` | ro |");
    expect(r.stdout).toContain("| 32 | `ABORTED` |");
    const j = JSON.parse((await oltron("report", "registers", "--json")).stdout);
    expect(j.registers.find((x: { name: string }) => x.name === "DESC_BASE").offset).toBe(0x1c);
  });
});

describe("clear errors for what a user can cause", () => {
  it("a folder given as --config or --result, and a missing simulator, are named, exit 1, no stack trace", async () => {
    const dir = tmpDir("bad");
    const cfg = await oltron("generate", "--config", dir, "--out", path.join(dir, "x"));
    expect(cfg.exitCode).toBe(1);
    expect(cfg.stderr).toContain(`${dir}: is not a file`);
    const run = path.join(tmpDir("bad"), "run");
    expect((await oltron("verify", "--preset", "tiny", "--layer", "qkv:4x8x4", "--out", run)).exitCode).toBe(0);
    const res = await oltron("sim", "--design", path.join(run, "design"), "--images", path.join(run, "images"), "--result", dir);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain(`${dir}: exists and is not a file`);
    // PATH with node alone: no verilator.
    const bin = tmpDir("path");
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    const noSim = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "sim", "--design", path.join(run, "design"), "--images", path.join(run, "images")],
      { reject: false, cwd: ROOT, all: true, env: { PATH: bin }, extendEnv: false });
    expect(noSim.exitCode).toBe(1);
    expect(noSim.stderr).toContain("verilator not found on PATH: run 'make deps'");
    // verify checks for the simulator before it writes anything.
    const fresh = path.join(tmpDir("nosim"), "run");
    const noSimVerify = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "tiny", "--layer", "qkv:4x8x4", "--out", fresh],
      { reject: false, cwd: ROOT, all: true, env: { PATH: bin }, extendEnv: false });
    expect(noSimVerify.exitCode).toBe(1);
    expect(noSimVerify.stderr).toContain("verilator not found on PATH");
    expect(fs.existsSync(fresh)).toBe(false);
    for (const r of [cfg, res, noSim]) expect(r.stderr).not.toContain("    at ");
  });

  it("a tensor file named .hidden.npy makes a layer named 'hidden' that golden and sim accept", async () => {
    const dir = tmpDir("hidden");
    const x = path.join(dir, ".hidden.npy");
    const w = path.join(dir, "w.npy");
    writeNpy(x, { shape: [4, 8], data: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)) });
    writeNpy(w, { shape: [8, 4], data: Float32Array.from({ length: 32 }, (_, i) => Math.cos(i)) });
    const out = path.join(dir, "run");
    const r = await oltron("verify", "--preset", "tiny", "--x", x, "--w", w, "--out", out);
    expect(r.exitCode, r.all).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, "images", "manifest.json"), "utf8")).layers[0].name).toBe("hidden");
  });
});

describe("progress on a terminal", () => {
  // A pseudo-terminal (util-linux 'script'), so stderr is a TTY as in an interactive shell.
  const inTerminal = (args: string[]) =>
    execa("script", ["-qec", ["node", path.join(ROOT, "bin", "oltron.js"), ...args].map((a) => `'${a}'`).join(" "), "/dev/null"], { reject: false, cwd: ROOT, all: true });

  it("draws live bars for the simulator build (C++ files compiled) and the run (cycles), and none with --quiet", async () => {
    const out = path.join(tmpDir("tty"), "run");
    const r = await inTerminal(["verify", "--preset", "tiny", "--layer", "qkv:300x64x8", "--rebuild", "--out", out]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/sim: building verilator model \[[█░]+\] \d+% \| \d+\/\d+ C\+\+ files compiled/);
    // The cycle estimate is every token row of every tile plus a margin: 300 x 16 tiles x 2 N-tiles.
    expect(r.all).toMatch(/sim: verilator \[[█░]+\] \d+% \| \d+\/\d+ cycles/);
    const total = Number(/\| \d+\/(\d+) cycles/.exec(r.all)![1]);
    expect(total).toBe(Math.ceil(1.05 * 300 * 16 * 2) + 1000);
    expect(r.all).toMatch(/PASS \(bit-exact\)/);
    const q = await inTerminal(["--quiet", "verify", "--preset", "tiny", "--layer", "qkv:300x64x8", "--out", path.join(tmpDir("tty"), "quiet")]);
    expect(q.exitCode, q.all).toBe(0);
    expect(q.all).not.toMatch(/\[[█░]+\]/);
    expect(q.all).toMatch(/PASS \(bit-exact\)/);
  });
});

describe("oltron quantize --export", () => {
  it("an export that cannot be written leaves --out as it was: the export is written before the images are published", async () => {
    const dir = tmpDir("export-first");
    const design = path.join(dir, "design");
    expect((await oltron("generate", "--preset", "tiny", "--out", design)).exitCode).toBe(0);
    const out = path.join(dir, "img");
    expect((await oltron("quantize", "--design", design, "--layer", "qkv:4x16x4", "--out", out)).exitCode).toBe(0);
    const before = fs.readFileSync(path.join(out, "manifest.json"), "utf8");
    const mine = path.join(dir, "mine");
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, "thesis.tex"), "precious");
    const r = await oltron("quantize", "--design", design, "--layer", "down:8x16x4", "--out", out, "--export", mine);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stderr).toMatch(/mine exists and is not provably oltron's/);
    // Neither folder changed, and nothing is left beside them.
    expect(fs.readFileSync(path.join(out, "manifest.json"), "utf8")).toBe(before);
    expect(fs.readdirSync(mine)).toEqual(["thesis.tex"]);
    expect(fs.readdirSync(dir).sort()).toEqual(["design", "img", "mine"]);
  });

  it("writes fake-quantized activations and dequantized weights whose product is the golden model's dequantized output", async () => {
    const dir = tmpDir("export");
    const design = path.join(dir, "design");
    const g = await oltron("generate", "--preset", "small8", "--out", design);
    expect(g.exitCode, g.all).toBe(0);
    const images = path.join(dir, "images");
    const out = path.join(dir, "export");
    const r = await oltron("quantize", "--design", design, "--out", images, "--golden", "--export", out, "--act-scaling", "token", "--weights", "gptq",
      "--layer", "down:24x40x12:fp12", "qkv:16x32x8:fp8:r0.1", "o_proj:8x16x8:none");
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toContain(`exported 8 files to ${out}`);
    const info = JSON.parse(fs.readFileSync(path.join(out, "export.json"), "utf8"));
    expect(info.layers.map((l: { actScaling: string; weights: string }) => [l.actScaling, l.weights])).toEqual([["token", "gptq"], ["token", "gptq"], ["token", "gptq"]]);
    const st = readTensorFile(path.join(out, "export.safetensors"), `${info.layers[0].name}.x_fq`);
    for (const l of info.layers as { name: string; m: number; k: number; n: number }[]) {
      const x = readTensorFile(path.join(out, `${l.name}.x_fq.npy`));
      const w = readTensorFile(path.join(out, `${l.name}.w_dq.npy`));
      const xf = readTensorFile(path.join(images, `${l.name}.x.npy`));
      const deq = readTensorFile(path.join(images, `${l.name}.deq.npy`));
      expect(x.shape).toEqual([l.m, l.k]);
      expect(w.shape).toEqual([l.k, l.n]);
      // Fake-quantized, in the original channel order: close to the float activations.
      let num = 0;
      let den = 0;
      for (let i = 0; i < x.data.length; i++) {
        num += (x.data[i] - xf.data[i]) ** 2;
        den += xf.data[i] ** 2;
      }
      expect(num / den).toBeLessThan(0.05);
      // X_fq x W_dq equals the golden model's dequantized output (float32 rounding apart).
      let worst = 0;
      let peak = 0;
      for (let t = 0; t < l.m; t++) {
        for (let j = 0; j < l.n; j++) {
          let acc = 0;
          for (let c = 0; c < l.k; c++) acc += x.data[t * l.k + c] * w.data[c * l.n + j];
          worst = Math.max(worst, Math.abs(acc - deq.data[t * l.n + j]));
          peak = Math.max(peak, Math.abs(deq.data[t * l.n + j]));
        }
      }
      expect(worst, l.name).toBeLessThanOrEqual(2e-6 * peak * Math.sqrt(l.k));
    }
    expect(Array.from(st.data)).toEqual(Array.from(readTensorFile(path.join(out, `${info.layers[0].name}.x_fq.npy`)).data));
    // The export folder must stay apart from the images it reads.
    const bad = await oltron("quantize", "--design", design, "--out", images, "--export", path.join(images, "inside"), "--layer", "qkv:4x8x8");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--export .* is inside --out/);
  });
});

describe("quantization options on the command line", () => {
  it("--rotate --act-scaling token --act-clip 0.9 --weights gptq runs the rotation baseline bit-exact on an int4-only design", async () => {
    const out = path.join(tmpDir("rotate"), "run");
    const r = await oltron("verify", "--flex-lines", "0", "--salient-types", "none", "--layer", "qkv:24x40x8:none", "--rotate", "--act-scaling", "token",
      "--act-clip", "0.9", "--weights", "gptq", "--out", out);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/PASS \(bit-exact\)/);
    // K = 40 is not a power of two: said, and zero-padded to 64.
    expect(r.stderr).toContain("K = 40 is not a power of two; zero-padded to 64 channels");
    const man = JSON.parse(fs.readFileSync(path.join(out, "images", "manifest.json"), "utf8"));
    expect(man.layers[0].k).toBe(64);
    expect(man.layers[0].plan).toMatchObject({ salientType: "none", scaling: "token", clip: 0.9, weights: "gptq" });
    expect(man.layers[0].actScales).toHaveLength(24);
    // The rotation leaves its trace: kind, seed, size and the original K, in the plan.
    expect(man.layers[0].plan.rotation).toEqual({ kind: "randomized-hadamard", seed: 1, size: 64, originalK: 40 }); // --seed defaults to 1
    // An export of rotated layers says they are in the rotated basis, not the original channels.
    const ex = path.join(tmpDir("rotate-export"), "ex");
    const q = await oltron("quantize", "--design", path.join(out, "design"), "--layer", "qkv:8x40x8:none", "--rotate", "--seed", "5", "--out", path.join(path.dirname(ex), "img"), "--export", ex);
    expect(q.exitCode, q.all).toBe(0);
    const info = JSON.parse(fs.readFileSync(path.join(ex, "export.json"), "utf8")).layers[0];
    expect(info.rotation).toEqual({ kind: "randomized-hadamard", seed: 5, size: 64, originalK: 40 });
    expect(info.x_fq.meaning).toMatch(/rotated activations X Q \(randomized Hadamard, seed 5, K zero-padded from 40 to 64\): the rotated basis, not the original channels/);
    expect(info.w_dq.meaning).toMatch(/rotated weights Q\^T W/);
  });

  it("refuses contradictory quantization options with specific messages", async () => {
    const a = await oltron("verify", "--preset", "tiny", "--act-clip", "0.9", "--layer", "qkv:4x8x8");
    expect(a.exitCode).toBe(1);
    expect(a.stderr).toMatch(/--act-clip applies to per-token scales: give --act-scaling token too/);
    const b = await oltron("verify", "--preset", "tiny", "--rotate", "--block", "tiny-llama");
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toMatch(/--rotate does not apply to --block/);
    const c = await oltron("verify", "--preset", "tiny", "--weights", "awq", "--layer", "qkv:4x8x8");
    expect(c.exitCode).toBe(1);
    expect(c.stderr).toMatch(/--weights.*awq.*rtn, gptq/s);
    const d = await oltron("verify", "--preset", "tiny", "--act-scaling", "token", "--act-clip", "1.5", "--layer", "qkv:4x8x8");
    expect(d.exitCode).toBe(1);
    expect(d.stderr).toMatch(/per-token clip 1\.5 must be in \(0, 1\]/);
  });
});

describe("the PyTorch-side helper (examples/pytorch/oltron_fakequant.py)", () => {
  it("fake-quantizes the float activations exactly as the export, for every salient type and both scalings", async () => {
    const dir = tmpDir("fq");
    const design = path.join(dir, "design");
    expect((await oltron("generate", "--preset", "small8", "--out", design)).exitCode).toBe(0);
    for (const scaling of ["tensor", "token"]) {
      const images = path.join(dir, `images-${scaling}`);
      const out = path.join(dir, `export-${scaling}`);
      const r = await oltron("quantize", "--design", design, "--out", images, "--export", out, "--act-scaling", scaling,
        "--layer", "down:24x40x12:fp12", "qkv:16x32x8:fp8:r0.1", "o_proj:8x16x8:none");
      expect(r.exitCode, r.all).toBe(0);
      const man = JSON.parse(fs.readFileSync(path.join(images, "manifest.json"), "utf8"));
      for (const l of man.layers as { name: string }[]) {
        const got = path.join(dir, `${scaling}-${l.name}.fq.npy`);
        const py = await execa("python3", [path.join(ROOT, "examples", "pytorch", "oltron_fakequant.py"), path.join(images, "manifest.json"), l.name,
          path.join(images, `${l.name}.x.npy`), got], { reject: false, all: true });
        expect(py.exitCode, py.all).toBe(0);
        const want = readTensorFile(path.join(out, `${l.name}.x_fq.npy`));
        expect(Array.from(readTensorFile(got).data), `${scaling} ${l.name}`).toEqual(Array.from(want.data));
      }
    }
  });
});

describe("--json keeps stdout to one JSON document", () => {
  it("with --budget, the adaptive plan's table goes to stderr", async () => {
    const out = path.join(tmpDir("json-budget"), "run");
    const r = await oltron("verify", "--preset", "tiny", "--layer", "qkv:8x64x8", "--budget", "4.5", "--json", "--out", out);
    expect(r.exitCode, r.all).toBe(0);
    expect(JSON.parse(r.stdout).pass).toBe(true);
    expect(r.stderr).toMatch(/adaptive: searching per-layer plans/);
  });
});

describe("sim never writes over what it reads", () => {
  it("refuses a --result or --trace inside the design folder or onto an image file, and leaves both intact", async () => {
    const run = path.join(tmpDir("sim-apart"), "run");
    const v = await oltron("verify", "--preset", "tiny", "--layer", "qkv:8x16x8", "--out", run);
    expect(v.exitCode, v.all).toBe(0);
    const manifest = fs.readFileSync(path.join(run, "images", "manifest.json"), "utf8");
    const design = fs.readFileSync(path.join(run, "design", "design.json"), "utf8");
    for (const [flag, file, msg] of [
      ["--result", path.join(run, "images", "manifest.json"), /would overwrite manifest\.json of --images .*, which the simulation reads/],
      ["--result", path.join(run, "design", "design.json"), /lies inside --design .*, which the simulation reads/],
      ["--trace", path.join(run, "design", "w.vcd"), /--trace .* lies inside --design/],
    ] as [string, string, RegExp][]) {
      const r = await oltron("sim", "--design", path.join(run, "design"), "--images", path.join(run, "images"), flag, file);
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stderr).toMatch(msg);
    }
    expect(fs.readFileSync(path.join(run, "images", "manifest.json"), "utf8")).toBe(manifest);
    expect(fs.readFileSync(path.join(run, "design", "design.json"), "utf8")).toBe(design);
    expect(fs.existsSync(path.join(run, "design", "w.vcd"))).toBe(false);
  });
});

describe("image regions lie apart", () => {
  it("a manifest whose output region overlaps another region is refused before anything runs", async () => {
    const run = path.join(tmpDir("overlap"), "run");
    const v = await oltron("verify", "--preset", "tiny", "--layer", "qkv:8x16x8", "--layer", "o_proj:8x16x8", "--out", run);
    expect(v.exitCode, v.all).toBe(0);
    const file = path.join(run, "images", "manifest.json");
    const man = JSON.parse(fs.readFileSync(file, "utf8"));
    const out0 = man.layers[0].out;
    for (const [what, edit, msg] of [
      ["outputs onto the next layer's activations", (m: typeof man) => (m.layers[1].act.offset = out0.offset + 1), /layer L0_qkv outputs \(words \d+\.\.\d+\) overlap layer L1_o_proj activations/],
      ["outputs onto the descriptor table", (m: typeof man) => (m.layers[0].out.offset = m.descriptorTable.offset), /layer L0_qkv outputs .* overlap the descriptor table/],
      ["two layers' outputs on one region", (m: typeof man) => (m.layers[1].out.offset = out0.offset), /layer L0_qkv outputs .* overlap layer L1_o_proj outputs/],
    ] as [string, (m: typeof man) => void, RegExp][]) {
      const bad = JSON.parse(JSON.stringify(man));
      edit(bad);
      fs.writeFileSync(file, JSON.stringify(bad));
      const r = await oltron("sim", "--design", path.join(run, "design"), "--images", path.join(run, "images"), "--result", path.join(run, "r.json"));
      expect(r.exitCode, `${what}: ${r.all}`).toBe(1);
      expect(r.stderr, what).toMatch(msg);
      expect(r.stderr).toMatch(/every output region must lie apart from every other region/);
    }
  });
});
