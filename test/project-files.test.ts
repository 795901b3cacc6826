/**
 * The design folder's standard project files, used the way another team's flow uses them:
 * the filelists drive Verilator and Icarus from outside oltron (and the Icarus build of the
 * testbench from the filelist runs a quantized layer to the golden model's bits), the FuseSoC
 * core and IP-XACT are checked against schemas by independent validators (ajv, xmllint), the
 * SystemVerilog package compiles and holds the C header's values, and the stable-name top
 * lints with every port connected.
 */
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import YAML from "yaml";
import Ajv from "ajv";
import { XMLParser } from "fast-xml-parser";
import { tmpDir } from "./helpers/cosim.js";
import { assembleMemoryImage } from "../src/sim/driver.js";
import { loadManifest } from "../src/image/manifest.js";

const ROOT = path.resolve(__dirname, "..");
const OLTRON = path.join(ROOT, "bin", "oltron.js");

async function oltron(...args: string[]) {
  return execa("node", [OLTRON, ...args], { reject: false, cwd: ROOT, all: true });
}

interface Generated { dir: string; prefix: string; json: { top: string; project: string[]; stableTop?: string } }

async function generate(tag: string, ...flags: string[]): Promise<Generated> {
  const dir = path.join(tmpDir(tag), "design");
  const r = await oltron("generate", "--out", dir, "--json", ...flags);
  expect(r.exitCode, r.all).toBe(0);
  const json = JSON.parse(r.stdout) as Generated["json"];
  return { dir, prefix: json.top.replace(/_top$/, ""), json };
}

/** `#define OLTRON_<NAME> <value>u` lines of the C header (a separate template from the package). */
function headerDefines(g: Generated): Map<string, number> {
  const text = fs.readFileSync(path.join(g.dir, `${g.prefix}_params.h`), "utf8");
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^#define OLTRON_([A-Z0-9_]+)\s+(0x[0-9a-fA-F]+|\d+)u?\b/gm)) out.set(m[1], Number(m[2]));
  return out;
}

function listed(file: string): string[] {
  return fs.readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("//"));
}

describe("filelists", () => {
  it("drive Verilator (-F, from any folder) and Icarus (-c, from the design folder) with the testbench top", async () => {
    const g = await generate("f", "--preset", "tiny");
    const rtl = listed(path.join(g.dir, `${g.prefix}.f`));
    const tb = listed(path.join(g.dir, `${g.prefix}_tb.f`));
    const onDisk = fs.readdirSync(g.dir).filter((f) => f.endsWith(".v") && !f.endsWith("_tb.v")).sort();
    expect([...rtl].sort()).toEqual(onDisk);
    expect(rtl[rtl.length - 1]).toBe(`${g.prefix}_top.v`);
    expect(tb).toEqual([...rtl, `${g.prefix}_tb.v`]);
    const lint = await execa("verilator", ["--lint-only", "-Wall", "-F", path.join(g.dir, `${g.prefix}.f`), "--top-module", `${g.prefix}_top`], { reject: false, all: true, cwd: tmpDir("elsewhere") });
    expect(lint.exitCode, lint.all).toBe(0);
    const tbLint = await execa("verilator", ["--lint-only", "-Wall", "--timing", "-F", path.join(g.dir, `${g.prefix}_tb.f`), "--top-module", `${g.prefix}_tb`], { reject: false, all: true, cwd: tmpDir("elsewhere") });
    expect(tbLint.exitCode, tbLint.all).toBe(0);
  });

  it("build the testbench in Icarus outside oltron, and the run matches the golden model bit for bit", async () => {
    const g = await generate("run", "--preset", "tiny");
    const images = path.join(tmpDir("run-img"), "images");
    const q = await oltron("quantize", "--design", g.dir, "--layer", "qkv:6x40x8:fp8", "--layer", "down:3x24x4:fp12", "--out", images, "--golden");
    expect(q.exitCode, q.all).toBe(0);
    const man = loadManifest(images);
    const work = tmpDir("run-work");
    fs.writeFileSync(path.join(work, "mem.hex"), assembleMemoryImage(images, man));
    const vvp = path.join(work, "tb.vvp");
    const build = await execa("iverilog", ["-g2005", "-c", `${g.prefix}_tb.f`, "-s", `${g.prefix}_tb`, "-o", vvp], { cwd: g.dir, reject: false, all: true });
    expect(build.exitCode, build.all).toBe(0);
    const lo = Math.min(...man.layers.map((l) => l.out.offset));
    const hi = Math.max(...man.layers.map((l) => l.out.offset + l.out.words)) - 1;
    const run = await execa("vvp", ["-n", vvp, "+image=mem.hex", `+desc_base=${man.descriptorTable.offset}`, "+max_cycles=200000",
      "+dump=out.hex", `+dump_lo=${lo}`, `+dump_hi=${hi}`, "+result=result.txt"], { cwd: work, reject: false, all: true });
    expect(run.exitCode, run.all).toBe(0);
    expect(fs.readFileSync(path.join(work, "result.txt"), "utf8")).toMatch(/^status done$/m);
    const dumped = listed(path.join(work, "out.hex")).filter((l) => !l.startsWith("@"));
    expect(dumped.length).toBe(hi - lo + 1);
    for (const l of man.layers) {
      const expected = listed(path.join(images, `${l.name}.expected.hex`));
      expect(expected.length).toBe(l.out.words);
      expect(dumped.slice(l.out.offset - lo, l.out.offset - lo + l.out.words).map((w) => w.toLowerCase())).toEqual(expected.map((w) => w.toLowerCase()));
    }
  });
});

