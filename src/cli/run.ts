/**
 * Commands that run the data river: `quantize`, `golden`, `sim`, `verify`, `demo`.
 */
import { printJson } from "./json-outputs.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { Option, type Command } from "commander";
import { EXIT, UserError } from "../core/errors.js";
import { checkOutputApart, checkTmpDir, freshDir, recordOwned, writeDirAtomicAsync, writeFileAtomic } from "../core/files.js";
import { loadDesign, writeDesign } from "../flows/design.js";
import { quantizeToDir } from "../flows/quantize.js";
import { exportImages } from "../flows/export.js";
import { simulate, summarize, type SimResult } from "../flows/simulate.js";
import { readLayerList } from "../data/layerlist.js";
import type { Manifest } from "../image/manifest.js";
import { junitXml } from "../report/junit.js";
import { utilizationWarnings } from "../flows/utilization.js";
import { goldenOffThread, quantizeOffThread } from "./work.js";
import { checkSimulator } from "../sim/build.js";
import { addVerifyPlanOptions, registerVerifyJobCommands, verifyPlanned, wantsPlan } from "./verify-jobs.js";
import {
  addTraceOptions, traceFromOptions, checkFileOutput, addBuildOptions, detail, addDesignOptions, addLayerOptions, addMemoryOptions, applyBudget, buildFromOptions, designFromOptions, intArg, layersFromOptions, log, memoryFromOptions,
} from "./options.js";

