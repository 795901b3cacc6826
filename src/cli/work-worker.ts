/**
 * The worker thread of cli/work.ts: runs the task it is sent and posts back its messages and
 * result (the main thread prints them in order).
 */
import { parentPort } from "node:worker_threads";
import { UserError } from "../core/errors.js";
import { runTask, type WorkTask } from "./work.js";

const port = parentPort;
if (port) {
  port.on("message", (t: WorkTask) => {
    try {
      const result = runTask(t, (s) => port.postMessage({ log: s }), (s) => port.postMessage({ stdout: s }));
      port.postMessage({ result });
    } catch (e) {
      port.postMessage({ error: { user: e instanceof UserError, message: (e as Error).message, stack: (e as Error).stack } });
    }
  });
}
