/**
 * A finished run folder as the cost reports read it: its design (design/) and its checked
 * simulation result (images/sim-result.json), which must belong to that design.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import type { ElaboratedDesign } from "../hw/design.js";
import { loadDesign } from "./design.js";
import { simResultSchema } from "./result-schema.js";
import type { SimResult } from "./simulate.js";

export function loadRun(dir: string): { d: ElaboratedDesign; result: SimResult } {
  const designDir = path.join(dir, "design");
  const file = [path.join(dir, "images", "sim-result.json"), path.join(dir, "sim-result.json")].find((f) => fs.existsSync(f));
  if (!fs.existsSync(designDir) || !file) {
    throw new UserError(`${dir}: not a run folder (expected design/ and images/sim-result.json, as 'oltron verify --out ${dir}' writes)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = simResultSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UserError(`${file}: not a simulation result of this oltron: ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  const d = loadDesign(designDir);
  const result = raw as SimResult;
  if (result.design !== d.name) throw new UserError(`${file}: the result is of design ${result.design}, but ${designDir} holds ${d.name}`);
  return { d, result };
}
