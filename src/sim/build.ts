/**
 * Simulator builds and their cache. A build of the generated RTL + testbench (Verilator or
 * Icarus) is keyed by a hash of everything that goes into it (sources, flags, tool version,
 * testbench memory depth, tracing) and published into the cache folder atomically, with a
 * completion record (`entry.json`) that names its inputs and the binary's sha256. An entry
 * whose record is missing, unreadable or does not match its binary is removed and rebuilt,
 * never used; when a build happens, the log says why.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { cacheRoot } from "../core/cache.js";
import { runChild, trackTemp } from "../core/children.js";
import { progress } from "../core/console.js";
import { UserError } from "../core/errors.js";
import { sha256 } from "../core/files.js";
import { takeLock } from "../core/lock.js";
import type { GeneratedRtl } from "../hw/generate.js";

export type Simulator = "verilator" | "icarus";
export type TraceFormat = "fst" | "vcd";

/** The waveform format a file name asks for, or a message naming the legal ones. */
export function traceFormatOf(file: string): TraceFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".fst" || ext === ".vcd") return ext.slice(1) as TraceFormat;
  throw new UserError(`--trace ${file}: the waveform format follows the extension, which must be .fst or .vcd (got '${ext || "none"}')`);
}

/** Verilator's main for waveform builds (it keeps the cycle window, see the file). */
const TRACE_MAIN = "oltron_trace_main.cpp";
const TRACE_MAIN_SOURCE = fileURLToPath(new URL("../../src/sim/trace_main.cpp", import.meta.url));

export interface BuildOptions {
  simulator: Simulator;
  /** log2 of the testbench memory depth in words. */
  memAddrBits: number;
  /** A waveform build: its format. */
  trace?: TraceFormat;
  /** Verilator model threads (default 1); a large array simulates faster on several cores. */
  threads?: number;
  /** Extra flags passed to verilator / iverilog as given (part of the cache key). */
  extraFlags?: string[];
  /** The longest wait for another process building the same model (--max-seconds), in seconds. */
  maxWaitSeconds?: number;
  /** Build again even when a valid cached build exists. */
  rebuild?: boolean;
  /** Progress lines go here (default: stderr). */
  log?: (line: string) => void;
}

export interface SimBuild {
  simulator: Simulator;
  dir: string;
  key: string;
  /** Executable (Verilator) or vvp file (Icarus). */
  binary: string;
  cached: boolean;
  buildSeconds: number;
  /** Why it was built (undefined when taken from the cache). */
  reason?: string;
  /** The simulator's version line. */
  version: string;
}

/** The completion record of a cache entry. */
interface EntryRecord {
  format: "oltron-sim-build";
  key: string;
  design: string;
  simulator: Simulator;
  version: string;
  flags: string[];
  memAddrBits: number;
  trace: TraceFormat | false;
  files: Record<string, string>;
  binarySha256: string;
  buildSeconds: number;
  builtAt: string;
}

const ENTRY = "entry.json";

const toolVersions = new Map<string, string>();
async function toolVersion(sim: Simulator): Promise<string> {
  const hit = toolVersions.get(sim);
  if (hit) return hit;
  const cmd = sim === "verilator" ? ["verilator", "--version"] : ["iverilog", "-V"];
  const missing = new UserError(`${cmd[0]} not found on PATH: run 'make deps' (installs verilator and iverilog from Debian packages)`);
  let r;
  try {
    r = await execa(cmd[0], cmd.slice(1), { reject: false });
  } catch {
    throw missing;
  }
  // With reject: false a missing program is a failed result (ENOENT), not a throw.
  if (r.failed && r.exitCode === undefined) throw missing;
  const v = (r.stdout || r.stderr).split("\n")[0];
  toolVersions.set(sim, v);
  return v;
}

/** Refuses early, with the install hint, when the simulator is not on PATH; returns its version line. */
export async function checkSimulator(sim: Simulator = "verilator"): Promise<string> {
  return toolVersion(sim);
}

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The Verilator and C++ optimisation flags of every simulation build (the bench builds its
 * bare array with the same ones). The C++ is compiled at -O1: measured on this project's
 * designs it builds about a third faster than Verilator's default -Os and also runs faster.
 */
export function verilatorBuildFlags(): string[] {
  const jobs = String(Math.max(1, os.cpus().length));
  return [
    "--binary", "--timing", "-j", jobs, "--build-jobs", jobs, "-O3", "--x-assign", "fast", "--x-initial", "fast",
    "-MAKEFLAGS", "OPT_FAST=-O1 OPT_GLOBAL=-O1", "-Wno-fatal", "-Wno-lint", "-Wno-style",
  ];
}

