/**
 * Long synchronous work run on a worker thread (cli/work-worker.ts), so the main thread stays
 * free for Ctrl-C: the interrupt handler (core/children.ts) then removes the temporary
 * folder and exits 130 at once, and nothing is published. Without the compiled worker (the
 * sources run directly), the work runs here.
 */
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { UserError } from "../core/errors.js";
import { getVerbosity, log, setVerbosity, type Verbosity } from "../core/console.js";
import { loadDesign } from "../flows/design.js";
import { quantizeInto } from "../flows/quantize.js";
import type { Manifest } from "../image/manifest.js";
import { applyBudget, layersFromOptions } from "./options.js";

export interface WorkTask {
  /** The design folder. */
  design: string;
  /** The command's options (plain values). */
  options: Record<string, unknown>;
  /** The temporary image folder to fill. */
  dir: string;
  verbosity: Verbosity;
}

interface WorkMessage {
  log?: string;
  stdout?: string;
  result?: Manifest;
  error?: { user: boolean; message: string; stack?: string };
}

/** Quantizes the layers the options name into `dir`, off the main thread. */
export async function quantizeOffThread(design: string, options: Record<string, unknown>, dir: string): Promise<Manifest> {
  const task: WorkTask = { design, options: JSON.parse(JSON.stringify(options)), dir, verbosity: getVerbosity() };
  const workerFile = fileURLToPath(new URL("./work-worker.js", import.meta.url));
  if (!fs.existsSync(workerFile)) return runTask(task, log, console.log);
  const worker = new Worker(workerFile);
  try {
    return await new Promise<Manifest>((resolve, reject) => {
      worker.on("message", (m: WorkMessage) => {
        if (m.log !== undefined) log(m.log);
        else if (m.stdout !== undefined) console.log(m.stdout);
        else if (m.result) resolve(m.result);
        else if (m.error) reject(m.error.user ? new UserError(m.error.message) : Object.assign(new Error(m.error.message), { stack: m.error.stack }));
      });
      worker.on("error", reject);
      worker.on("exit", (code) => reject(new Error(`the quantize worker exited (code ${code}) before finishing`)));
      worker.postMessage(task);
    });
  } finally {
    await worker.terminate();
  }
}

/** The work itself, on whichever thread runs it. */
export function runTask(t: WorkTask, say: (s: string) => void, print: (s: string) => void): Manifest {
  setVerbosity(t.verbosity);
  const d = loadDesign(t.design);
  const layers = applyBudget(d, layersFromOptions(t.options, d), t.options, print);
  return quantizeInto(d, layers, t.dir, { reference: t.options.reference !== false, log: say });
}
