/**
 * Layer-list files: several named layers of a user's own tensors in one run, in the spirit
 * of SCALE-Sim's topology file. YAML (`layers:` list of objects) or CSV (a header row, one
 * layer per row), with the same fields:
 *
 *   name, x, w                 layer name; activation and weight tensor files (.npy/.safetensors)
 *   x_name, w_name             tensor names inside .safetensors files (optional)
 *   w_layout                   kn ([K x N], default) or nk ([N x K], PyTorch's nn.Linear.weight)
 *   salient_type               fp8 (default), fp12 or none
 *   threshold | ratio          salient selection (default threshold 4)
 *
 * Paths are relative to the list file's folder. Every field is checked (zod) before any
 * tensor is read; a problem names the file, the row and the field.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import YAML from "yaml";
import { z } from "zod";
import { UserError } from "../core/errors.js";

const optionalNumber = z.preprocess((v) => (v === "" || v === null ? undefined : typeof v === "string" ? Number(v) : v), z.number().finite().optional());
const optionalText = z.preprocess((v) => (v === "" || v === null ? undefined : v), z.string().min(1).optional());

const entrySchema = z.object({
  name: z.string().min(1).max(100),
  x: z.string().min(1),
  w: z.string().min(1),
  x_name: optionalText,
  w_name: optionalText,
  w_layout: z.preprocess((v) => (v === "" || v === null ? undefined : v), z.enum(["kn", "nk"]).optional()),
  salient_type: z.preprocess((v) => (v === "" || v === null ? undefined : v), z.enum(["fp8", "fp12", "none"]).optional()),
  threshold: optionalNumber.refine((v) => v === undefined || v > 0, "must be > 0"),
  ratio: optionalNumber.refine((v) => v === undefined || (v >= 0 && v <= 1), "must be in 0..1"),
}).strict();

export interface LayerListEntry {
  name: string;
  x: string;
  w: string;
  xName?: string;
  wName?: string;
  wLayout: "kn" | "nk";
  salientType: "fp8" | "fp12" | "none";
  threshold?: number;
  ratio?: number;
}

/** Reads and checks a layer-list file; tensor paths come back resolved against its folder. */
export function readLayerList(file: string): LayerListEntry[] {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new UserError(`--layers ${file}: no such file`);
  const text = fs.readFileSync(file, "utf8");
  const ext = path.extname(file).toLowerCase();
  let rows: unknown[];
  try {
    if (ext === ".csv") {
      // A spreadsheet's UTF-8 byte-order mark is not part of the first column's name; a column
      // named twice would silently keep its last value.
      let twice: string | undefined;
      rows = parseCsv(text, {
        bom: true, skip_empty_lines: true, trim: true, comment: "#",
        columns: (header: string[]) => {
          twice = header.find((h, i) => header.indexOf(h) !== i);
          return header;
        },
      }) as unknown[];
      if (twice !== undefined) throw new UserError(`--layers ${file}: the header names column '${twice}' twice; give each column once`);
    } else if (ext === ".yaml" || ext === ".yml" || ext === ".json") {
      const doc = YAML.parse(text) as { layers?: unknown } | null;
      if (!doc || typeof doc !== "object" || !Array.isArray(doc.layers)) throw new UserError(`--layers ${file}: expected a 'layers:' list`);
      rows = doc.layers;
    } else {
      throw new UserError(`--layers ${file}: the format follows the extension: .yaml, .yml, .json or .csv (got '${ext || "none"}')`);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`--layers ${file}: not readable as ${ext.slice(1).toUpperCase()} (${(e as Error).message.split("\n")[0]})`);
  }
  if (rows.length === 0) throw new UserError(`--layers ${file}: lists no layers`);
  if (rows.length > 1000) throw new UserError(`--layers ${file}: lists ${rows.length} layers; at most 1000 per run`);
  const base = path.dirname(path.resolve(file));
  const seen = new Set<string>();
  return rows.map((row, i) => {
    const r = entrySchema.safeParse(row);
    const where = `--layers ${file}: ${ext === ".csv" ? `row ${i + 2}` : `layer ${i + 1}`}`;
    if (!r.success) {
      const issue = r.error.issues[0];
      const field = issue.path.join(".") || "(row)";
      const value = row && typeof row === "object" ? (row as Record<string, unknown>)[String(issue.path[0])] : row;
      const what = issue.code === "unrecognized_keys" ? `unknown field(s) ${issue.keys.join(", ")}; the fields are ${Object.keys(entrySchema.shape).join(", ")}` : `${field} = ${JSON.stringify(value)}: ${issue.message}`;
      throw new UserError(`${where}: ${what}`);
    }
    const e = r.data;
    if (seen.has(e.name)) throw new UserError(`${where}: the name '${e.name}' is used twice (every layer's outputs need their own files)`);
    seen.add(e.name);
    if (e.threshold !== undefined && e.ratio !== undefined) throw new UserError(`${where}: give threshold or ratio, not both`);
    if (e.salient_type === "none" && (e.threshold !== undefined || e.ratio !== undefined)) throw new UserError(`${where}: threshold/ratio make no sense with salient_type none`);
    return {
      name: e.name, x: path.resolve(base, e.x), w: path.resolve(base, e.w), xName: e.x_name, wName: e.w_name,
      wLayout: e.w_layout ?? "kn", salientType: e.salient_type ?? "fp8", threshold: e.threshold, ratio: e.ratio,
    };
  });
}