function buildFlags(rtl: GeneratedRtl, opts: BuildOptions): string[] {
  const extra = opts.extraFlags ?? [];
  if (opts.simulator === "icarus") return ["-g2005", "-s", rtl.tbTop, `-P${rtl.tbTop}.MEM_ADDR_BITS=${opts.memAddrBits}`, ...extra];
  // A waveform build compiles oltron's own main (keeping the cycle window) instead of --binary's.
  const base = opts.trace
    ? [...verilatorBuildFlags().filter((f) => f !== "--binary"), "--cc", "--exe", "--build", "--prefix", "Vtb", opts.trace === "fst" ? "--trace-fst" : "--trace"]
    : verilatorBuildFlags();
  return [
    ...base,
    "--top-module", rtl.tbTop, `-GMEM_ADDR_BITS=${opts.memAddrBits}`,
    ...(opts.threads && opts.threads > 1 ? ["--threads", String(opts.threads)] : []),
    ...extra,
  ];
}

/** The cache folder of simulator builds. */
export function simCacheDir(): string {
  return path.join(cacheRoot(), "sim");
}

/** Builds (or reuses) a simulator binary for generated RTL. */
export async function buildSim(rtl: GeneratedRtl, opts: BuildOptions): Promise<SimBuild> {
  const log = opts.log ?? defaultLog;
  const version = await toolVersion(opts.simulator);
  const files: Record<string, string> = { ...rtl.sources, ...rtl.testbench };
  if (opts.trace && opts.simulator === "verilator") files[TRACE_MAIN] = fs.readFileSync(TRACE_MAIN_SOURCE, "utf8");
  const names = Object.keys(files).sort();
  const fileHashes = Object.fromEntries(names.map((n) => [n, sha256(files[n])]));
  const flags = buildFlags(rtl, opts);
  const key = sha256(JSON.stringify({ sim: opts.simulator, version, flags, mem: opts.memAddrBits, trace: opts.trace ?? false, files: Object.entries(fileHashes) })).slice(0, 16);
  const dir = path.join(simCacheDir(), `${opts.simulator}-${key}`);
  const binary = path.join(dir, opts.simulator === "verilator" ? "Vsim" : "sim.vvp");
  const hit = (): SimBuild => ({ simulator: opts.simulator, dir, key, binary, cached: true, buildSeconds: 0, version });
  const want: Omit<EntryRecord, "binarySha256" | "buildSeconds" | "builtAt"> = {
    format: "oltron-sim-build", key, design: rtl.top, simulator: opts.simulator, version, flags,
    memAddrBits: opts.memAddrBits, trace: opts.trace ?? false, files: fileHashes,
  };

  let reason: string | undefined;
  if (opts.rebuild) {
    reason = "--rebuild was given";
  } else {
    const bad = checkEntry(dir, binary, key);
    if (bad === undefined) return hit();
    if (bad !== "missing") reason = `the cached build ${dir} was unusable (${bad}), so it is rebuilt`;
  }

  // One builder per key: another process building the same model is waited for, not repeated.
  fs.mkdirSync(simCacheDir(), { recursive: true });
  const release = await takeLock(`${dir}.lock`, () => !opts.rebuild && checkEntry(dir, binary, key) === undefined, log, "sim", opts.maxWaitSeconds !== undefined ? opts.maxWaitSeconds * 1000 : undefined);
  if (!release) return hit();
  try {
    if (!opts.rebuild && checkEntry(dir, binary, key) === undefined) return hit();
    reason ??= whyBuild(want);
    log(`sim: building ${opts.simulator} model ${rtl.top} (${key}): ${reason}...`);
    const built = await buildUnlocked({ names, files, flags, dir, binary, want, simulator: opts.simulator, log, extra: opts.extraFlags ?? [] });
    return { ...built, reason };
  } finally {
    release();
  }
}

/**
 * Why the cache has no build for these inputs, phrased for a user: the closest earlier
 * build of the same design says what changed.
 */