export function registerRunCommands(program: Command): void {
  addLayerOptions(
    program
      .command("quantize")
      .description("quantize and TOBE-encode layers into memory images + manifest for a design")
      .requiredOption("--design <dir>", "design folder written by 'oltron generate'")
      .requiredOption("--out <dir>", "image folder to write"),
  )
    .option("--no-reference", "do not store the float tensors (no error figures from 'oltron golden')")
    .option("--golden", "also run the golden model and write <layer>.expected.hex")
    .option("--export <dir>", "also write fake-quantized activations and dequantized weights (original channel order, .npy and .safetensors) for PyTorch")
    .option("--json", "print one JSON document (the layers written, and the golden results with --golden); messages go to stderr")
    .action(async (o: Record<string, unknown>) => {
      const inputs = tensorInputs(o, [{ flag: "--design", path: String(o.design) }]);
      checkOutputApart({ flag: "--out", path: String(o.out) }, inputs);
      if (o.export !== undefined) checkOutputApart({ flag: "--export", path: String(o.export) }, [...inputs, { flag: "--out", path: String(o.out) }]);
      checkTmpDir();
      const d = loadDesign(String(o.design));
      let man: Manifest | undefined;
      // The work runs off the main thread (Ctrl-C stops it at once, publishing nothing); the
      // export is written before the image folder is published, so a failing export leaves
      // --out as it was.
      await writeDirAtomicAsync(String(o.out), async (tmp) => {
        man = await quantizeOffThread(String(o.design), o, tmp);
        if (o.export !== undefined) {
          const e = exportImages(tmp, String(o.export), String(o.out));
          log(`quantize: exported ${e.files.length} files to ${e.dir} (fake-quantized activations and dequantized weights; docs/quantization.md shows how to use them in PyTorch)`);
        }
      });
      if (!man) throw new Error("quantize: no manifest");
      if (o.json) {
        const golden = o.golden ? await goldenOffThread(String(o.out)) : undefined;
        printJson("quantize", {
          out: path.resolve(String(o.out)), design: d.name, memoryWords: man.memoryWords, memWordBits: man.memWordBits,
          layers: man.layers.map((l) => ({
            name: l.name, m: l.m, k: l.k, n: l.n, salientType: l.salientType, actFormat: l.actFormat ?? "tobe", salientChannels: l.salientChannels, s: l.s,
            tiles: l.tiles, minTiles: l.minTiles, nTiles: l.nTiles, actScale: l.actScale,
          })),
          ...(golden ? { golden } : {}),
        });
        log(`quantize: wrote ${man.layers.length} layer(s) to ${o.out}`);
        return;
      }
      for (const l of man.layers) {
        console.log(`  ${l.name.padEnd(16)} M=${l.m} K=${l.k} N=${l.n} ${formatText(l.actFormat, `${l.salientType} salient=${l.salientChannels} S=${l.s}/tile`)} tiles=${l.tiles} (min ${l.minTiles}) x ${l.nTiles} N-tiles, s_a=${l.actScale.toPrecision(4)}`);
      }
      console.log(`wrote ${man.layers.length} layer(s), ${man.memoryWords} memory words of ${man.memWordBits} bits, to ${o.out}`);
      if (o.golden) await printGolden(String(o.out));
    });

  program
    .command("golden")
    .description("run the golden model on an image folder: writes <layer>.expected.hex, prints quantization error")
    .requiredOption("--images <dir>", "image folder written by 'oltron quantize'")
    .option("--json", "print JSON")
    .action((o: { images: string; json?: boolean }) => printGolden(o.images, o.json));

  addTraceOptions(addBuildOptions(addMemoryOptions(program
    .command("sim")
    .description("simulate an image folder on a generated design and compare with the golden model")
    .requiredOption("--design <dir>", "design folder")
    .requiredOption("--images <dir>", "image folder")
    .option("--result <file>", "JSON result file (default <images>/sim-result.json)")
    .option("--junit <file>", "also write a JUnit XML test report (one test case per layer) for CI systems")
    .option("--expected <dir>", "compare with your own expected outputs (<layer>.expected.hex in this folder, the layout 'oltron golden' writes) instead of the golden model's")
    .option("--allow-edited-rtl", "co-simulate the design folder's RTL as it is: hand-edited files, a RAM macro model, added assertions, and any extra .v/.sv files in it (recorded in the result)")
    .option("--json", "print the JSON result"))))
    .action(async (o: Record<string, unknown>) => {
      const trace = traceFromOptions(o);
      checkTmpDir();
      const resultFile = String(o.result ?? path.join(String(o.images), "sim-result.json"));
      for (const f of [resultFile]) {
        if (fs.existsSync(f) && !fs.statSync(f).isFile()) throw new UserError(`${f}: exists and is not a file; give a file name for the result`);
        if (!fs.existsSync(path.dirname(path.resolve(f)))) throw new UserError(`${f}: folder ${path.dirname(f)} does not exist`);
        refuseInputAsOutput("--result", f, String(o.design), String(o.images));
      }
      if (trace) refuseInputAsOutput("--trace", trace.file, String(o.design), String(o.images));
      if (o.junit !== undefined) {
        checkFileOutput("--junit", String(o.junit));
        refuseInputAsOutput("--junit", String(o.junit), String(o.design), String(o.images));
      }
      const r = await simulate(String(o.design), String(o.images), {
        ...buildFromOptions(o), trace, log, memory: memoryFromOptions(o), maxCycles: o.maxCycles as number | undefined, maxSeconds: o.maxSeconds as number | undefined,
        allowEditedRtl: o.allowEditedRtl === true,
        ...(o.expected !== undefined ? { expectedDir: checkExpectedDir(String(o.expected), String(o.images)) } : {}),
      });
      reportTrace(r, trace);
      detail(`sim: simulator build ${r.build.dir} (${r.build.cached ? "from the cache" : `built: ${r.build.reason}`})`);
      writeFileAtomic(resultFile, JSON.stringify(r, null, 1) + "\n");
      recordOwned(path.dirname(path.resolve(resultFile)), [path.basename(resultFile)]);
      writeJunit(o, r, "sim");
      printSim(r, !!o.json);
      warnUtilization(String(o.design), r);
      if (!r.pass) process.exitCode = EXIT.runFailed;
    });

  const verifyCmd = addVerifyPlanOptions(addTraceOptions(addBuildOptions(addMemoryOptions(addLayerOptions(
    addDesignOptions(
      program.command("verify").description("generate -> quantize -> golden -> simulate -> compare, end to end; exits non-zero on any mismatch; with --plan, one job per layer for a local pool or a cluster (docs/cluster.md)"),
    ),
  ))))
    .option("--out <dir>", "run folder (default: a fresh rtl-out/runs/verify-<design>-<date>-<time>); an earlier oltron run folder given here is replaced")
    .option("--junit <file>", "also write a JUnit XML test report (one test case per layer) for CI systems")
    .option("--json", "print the JSON result"));
  registerVerifyJobCommands(verifyCmd);
  verifyCmd
    .action(async (o: Record<string, unknown>) => {
      if (wantsPlan(o) || o.jobs !== undefined) {
        if (o.jobs !== undefined && !o.plan && !o.slurm) throw new UserError("--jobs runs the jobs of a plan: give --plan with it (and --out)");
        const d = designFromOptions(o);
        const layers = applyBudget(d, layersFromOptions(o, d), o);
        const b = buildFromOptions(o);
        const sim = {
          simulator: b.simulator, memory: memoryFromOptions(o), buildFlags: b.buildFlags, threads: b.threads,
          ...(o.maxCycles !== undefined ? { maxCycles: o.maxCycles as number } : {}), ...(o.maxSeconds !== undefined ? { maxSeconds: o.maxSeconds as number } : {}),
        };
        await verifyPlanned(o, d, layers, sim, tensorInputs(o, []));
        return;
      }
      if (o.junit !== undefined) checkFileOutput("--junit", String(o.junit));
      const { r, dir } = await verify(o);
      writeJunit(o, r, "verify");
      printSim(r, !!o.json);
      warnUtilization(path.join(dir, "design"), r);
      log(`verify: wrote ${dir}: design/ (Verilog, testbench, C header), images/ (images, manifest, expected and simulated outputs, sim-result.json)`);
      if (!r.pass) process.exitCode = EXIT.runFailed;
    });

  addTraceOptions(addBuildOptions(program
    .command("demo")
    .description("the main job on built-in data: generate a 16x16 design, quantize LLaMA-like layers, golden model, Verilator co-simulation")
    .option("--json", "print the JSON result (one document; messages go to stderr)")))
    .action(async (o: Record<string, unknown>) => {
      const out = path.join("rtl-out", "demo");
      const { r } = await verify({ ...o, preset: "default", out, seed: 1 });
      printSim(r, !!o.json);
      warnUtilization(path.join(out, "design"), r);
      (o.json ? log : console.log)(`wrote ${out}/design (Verilog, testbench, C header, design.json), ${out}/images (images, manifest, expected and simulated outputs, sim-result.json)`);
      if (!r.pass) process.exitCode = EXIT.runFailed;
    });
}

