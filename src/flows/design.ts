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
import { projectFiles, stableTopProblem, type ProjectFileOptions } from "../hw/project-files.js";

/**
 * Writes the RTL, testbench, C header, C++ host, the standard project files (filelists, FuseSoC
 * core, SystemVerilog package, SystemRDL and IP-XACT register maps, the stable-name top when
 * asked) and design.json into `dir` (atomically).
 */
export function writeDesign(dir: string, d: ElaboratedDesign, opts: ProjectFileOptions = {}): GeneratedRtl & { project: string[] } {
  if (opts.stableTop !== undefined) {
    const why = stableTopProblem(opts.stableTop, d);
    if (why) throw new UserError(`--top-name '${opts.stableTop}' is not usable: ${why}`, { field: "--top-name", value: opts.stableTop, hint: why });
  }
  const rtl = generateRtl(d);
  const project = projectFiles(d, rtl, opts);
  writeDirAtomic(dir, (tmp) => {
    writeFiles(tmp, { ...rtl.sources, ...rtl.testbench, ...rtl.header, ...rtl.host, ...project });
    writeFiles(tmp, {
      "design.json": JSON.stringify({
        ...d,
        rtl: {
          top: rtl.top, tbTop: rtl.tbTop, sources: Object.keys(rtl.sources), testbench: Object.keys(rtl.testbench),
          ...(opts.stableTop ? { stableTop: opts.stableTop } : {}), project: Object.keys(project),
        },
      }, null, 1) + "\n",
    });
  });
  return { ...rtl, project: Object.keys(project) };
}

/** The stable top-level name design.json records (generate --top-name), if any. */
export function recordedStableTop(dir: string): string | undefined {
  try {
    const v = (JSON.parse(fs.readFileSync(path.join(dir, "design.json"), "utf8")) as { rtl?: { stableTop?: unknown } }).rtl?.stableTop;
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
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
 * With `allowEdited`, the folder's RTL and testbench are simulated as they are (an engineering
 * change, a RAM macro model, added assertions), extra .v/.sv files in it are compiled too, and
 * what differs from the generator's output is returned for the result to record.
 */
export function loadRtl(dir: string, d: ElaboratedDesign, opts: { allowEdited?: boolean } = {}): GeneratedRtl & { edited: string[]; added: string[] } {
  const fresh = generateRtl(d);
  const edited: string[] = [];
  const onDisk = (group: Record<string, string>, simulated: boolean): Record<string, string> =>
    Object.fromEntries(Object.entries(group).map(([name, text]) => {
      const p = path.join(dir, name);
      if (!fs.existsSync(p)) throw new UserError(`${p}: missing; regenerate the design with 'oltron generate'`);
      const disk = fs.readFileSync(p, "utf8");
      if (disk === text) return [name, text];
      if (!opts.allowEdited || !simulated) {
        throw new UserError(`${p}: differs from what generator ${d.generator.version} produces for this design; regenerate it, or co-simulate your edit with --allow-edited-rtl`);
      }
      edited.push(name);
      return [name, disk];
    }));
  const sources = onDisk(fresh.sources, true);
  const testbench = onDisk(fresh.testbench, true);
  onDisk({ ...fresh.header, ...fresh.host }, !!opts.allowEdited);
  // The project files (the SystemVerilog package, a stable-name top) are oltron's, not additions.
  const project = Object.keys(projectFiles(d, fresh, { stableTop: recordedStableTop(dir) }));
  const known = new Set([...Object.keys(fresh.sources), ...Object.keys(fresh.testbench), ...project]);
  const added = opts.allowEdited
    ? fs.readdirSync(dir).filter((f) => /\.s?v$/.test(f) && !known.has(f) && fs.statSync(path.join(dir, f)).isFile()).sort()
    : [];
  for (const f of added) sources[f] = fs.readFileSync(path.join(dir, f), "utf8");
  return { ...fresh, sources, testbench, edited, added };
}
