/**
 * Long synchronous work (quantizing, the golden model) run on a worker thread
 * (cli/work-worker.ts), so the main thread stays free for Ctrl-C: the interrupt handler
 * (core/children.ts) then removes the temporary folder and exits 130 at once, and nothing is
 * published. Without the compiled worker (the sources run directly), the work runs here.
 */
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { UserError } from "../core/errors.js";
import { getVerbosity, log, setVerbosity, type Verbosity } from "../core/console.js";
import { loadDesign } from "../flows/design.js";
import { runGolden, type GoldenLayerResult } from "../flows/golden.js";
import { quantizeInto } from "../flows/quantize.js";
import { loadManifest, type Manifest } from "../image/manifest.js";
import { applyBudget, layersFromOptions } from "./options.js";

export type WorkTask =
  | { kind: "quantize"; design: string; options: Record<string, unknown>; dir: string; verbosity: Verbosity }
  | { kind: "golden"; dir: string; verbosity: Verbosity };

type WorkResult<T extends WorkTask> = T extends { kind: "quantize" } ? Manifest : GoldenLayerResult[];

interface WorkMessage {
  log?: string;
  stdout?: string;
  result?: unknown;
  error?: { user: boolean; message: string; stack?: string };
}

/** Quantizes the layers the options name into `dir` (a temporary folder the caller publishes), off the main thread. */
export function quantizeOffThread(design: string, options: Record<string, unknown>, dir: string): Promise<Manifest> {
  return offThread({ kind: "quantize", design, options: JSON.parse(JSON.stringify(options)), dir, verbosity: getVerbosity() });
}

/** Runs the golden model on an image folder (writing its expected outputs), off the main thread. */
export function goldenOffThread(dir: string): Promise<GoldenLayerResult[]> {
  return offThread({ kind: "golden", dir, verbosity: getVerbosity() });
}

async function offThread<T extends WorkTask>(task: T): Promise<WorkResult<T>> {
  const workerFile = fileURLToPath(new URL("./work-worker.js", import.meta.url));
  if (!fs.existsSync(workerFile)) return runTask(task, log, console.log) as WorkResult<T>;
  const worker = new Worker(workerFile);
  try {
    return await new Promise<WorkResult<T>>((resolve, reject) => {
      worker.on("message", (m: WorkMessage) => {
        if (m.log !== undefined) log(m.log);
        else if (m.stdout !== undefined) console.log(m.stdout);
        else if (m.error) reject(m.error.user ? new UserError(m.error.message) : Object.assign(new Error(m.error.message), { stack: m.error.stack }));
        else resolve(m.result as WorkResult<T>);
      });
      worker.on("error", reject);
      worker.on("exit", (code) => reject(new Error(`the ${task.kind} worker exited (code ${code}) before finishing`)));
      worker.postMessage(task);
    });
  } finally {
    await worker.terminate();
  }
}

/** The work itself, on whichever thread runs it. */
export function runTask(t: WorkTask, say: (s: string) => void, print: (s: string) => void): Manifest | GoldenLayerResult[] {
  setVerbosity(t.verbosity);
  if (t.kind === "golden") return runGolden(t.dir, loadManifest(t.dir));
  const d = loadDesign(t.design);
  const layers = applyBudget(d, layersFromOptions(t.options, d), t.options, print);
  return quantizeInto(d, layers, t.dir, { reference: t.options.reference !== false, log: say });
}
