/**
 * Design folders: write the RTL, testbench, C header and design.json of an elaborated
 * design; read a design folder back, refusing hand-edited RTL.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { writeDirAtomic, writeFiles } from "../core/files.js";
import { designFromJson, type ElaboratedDesign } from "../hw/design.js";
import { generateRtl, type GeneratedRtl } from "../hw/generate.js";

/** Writes the RTL, testbench, C header, C++ host and design.json into `dir` (atomically). */
export function writeDesign(dir: string, d: ElaboratedDesign): GeneratedRtl {
  const rtl = generateRtl(d);
  writeDirAtomic(dir, (tmp) => {
    writeFiles(tmp, { ...rtl.sources, ...rtl.testbench, ...rtl.header, ...rtl.host });
    writeFiles(tmp, {
      "design.json": JSON.stringify({ ...d, rtl: { top: rtl.top, tbTop: rtl.tbTop, sources: Object.keys(rtl.sources), testbench: Object.keys(rtl.testbench) } }, null, 1) + "\n",
    });
  });
  return rtl;
}

export function loadDesign(dir: string): ElaboratedDesign {
  const p = path.join(dir, "design.json");
  if (!fs.existsSync(p)) throw new UserError(`${dir}: no design.json (generate one with 'oltron generate --out ${dir}')`);
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(p, "utf8"));
  } catch (e) {
    throw new UserError(`${p}: not valid JSON (${(e as Error).message})`);
  }
  return designFromJson(obj, p);
}

/**
 * The RTL of a design folder, read from disk (what the user may have inspected), checked
 * against a fresh generation so a hand-edited file is noticed rather than silently simulated.
 */
export function loadRtl(dir: string, d: ElaboratedDesign): GeneratedRtl {
  const fresh = generateRtl(d);
  for (const [name, text] of Object.entries({ ...fresh.sources, ...fresh.testbench, ...fresh.header, ...fresh.host })) {
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) throw new UserError(`${p}: missing; regenerate the design with 'oltron generate'`);
    if (fs.readFileSync(p, "utf8") !== text) {
      throw new UserError(`${p}: differs from what generator ${d.generator.version} produces for this design; regenerate it`);
    }
  }
  return fresh;
}