describe("FuseSoC core", () => {
  it("is CAPI2 that validates against the published schema and lists exactly the filelist's files", async () => {
    const g = await generate("core", "--arch", "olive", "--rows", "8", "--cols", "8");
    const text = fs.readFileSync(path.join(g.dir, `${g.prefix}.core`), "utf8");
    expect(text.split("\n")[0]).toBe("CAPI=2:");
    // FuseSoC drops the "CAPI=2:" line before parsing the YAML (fusesoc utils.yaml_fread).
    const core = YAML.parse(text.slice(text.indexOf("\n") + 1)) as Record<string, any>;
    const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "docs", "schemas", "fusesoc-capi2.schema.json"), "utf8"));
    const ajv = new Ajv({ allErrors: true, strict: false });
    const ok = ajv.validate(schema, core);
    expect(ajv.errors ?? [], JSON.stringify(ajv.errors)).toEqual([]);
    expect(ok).toBe(true);
    expect(core.name).toBe(`oltron:accelerator:${g.prefix}:0.3.1`);
    expect(core.filesets.rtl.files).toEqual(listed(path.join(g.dir, `${g.prefix}.f`)));
    for (const fs_ of Object.values(core.filesets) as { files: string[] }[]) for (const f of fs_.files) expect(fs.existsSync(path.join(g.dir, f)), f).toBe(true);
    expect(core.targets.sim.toplevel).toBe(`${g.prefix}_tb`);
    expect(core.targets.default.toplevel).toBe(`${g.prefix}_top`);
    // What the schema cannot say: targets name filesets and parameters that exist.
    for (const t of Object.values(core.targets) as { filesets: string[]; parameters?: string[] }[]) {
      for (const f of t.filesets) expect(core.filesets[f], f).toBeDefined();
      for (const p of t.parameters ?? []) expect(core.parameters[p], p).toBeDefined();
    }
    // Every plusarg the sim target names is one the testbench reads.
    const tb = fs.readFileSync(path.join(g.dir, `${g.prefix}_tb.v`), "utf8");
    for (const p of core.targets.sim.parameters as string[]) expect(tb, p).toContain(`"${p}=`);
  });

  it("a schema violation is caught by the validator (the check has teeth)", () => {
    const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "docs", "schemas", "fusesoc-capi2.schema.json"), "utf8"));
    const ajv = new Ajv({ allErrors: true, strict: false });
    expect(ajv.validate(schema, { name: "no-vlnv", filesets: {} })).toBe(false);
    expect(ajv.validate(schema, { name: "a:b:c:1", filesets: { rtl: { files: ["x.v"], file_type: "verilogSource" } }, targets: { default: { filesets: ["rtl"], toplevel: 3 } } })).toBe(false);
  });
});

