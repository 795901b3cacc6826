/**
 * A worker thread of runAccuracyBenchParallel: runs (design, seed) tasks of the accuracy
 * benchmark and sends back their plain-data results, with its progress.
 */
import { parentPort } from "node:worker_threads";
import { runSeedTask, type SeedLayer, type SeedTaskContext } from "./accuracy.js";
import type { ElaboratedDesign } from "../hw/design.js";
import type { WeightQuant } from "../quant/gptq.js";

interface Task {
  designs: ElaboratedDesign[];
  layers: SeedLayer[];
  si: number;
  seed: number | undefined;
  wm: WeightQuant;
  actOnly: boolean;
  ctx: SeedTaskContext;
}

const port = parentPort;
if (port) {
  port.on("message", (t: Task) => {
    try {
      const result = runSeedTask(t.designs, t.layers, t.si, t.seed, t.wm, t.actOnly, t.ctx, (s) => port.postMessage({ log: s }), () => port.postMessage({ tick: true }));
      port.postMessage({ result });
    } catch (e) {
      port.postMessage({ error: (e as Error).stack ?? String(e) });
    }
  });
}