/** A layer's activation format as the per-layer lines show it: TOBE's salient figures, or the format's name. */
function formatText(format: string | undefined, tobe: string): string {
  return format === undefined || format === "tobe" ? tobe : format;
}

/** Layers losing more than 10% of their cycles to one cause, with the cause and a remedy (stderr). */
function warnUtilization(designDir: string, r: SimResult): void {
  if (r.status !== "done") return;
  for (const w of utilizationWarnings(loadDesign(designDir), r)) log(`sim: ${w}`);
}

function printSim(r: SimResult, json: boolean): void {
  if (json) {
    printJson("sim-result", r);
    return;
  }
  for (const l of r.layers) {
    const cyc = l.cycles ? `, ${l.cycles.total} cycles (${(100 * l.cycles.utilization).toFixed(1)}% utilized)` : "";
    const err = l.error ? `, SQNR ${l.error.sqnrDb.toFixed(2)} dB` : "";
    console.log(`  ${l.name.padEnd(16)} M=${l.m} K=${l.k} N=${l.n} ${formatText(l.actFormat, `${l.salientType} (${l.salientChannels} salient) S=${l.s}`)} tiles=${l.tiles} (min ${l.minTiles}) mismatches=${l.mismatches}, words read ${l.traffic.read} written ${l.traffic.written}${cyc}${err}`);
  }
  if (r.drainCycles !== undefined) console.log(`  drain after the last layer: ${r.drainCycles} cycles`);
  for (const m of r.firstMismatches) {
    console.log(`  mismatch ${m.layer}[token ${m.token}][channel ${m.channel}]: expected ${m.expected}, got ${m.actual}`);
  }
  console.log(summarize(r));
}

async function printGolden(dir: string, json = false, out: (line: string) => void = (l) => console.log(l)): Promise<void> {
  // Off the main thread: Ctrl-C stops a long golden run at once.
  const res = await goldenOffThread(dir);
  if (json) {
    printJson("golden", res);
    return;
  }
  for (const r of res) {
    const err = r.error ? `SQNR ${r.error.sqnrDb.toFixed(2)} dB, MSE ${r.error.mse.toExponential(3)} vs float reference` : "no float reference stored";
    out(`  golden ${r.name.padEnd(16)} ${r.m}x${r.k}x${r.n}: ${r.expectedFile} in ${r.seconds.toFixed(2)} s; ${err}`);
  }
}

/**
 * The verify flow shared by `verify` and `demo`. The run folder (a fresh one under
 * rtl-out/runs/ unless --out names one) appears only when the run is complete: everything is
 * written into a temporary sibling first, which an error or an interrupt removes.
 */