function whyBuild(want: Omit<EntryRecord, "binarySha256" | "buildSeconds" | "builtAt">): string {
  const others: EntryRecord[] = [];
  for (const name of safeReaddir(simCacheDir())) {
    const rec = readRecord(path.join(simCacheDir(), name));
    if (rec && rec.design === want.design && rec.simulator === want.simulator) others.push(rec);
  }
  if (others.length === 0) return `first ${want.simulator} build of design ${want.design}`;
  const diffs = (r: EntryRecord): string[] => {
    const d: string[] = [];
    if (r.version !== want.version) d.push(`simulator version changed (${r.version} -> ${want.version})`);
    const changed = Object.keys({ ...r.files, ...want.files }).filter((f) => r.files[f] !== want.files[f]);
    if (changed.length) d.push(`generated sources changed (${changed.join(", ")})`);
    if (r.memAddrBits !== want.memAddrBits) d.push(`testbench memory ${2 ** r.memAddrBits} -> ${2 ** want.memAddrBits} words (the images need more)`);
    if (r.trace !== want.trace) d.push(want.trace ? `a waveform build (${want.trace}) requested` : "a build without waveforms");
    if (JSON.stringify(r.flags) !== JSON.stringify(want.flags) && r.memAddrBits === want.memAddrBits && r.trace === want.trace) {
      d.push(`build flags changed (${want.flags.filter((f) => !r.flags.includes(f)).join(" ") || "fewer flags"})`);
    }
    return d;
  };
  const best = others.map(diffs).sort((a, b) => a.length - b.length)[0];
  return best.join("; ") || "no cached build matches";
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function readRecord(dir: string): EntryRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(dir, ENTRY), "utf8")) as EntryRecord;
    return r && r.format === "oltron-sim-build" && typeof r.key === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a cache entry: undefined when usable, "missing" when there is none, else what is
 * wrong with it. An unusable entry is removed (the cache folder is oltron's own).
 */
function checkEntry(dir: string, binary: string, key: string): string | undefined {
  if (!fs.existsSync(dir)) return "missing";
  const problem = ((): string | undefined => {
    const rec = readRecord(dir);
    if (!rec) return "no completion record";
    if (rec.key !== key) return "its record names another build";
    let data: Buffer;
    try {
      data = fs.readFileSync(binary);
    } catch {
      return "the binary is missing";
    }
    if (sha256(data) !== rec.binarySha256) return "the binary does not match its recorded sha256";
    if (binary.endsWith("Vsim")) {
      try {
        fs.accessSync(binary, fs.constants.X_OK);
      } catch {
        return "the binary is not executable";
      }
    }
    return undefined;
  })();
  if (problem) fs.rmSync(dir, { recursive: true, force: true });
  return problem;
}

async function buildUnlocked(b: {
  names: string[]; files: Record<string, string>; flags: string[]; dir: string; binary: string; simulator: Simulator; extra: string[];
  want: Omit<EntryRecord, "binarySha256" | "buildSeconds" | "builtAt">; log: (line: string) => void;
}): Promise<SimBuild> {
  const { names, files, flags, dir, binary, want, simulator, log, extra } = b;
  // Build in a private folder and publish by rename, so no reader ever sees half a build.
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  const untrack = trackTemp(tmp);
  const t0 = performance.now();
  try {
    for (const n of names) fs.writeFileSync(path.join(tmp, n), files[n]);
    const srcs = names.map((n) => path.join(tmp, n));
    // Progress of a Verilator build: C++ files compiled (.o) of those Verilator wrote (.cpp).
    const objDir = path.join(tmp, "obj");
    const bar = progress(`sim: building ${simulator} model`, 1, simulator === "verilator" ? "C++ files compiled" : "steps", log);
    const ticker = setInterval(() => {
      let files: string[] = [];
      try {
        files = fs.readdirSync(objDir);
      } catch {
        return;
      }
      const cpp = files.filter((f) => f.endsWith(".cpp")).length;
      bar.update(files.filter((f) => f.endsWith(".o")).length, Math.max(1, cpp));
    }, 500);
    const out = path.join(tmp, path.basename(binary));
    // The compiler's temporary files live in the build folder, so an interrupt removes them too.
    const ccTmp = path.join(tmp, "cc-tmp");
    fs.mkdirSync(ccTmp);
    try {
      const tool = simulator === "verilator" ? "verilator" : "iverilog";
      const r = simulator === "verilator"
        ? await runChild(tool, [...flags, "--Mdir", path.join(tmp, "obj"), "-o", out, ...srcs], { tmpDir: ccTmp })
        : await runChild(tool, [...flags, "-o", out, ...srcs], { tmpDir: ccTmp });
      if (r.notStarted) throw new UserError(`${tool} could not be started (${tail(r.all, 1)}): run 'make deps'`);
      if (r.exitCode !== 0) {
        // With flags the user passed through, a failed build is theirs to fix; without, it is a bug.
        if (extra.length) throw new UserError(`${tool} failed with --build-flag ${extra.join(" ")}:\n${tail(r.all, 12)}`);
        throw new Error(`${simulator} build failed:\n${tail(r.all)}`);
      }
    } finally {
      clearInterval(ticker);
      bar.stop();
    }
    fs.rmSync(path.join(tmp, "obj"), { recursive: true, force: true });
    fs.rmSync(ccTmp, { recursive: true, force: true });
    const buildSeconds = (performance.now() - t0) / 1000;
    const record: EntryRecord = { ...want, binarySha256: sha256(fs.readFileSync(out)), buildSeconds, builtAt: new Date().toISOString() };
    // The record is written last: an entry without one is incomplete by definition.
    fs.writeFileSync(path.join(tmp, ENTRY), JSON.stringify(record, null, 1) + "\n");
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, dir);
    } catch {
      // Someone else published the same build first: theirs is identical.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    log(`sim: built ${simulator} model in ${buildSeconds.toFixed(1)} s`);
    return { simulator, dir, key: want.key, binary, cached: false, buildSeconds, version: want.version };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    untrack();
  }
}

function tail(s: string, n = 40): string {
  return s.split("\n").slice(-n).join("\n");
}
