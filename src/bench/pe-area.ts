/**
 * PE area against hand-written references (docs/ppa.md): every PE kind the generator emits is
 * mapped to the OSU 0.18 um cells by the same flow as a hand-written MAC of the same function
 * and ports (src/bench/ref/), and their areas are compared. The generator's PEs are written for
 * simulation speed too; this is where that must not cost silicon (target: at most 1.2x).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { elaborate, resolveConfig, type ArchConfig } from "../hw/design.js";
import { generateRtl } from "../hw/generate.js";
import { PE_KINDS, type PeKindName } from "../hw/parts.js";
import { mapModule, type ModuleMapping } from "../hw/silicon.js";

const REF_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "bench", "ref");

/** The area target: a generated PE may be at most this much larger than its reference. */
export const PE_AREA_TARGET = 1.2;

/** The reference of each PE kind and the design the generated PE is taken from (16 rows, psumBits 16). */
const CASES: { pe: PeKindName; ref: string; design: Partial<ArchConfig>; psum: boolean }[] = [
  { pe: "eff", ref: "ref_mac_int4", design: { rows: 16, cols: 16, flexLines: 2 }, psum: true },
  { pe: "flex", ref: "ref_mac_flex", design: { rows: 16, cols: 16, flexLines: 2 }, psum: false },
  { pe: "ovp", ref: "ref_mac_ovp", design: { arch: "olive", rows: 16, cols: 16 }, psum: true },
  { pe: "w4a8", ref: "ref_mac_w4a8", design: { arch: "w4a8", rows: 16, cols: 16 }, psum: true },
];

export interface PeAreaRow {
  pe: PeKindName;
  doc: string;
  psumBits: number;
  generated: ModuleMapping;
  reference: ModuleMapping;
  /** generated / reference area. */
  ratio: number;
  meetsTarget: boolean;
}

export async function benchPeArea(log: (s: string) => void = () => {}): Promise<PeAreaRow[]> {
  const rows: PeAreaRow[] = [];
  for (const c of CASES) {
    const d = elaborate(resolveConfig(c.design));
    const file = `${d.prefix}_${PE_KINDS[c.pe].template}.v`;
    const text = generateRtl(d).sources[file];
    if (!text) throw new Error(`design ${d.name} has no ${file}`);
    log(`bench: PE area: ${c.pe} (${d.name}) against ${c.ref}...`);
    const generated = await mapModule({ [file]: text }, file.replace(/\.v$/, ""));
    const reference = await mapModule(
      { [`${c.ref}.v`]: fs.readFileSync(path.join(REF_DIR, `${c.ref}.v`), "utf8") }, c.ref, c.psum ? { PSUM: d.config.psumBits } : {},
    );
    const ratio = generated.areaUm2 / reference.areaUm2;
    rows.push({ pe: c.pe, doc: PE_KINDS[c.pe].doc, psumBits: d.config.psumBits, generated, reference, ratio, meetsTarget: ratio <= PE_AREA_TARGET });
  }
  return rows;
}

export function peAreaMarkdown(rows: PeAreaRow[]): string {
  const ns = (m: ModuleMapping) => (m.timing ? m.timing.minPeriodNs.toFixed(2) : "-");
  return [
    "## PE area against hand-written references (OSU 0.18 um, Yosys + ABC mapping, OpenSTA)",
    "",
    `Each generated PE beside a hand-written MAC of the same function and ports (src/bench/ref/), mapped by the same flow. Target: at most ${PE_AREA_TARGET}x.`,
    "",
    "| PE | psum bits | generated um^2 | reference um^2 | ratio | generated cells | reference cells | generated path ns | reference path ns | verdict |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.doc} | ${r.psumBits} | ${r.generated.areaUm2.toFixed(0)} | ${r.reference.areaUm2.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.generated.cells} | ${r.reference.cells} | ${ns(r.generated)} | ${ns(r.reference)} | ${r.meetsTarget ? "meets" : "MISSES"} |`),
    "",
  ].join("\n");
}