async function verify(o: Record<string, unknown>): Promise<{ r: SimResult; dir: string }> {
  const d = designFromOptions(o);
  const dir = o.out !== undefined ? String(o.out) : freshDir(path.join("rtl-out", "runs"), `verify-${d.name}`);
  const given = tensorInputs(o, []);
  checkOutputApart({ flag: "--out", path: dir }, given);
  const trace = traceFromOptions(o);
  checkTmpDir();
  // Everything a user gave is checked before the first file is written.
  const layers = applyBudget(d, layersFromOptions(o, d), o);
  await checkSimulator(o.simulator as SimResult["simulator"]);
  let r: SimResult | undefined;
  await writeDirAtomicAsync(dir, async (tmp) => {
    const designDir = path.join(tmp, "design");
    const imagesDir = path.join(tmp, "images");
    log(`verify: generating ${d.name} (run folder ${dir}, complete when the run ends)`);
    writeDesign(designDir, d);
    log(`verify: quantizing ${layers.length} layer(s)`);
    quantizeToDir(d, layers, imagesDir, { log });
    // Progress, so stderr: with --json, stdout carries the one result document only.
    await printGolden(imagesDir, false, log);
    const inputs = given.map((i) => i.path).filter((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    r = await simulate(designDir, imagesDir, {
      ...buildFromOptions(o), log, memory: memoryFromOptions(o), maxCycles: o.maxCycles as number | undefined, maxSeconds: o.maxSeconds as number | undefined, inputs, trace,
    });
    reportTrace(r, trace);
    detail(`verify: simulator build ${r.build.dir} (${r.build.cached ? "from the cache" : `built: ${r.build.reason}`})`);
    // Recorded paths name the run folder as it will be, not its temporary sibling.
    const real = path.resolve(dir);
    r.provenance.inputs = r.provenance.inputs.map((i) => ({ ...i, file: i.file.startsWith(path.resolve(tmp)) ? real + i.file.slice(path.resolve(tmp).length) : i.file }));
    // The result sits beside the manifest it came from, as with 'oltron sim'.
    writeFileAtomic(path.join(imagesDir, "sim-result.json"), JSON.stringify(r, null, 1) + "\n");
    recordOwned(imagesDir, ["sim-result.json"]);
  });
  return { r: r!, dir };
}

/**
 * An output file of `sim` may not be a file the simulation reads: nothing inside the design
 * folder, and inside the image folder only its own result (sim-result.json) or a new name.
 */
/** --expected: an existing folder other than the image folder (whose expected files the golden model writes). */
function checkExpectedDir(dir: string, imagesDir: string): string {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`--expected ${dir}: no such folder`);
  if (fs.realpathSync(dir) === fs.realpathSync(imagesDir)) {
    throw new UserError(`--expected ${dir} is the image folder, whose <layer>.expected.hex the golden model writes: put your expected outputs in a folder of their own`);
  }
  return dir;
}

function writeJunit(o: Record<string, unknown>, r: SimResult, command: string): void {
  if (o.junit === undefined) return;
  writeFileAtomic(String(o.junit), junitXml(r, `oltron ${command}`));
  log(`${command}: wrote the JUnit report ${o.junit}`);
}

function refuseInputAsOutput(flag: string, file: string, designDir: string, imagesDir: string): void {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const f = path.join(real(path.dirname(path.resolve(file))), path.basename(file));
  const inside = (dir: string) => f.startsWith(real(dir) + path.sep);
  if (inside(designDir)) throw new UserError(`${flag} ${file} lies inside --design ${designDir}, which the simulation reads: choose a file outside it`);
  if (inside(imagesDir) && path.basename(f) !== "sim-result.json" && fs.existsSync(f)) {
    throw new UserError(`${flag} ${file} would overwrite ${path.basename(f)} of --images ${imagesDir}, which the simulation reads: choose a new file name`);
  }
}

/** The files a command reads (tensors, configuration, block), as inputs an output must stay apart from. */
function tensorInputs(o: Record<string, unknown>, more: { flag: string; path: string }[]): { flag: string; path: string }[] {
  const files = (["x", "w", "config", "block", "layers"] as const)
    .filter((k) => typeof o[k] === "string" && fs.existsSync(String(o[k])))
    .map((k) => ({ flag: `--${k}`, path: String(o[k]) }));
  // The tensors a layer list names are inputs too (a malformed list is reported later, by its reader).
  let listed: { flag: string; path: string }[] = [];
  if (typeof o.layers === "string" && fs.existsSync(o.layers)) {
    try {
      listed = readLayerList(o.layers).flatMap((e) => [{ flag: `--layers ${e.name}.x`, path: e.x }, { flag: `--layers ${e.name}.w`, path: e.w }]);
    } catch {
      listed = [];
    }
  }
  return [...more, ...files, ...listed];
}

/** Says where the waveform went (it is also recorded in the result), or why there is none. */
function reportTrace(r: SimResult, trace: { file: string; from?: number; to?: number } | undefined): void {
  if (!trace) return;
  if (fs.existsSync(trace.file)) log(`wrote waveform ${trace.file} (cycles ${trace.from ?? 0}..${trace.to ?? "end"}); view it with: gtkwave ${trace.file}`);
  else if ((trace.from ?? 0) >= r.cycles.total) log(`no waveform written: the run ended after ${r.cycles.total} cycles, before --trace-from ${trace.from ?? 0}`);
  else log(`warning: no waveform written: the simulator did not create ${trace.file} (is its folder writable, with free space?)`);
}