describe("SystemVerilog package", () => {
  it("compiles in Icarus and Verilator -Wall and holds the C header's parameters and register offsets", async () => {
    const g = await generate("pkg", "--preset", "default");
    const pkg = fs.readFileSync(path.join(g.dir, `${g.prefix}_pkg.sv`), "utf8");
    const names = [...pkg.matchAll(/localparam\s+(?:int|logic\s*\[\d+:0\])\s+([A-Z0-9_]+)\s*=/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(50);
    const work = tmpDir("pkg-use");
    const use = path.join(work, "pkg_use.sv");
    fs.writeFileSync(use, [
      `module pkg_use;`,
      `  import ${g.prefix}_pkg::*;`,
      `  initial begin`,
      ...names.map((n) => `    $display("${n} %0d", ${n});`),
      `  end`,
      `endmodule`,
      "",
    ].join("\n"));
    const vvp = path.join(work, "p.vvp");
    const c = await execa("iverilog", ["-g2012", "-o", vvp, path.join(g.dir, `${g.prefix}_pkg.sv`), use], { reject: false, all: true });
    expect(c.exitCode, c.all).toBe(0);
    const r = await execa("vvp", ["-n", vvp], { reject: false, all: true });
    const values = new Map([...r.stdout.matchAll(/^([A-Z0-9_]+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(values.size).toBe(names.length);
    const h = headerDefines(g);
    for (const n of ["ROWS", "COLS", "FLEX_LINES", "PSUM_BITS", "MEM_WORD_BITS", "BUFFER_TOKENS", "STATS_DEPTH", "HAS_FP8", "HAS_FP12"]) {
      expect(values.get(n), n).toBe(h.get(n));
    }
    expect(values.get("DESCRIPTOR_WORDS")).toBe(h.get("DESC_WORDS"));
    expect(values.get("MAGIC")).toBe(h.get("ID_MAGIC"));
    const regs = [...h.keys()].filter((k) => k.startsWith("REG_"));
    expect(regs.length).toBeGreaterThan(20);
    for (const k of regs) expect(values.get(k), k).toBe(h.get(k));
    const lint = await execa("verilator", ["--lint-only", "-Wall", path.join(g.dir, `${g.prefix}_pkg.sv`), use, "--top-module", "pkg_use"], { reject: false, all: true });
    expect(lint.exitCode, lint.all).toBe(0);
  });
});

describe("register maps", () => {
  it("IP-XACT validates against the 1685-2014 schema subset (xmllint) and agrees with the C header and the top's ports", async () => {
    const g = await generate("ipxact", "--preset", "default");
    const file = path.join(g.dir, `${g.prefix}.xml`);
    const v = await execa("xmllint", ["--noout", "--schema", path.join(ROOT, "docs", "schemas", "ipxact-1685-2014-subset.xsd"), file], { reject: false, all: true });
    expect(v.exitCode, v.all).toBe(0);
    const doc = new XMLParser({ removeNSPrefix: true, isArray: (n) => ["register", "field", "port", "file"].includes(n) }).parse(fs.readFileSync(file, "utf8"));
    const block = doc.component.memoryMaps.memoryMap.addressBlock;
    const h = headerDefines(g);
    const regs = block.register as { name: string; addressOffset: string; field: { name: string; bitOffset: number; bitWidth: number }[] }[];
    expect(regs.map((r) => r.name).sort()).toEqual([...h.keys()].filter((k) => k.startsWith("REG_")).map((k) => k.slice(4)).sort());
    for (const r of regs) {
      expect(parseInt(r.addressOffset.replace("'h", ""), 16), r.name).toBe(h.get(`REG_${r.name}`));
      // Fields lie inside 32 bits and do not overlap.
      let used = 0n;
      for (const f of r.field) {
        expect(f.bitOffset + f.bitWidth, `${r.name}.${f.name}`).toBeLessThanOrEqual(32);
        const mask = ((1n << BigInt(f.bitWidth)) - 1n) << BigInt(f.bitOffset);
        expect(used & mask, `${r.name}.${f.name} overlaps`).toBe(0n);
        used |= mask;
      }
    }
    const status = regs.find((r) => r.name === "STATUS")!;
    expect(status.field.find((f) => f.name === "error_code")).toMatchObject({ bitOffset: 8, bitWidth: 8 });
    // The ports are the top module's, as Yosys reads them from the RTL (other modules as black boxes).
    const json = path.join(tmpDir("ports"), "top.json");
    const others = listed(path.join(g.dir, `${g.prefix}.f`)).filter((f) => f !== `${g.prefix}_top.v`);
    const y = await execa("yosys", ["-q", "-p", `read_verilog -lib ${others.join(" ")}; read_verilog ${g.prefix}_top.v; hierarchy -top ${g.prefix}_top; write_json ${json}`], { cwd: g.dir, reject: false, all: true });
    expect(y.exitCode, y.all).toBe(0);
    const yosysPorts = JSON.parse(fs.readFileSync(json, "utf8")).modules[`${g.prefix}_top`].ports as Record<string, { direction: string; bits: unknown[] }>;
    const ports = doc.component.model.ports.port as { name: string; wire: { direction: string; vectors?: { vector: { left: number; right: number } } } }[];
    expect(ports.map((p) => p.name).sort()).toEqual(Object.keys(yosysPorts).sort());
    for (const p of ports) {
      expect(p.wire.direction, p.name).toBe(yosysPorts[p.name].direction === "input" ? "in" : "out");
      expect(p.wire.vectors ? p.wire.vectors.vector.left - p.wire.vectors.vector.right + 1 : 1, p.name).toBe(yosysPorts[p.name].bits.length);
    }
  });

  it("an IP-XACT document breaking the schema is refused by xmllint (the check has teeth)", async () => {
    const g = await generate("ipxact-bad", "--preset", "tiny");
    const file = path.join(g.dir, `${g.prefix}.xml`);
    const bad = path.join(tmpDir("bad"), "bad.xml");
    // A register without its size, and fields before the offset: both break the schema's sequence.
    fs.writeFileSync(bad, fs.readFileSync(file, "utf8").replace(/<ipxact:size>32<\/ipxact:size>/, ""));
    const v = await execa("xmllint", ["--noout", "--schema", path.join(ROOT, "docs", "schemas", "ipxact-1685-2014-subset.xsd"), bad], { reject: false, all: true });
    expect(v.exitCode).not.toBe(0);
    expect(v.all).toMatch(/size/);
  });

  it("SystemRDL lists every register at the C header's offset with its fields", async () => {
    const g = await generate("rdl", "--preset", "tiny");
    const rdl = fs.readFileSync(path.join(g.dir, `${g.prefix}.rdl`), "utf8");
    const h = headerDefines(g);
    const at = new Map([...rdl.matchAll(/^ {2}\} ([A-Z0-9_]+) @ 0x([0-9a-f]+);$/gm)].map((m) => [m[1], parseInt(m[2], 16)]));
    const want = [...h.keys()].filter((k) => k.startsWith("REG_"));
    expect(at.size).toBe(want.length);
    for (const k of want) expect(at.get(k.slice(4)), k).toBe(h.get(k));
    expect(rdl).toMatch(new RegExp(`^addrmap ${g.prefix} \\{$`, "m"));
    // The idioms the SystemRDL compiler elaborates to the RTL's behaviour (checked once with
    // systemrdl-compiler -Wall, which is not packaged for Debian or npm): constants are hw = na
    // with their value as reset, IRQ_STATUS is set by hardware and cleared by writing 1, CTRL
    // pulses, status has no storage, and what software writes resets to 0.
    expect(rdl).toMatch(/field \{ sw = r; hw = na;[^}]*\} value\[31:0\] = 0x4f4c5452;/);
    expect(rdl).toMatch(/field \{ sw = rw; hw = na; hwset; onwrite = woclr;[^}]*\} done\[0:0\] = 0x0;/);
    expect(rdl).toMatch(/field \{ sw = w; hw = r; singlepulse;[^}]*\} start\[0:0\] = 0x0;/);
    expect(rdl).toMatch(/field \{ sw = r; hw = w;[^}]*\} error_code\[15:8\];/);
    expect(rdl).toMatch(/field \{ sw = rw; hw = r;[^}]*\} value\[31:0\] = 0x0;\n {2}\} DESC_BASE @ 0x1c;/);
    // Braces balance: the file parses as nested blocks.
    expect((rdl.match(/\{/g) ?? []).length).toBe((rdl.match(/\}/g) ?? []).length);
  });
});

describe("stable top-level name", () => {
  it("wraps the top under the given name: lints clean as the top, and the filelist, core and IP-XACT name it", async () => {
    const g = await generate("stable", "--preset", "tiny", "--top-name", "npu_accel");
    expect(g.json.stableTop).toBe("npu_accel");
    const wrapper = fs.readFileSync(path.join(g.dir, "npu_accel.v"), "utf8");
    expect(wrapper).toMatch(/^module npu_accel \($/m);
    expect(wrapper).toContain(`${g.prefix}_top u_accelerator (`);
    // -Wall fails on any pin left unconnected or of the wrong width, so this proves the port list.
    const lint = await execa("verilator", ["--lint-only", "-Wall", "-F", path.join(g.dir, `${g.prefix}.f`), "--top-module", "npu_accel"], { reject: false, all: true });
    expect(lint.exitCode, lint.all).toBe(0);
    expect(listed(path.join(g.dir, `${g.prefix}.f`)).at(-1)).toBe("npu_accel.v");
    const coreText = fs.readFileSync(path.join(g.dir, `${g.prefix}.core`), "utf8");
    const core = YAML.parse(coreText.slice(coreText.indexOf("\n") + 1));
    expect(core.targets.default.toplevel).toBe("npu_accel");
    expect(fs.readFileSync(path.join(g.dir, `${g.prefix}.xml`), "utf8")).toContain("<ipxact:moduleName>npu_accel</ipxact:moduleName>");
    const dj = JSON.parse(fs.readFileSync(path.join(g.dir, "design.json"), "utf8"));
    expect(dj.rtl.stableTop).toBe("npu_accel");
    expect(dj.hash).toMatch(/^[0-9a-f]{6}$/);
    expect(dj.prefix).toBe(g.prefix);
  });

  it("refuses a name that is not a Verilog identifier, a keyword, or a generated module's, and writes nothing", async () => {
    for (const [name, why] of [["9lives", /Verilog identifier/], ["npu-accel", /Verilog identifier/], ["module", /keyword/]] as const) {
      const dir = path.join(tmpDir("bad-top"), "d");
      const r = await oltron("generate", "--preset", "tiny", "--out", dir, "--top-name", name);
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stderr).toContain(`--top-name '${name}'`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(dir)).toBe(false);
    }
    const g = await generate("prefix-clash", "--preset", "tiny");
    const dir = path.join(tmpDir("clash"), "d");
    const r = await oltron("generate", "--preset", "tiny", "--out", dir, "--top-name", `${g.prefix}_x`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("generated modules");
  });
});
