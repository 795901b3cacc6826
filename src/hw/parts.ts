/**
 * The parts an accelerator is composed of: PE kinds, decoder kinds and the architectures
 * that combine them (docs/architecture.md, "Architectures"). Each part declares what it
 * accepts, the template that generates it and the arithmetic bound elaboration derives the
 * partial-sum width from; the pipeline stages, buffers and AXI shell are shared by every
 * architecture. The golden model's side of each part lives with the formats
 * (core/formats.ts for TOBE, core/actformats.ts for int8 and OVP).
 */

import { UserError } from "../core/errors.js";

export type ArchName = "oltron" | "int4" | "olive" | "w4a8";
export const ARCH_NAMES: readonly ArchName[] = ["oltron", "int4", "olive", "w4a8"];

export type PeKindName = "eff" | "flex" | "ovp" | "w4a8";
export type DecoderKindName = "tobe" | "ovp" | "none";

/**
 * The activation format of a layer's images, one per descriptor `salientType` code:
 * TOBE (int4 with fp8/fp12 salient slots; codes 0, 1, 2), int8 (3), OVP with int or flint
 * normal values (4, 5).
 */
export type ActFormat = "tobe" | "int8" | "ovp-int" | "ovp-flint";
export const FORMAT_CODE: Record<Exclude<ActFormat, "tobe">, number> = { int8: 3, "ovp-int": 4, "ovp-flint": 5 };

export interface PeKind {
  name: PeKindName;
  /** Generated module suffix (`<prefix>_<template>`). */
  template: string;
  doc: string;
  /** Bits of one lane's operand as it travels through the row (the bank tag excluded). */
  opBits: number;
  /**
   * Range of the exact sum of `rows` lanes' products with int4 weights, for every legal
   * operand bit pattern: the partial sum must hold it (derived, never trusted to luck).
   */
  columnRange(rows: number): [number, number];
}

export const PE_KINDS: Record<PeKindName, PeKind> = {
  eff: {
    name: "eff", template: "pe_eff", doc: "efficient PE: int4 x int4, narrow partial sum", opBits: 4,
    // int4 x int4 products lie in [-56, 64].
    columnRange: (rows) => [-56 * rows, 64 * rows],
  },
  flex: {
    name: "flex", template: "pe_flex", doc: "flexible PE: 5-bit signed integer x int4, 5-bit shift, 32-bit sum", opBits: 10,
    columnRange: () => [-(2 ** 31), 2 ** 31 - 1],
  },
  w4a8: {
    name: "w4a8", template: "pe_w4a8", doc: "W4A8 PE: int8 x int4", opBits: 8,
    // int8 x int4 products lie in [127 * -8, -128 * -8] = [-1016, 1024].
    columnRange: (rows) => [-1016 * rows, 1024 * rows],
  },
  ovp: {
    name: "ovp", template: "pe_ovp", doc: "OVP PE: 4-bit signed integer x int4, shifted by a 3-bit exponent", opBits: 7,
    // A pair holds at most one outlier (|value| <= 192, the flint outlier 3 << 6) beside a
    // zero victim, or two normals (|value| <= 16 each): a pair's products lie in
    // [-1536, 1536], and a column of `rows` lanes holds rows / 2 pairs.
    columnRange: (rows) => [-768 * rows, 768 * rows],
  },
};

export interface DecoderKind {
  name: DecoderKindName;
  doc: string;
}

export const DECODER_KINDS: Record<DecoderKindName, DecoderKind> = {
  tobe: { name: "tobe", doc: "TOBE decoder: salient fp8/fp12 slots -> (shift, integer) pairs, int4 lanes pass through" },
  ovp: { name: "ovp", doc: "OVP pair decoder: each pair of 4-bit codes -> two (exponent, integer) pairs" },
  none: { name: "none", doc: "no decoder: int8 lanes go to the PEs as stored" },
};

export interface ArchKind {
  name: ArchName;
  doc: string;
  decoder: DecoderKindName;
  /** Whether flexible lines and salient types apply (TOBE); the others have none. */
  salient: boolean;
  /** Bits one lane's activation takes in a token row in memory. */
  laneActBits: number;
  /** Activation formats a layer may use on this architecture. */
  formats: ActFormat[];
  /** The PE kind of the rows that are not flexible lines. */
  pe: PeKindName;
  /** How layers scale activations by default ("token": per-token scales). */
  defaultScaling: "tensor" | "token";
  /** Extra rule on the array size (null when any legal size works). */
  rowsRule?: { check(rows: number): boolean; text: string };
}

export const ARCHS: Record<ArchName, ArchKind> = {
  oltron: {
    name: "oltron", doc: "Oltron: hybrid grid of efficient int4 rows and flexible fp8/fp12 rows, TOBE decoder",
    decoder: "tobe", salient: true, laneActBits: 4, formats: ["tobe"], pe: "eff", defaultScaling: "tensor",
  },
  int4: {
    name: "int4", doc: "int4-only array (QuaRot-style rotation on the host, per-token int4 activations)",
    decoder: "tobe", salient: false, laneActBits: 4, formats: ["tobe"], pe: "eff", defaultScaling: "token",
  },
  olive: {
    name: "olive", doc: "OliVe: 4-bit outlier-victim pairs, OVP pair decoder, exponent-integer PEs",
    decoder: "ovp", salient: false, laneActBits: 4, formats: ["ovp-int", "ovp-flint"], pe: "ovp", defaultScaling: "tensor",
    rowsRule: { check: (r) => r % 2 === 0, text: "an even number (a lane pair holds one outlier-victim pair)" },
  },
  w4a8: {
    name: "w4a8", doc: "W4A8: int8 activations (per-token, symmetric) x int4 weights",
    decoder: "none", salient: false, laneActBits: 8, formats: ["int8"], pe: "w4a8", defaultScaling: "token",
  },
};

export function isArchName(s: unknown): s is ArchName {
  return typeof s === "string" && (ARCH_NAMES as readonly string[]).includes(s);
}

// ------------------------------------------------------------------ composition by parts

/** One row group of the grid: `rows` rows of one PE kind. */
export interface GridGroup {
  pe: PeKindName;
  rows: number;
}

/**
 * A design described by its parts instead of an architecture name (config key `parts`, flags
 * `--decoder` / `--grid`): the decoder kind and the grid from the top row down. Elaboration
 * resolves it to the architecture that builds this composition (`composeParts`).
 */
export interface PartsConfig {
  decoder?: DecoderKindName;
  grid: GridGroup[];
}

/**
 * What each decoder's lanes can feed: the PE kind of the main rows and whether flexible rows
 * may follow them (at the bottom of the array, next to the output). A PE kind takes only the
 * operand its decoder produces (the `opBits` encoding above), so this table is every grid the
 * parts build; anything else is rejected with this table in the message.
 */
const COMPOSITIONS: { decoder: DecoderKindName; main: PeKindName | null; flex: boolean; arch: ArchName }[] = [
  { decoder: "tobe", main: "eff", flex: true, arch: "oltron" },
  { decoder: "tobe", main: null, flex: true, arch: "oltron" },
  { decoder: "tobe", main: "eff", flex: false, arch: "int4" },
  { decoder: "ovp", main: "ovp", flex: false, arch: "olive" },
  { decoder: "none", main: "w4a8", flex: false, arch: "w4a8" },
];

const COMPOSITION_TEXT =
  "the parts build these grids (top row first): decoder tobe with eff rows, then flex rows (arch oltron; " +
  "flex rows only is an all-flexible oltron; eff rows only is arch int4), decoder ovp with ovp rows (arch olive), " +
  "decoder none with w4a8 rows (arch w4a8)";

/** The decoder a PE kind's operand comes from. */
const DECODER_OF_PE: Record<PeKindName, DecoderKindName> = { eff: "tobe", flex: "tobe", ovp: "ovp", w4a8: "none" };

/** The configuration keys a parts description fixes. */
export interface ComposedParts {
  arch: ArchName;
  rows: number;
  flexLines: number;
}

/**
 * Checks a parts description against the composition table and returns the architecture, rows
 * and flexible lines it builds. `where` names the source in messages (a file or the flags).
 */
export function composeParts(parts: unknown, where: string): ComposedParts {
  if (!parts || typeof parts !== "object" || Array.isArray(parts)) {
    throw new UserError(`${where}: invalid parts = ${JSON.stringify(parts)}: expected an object { decoder, grid: [{ pe, rows }, ...] }`);
  }
  const p = parts as Record<string, unknown>;
  for (const k of Object.keys(p)) {
    if (k !== "decoder" && k !== "grid") throw new UserError(`${where}: unknown key '${k}' in parts: expected decoder, grid`);
  }
  const peNames = Object.keys(PE_KINDS);
  if (!Array.isArray(p.grid) || p.grid.length === 0) {
    throw new UserError(`${where}: invalid parts.grid = ${JSON.stringify(p.grid)}: expected a non-empty list of row groups, e.g. [{ pe: eff, rows: 14 }, { pe: flex, rows: 2 }]`);
  }
  const grid: GridGroup[] = p.grid.map((g: unknown, i: number) => {
    const o = (g && typeof g === "object" && !Array.isArray(g) ? g : {}) as Record<string, unknown>;
    if (typeof o.pe !== "string" || !peNames.includes(o.pe)) {
      throw new UserError(`${where}: invalid parts.grid[${i}].pe = ${JSON.stringify(o.pe)}: expected one of ${peNames.join(", ")}`);
    }
    if (typeof o.rows !== "number" || !Number.isInteger(o.rows) || o.rows < 1 || o.rows > 256) {
      throw new UserError(`${where}: invalid parts.grid[${i}].rows = ${JSON.stringify(o.rows)}: must be an integer in 1..256`);
    }
    for (const k of Object.keys(o)) {
      if (k !== "pe" && k !== "rows") throw new UserError(`${where}: unknown key '${k}' in parts.grid[${i}]: expected pe, rows`);
    }
    return { pe: o.pe as PeKindName, rows: o.rows };
  });
  const seen = new Set<string>();
  for (const g of grid) {
    if (seen.has(g.pe)) throw new UserError(`${where}: PE kind ${g.pe} appears in two row groups of parts.grid: give one group per PE kind`);
    seen.add(g.pe);
  }
  const decoders = Object.keys(DECODER_KINDS);
  if (p.decoder !== undefined && (typeof p.decoder !== "string" || !decoders.includes(p.decoder))) {
    throw new UserError(`${where}: invalid parts.decoder = ${JSON.stringify(p.decoder)}: expected one of ${decoders.join(", ")}`);
  }
  const decoder = (p.decoder as DecoderKindName | undefined) ?? DECODER_OF_PE[grid[0].pe];
  for (const g of grid) {
    if (DECODER_OF_PE[g.pe] !== decoder) {
      throw new UserError(
        `${where}: invalid combination: PE kind ${g.pe} (${PE_KINDS[g.pe].doc}) takes the operand of decoder ${DECODER_OF_PE[g.pe]}, ` +
          `not decoder ${decoder}; ${COMPOSITION_TEXT}`,
      );
    }
  }
  const flexAt = grid.findIndex((g) => g.pe === "flex");
  if (flexAt >= 0 && flexAt !== grid.length - 1) {
    throw new UserError(
      `${where}: invalid combination: the flex row group must come last in parts.grid: flexible rows sit at the bottom of the array, ` +
        `next to the output, where their 32-bit partial sums meet the narrow rows' sum`,
    );
  }
  const main = grid.find((g) => g.pe !== "flex")?.pe ?? null;
  const flexLines = flexAt >= 0 ? grid[flexAt].rows : 0;
  const match = COMPOSITIONS.find((c) => c.decoder === decoder && c.main === main && c.flex === flexLines > 0);
  if (!match) throw new UserError(`${where}: invalid combination: decoder ${decoder} with grid ${gridText(grid)}; ${COMPOSITION_TEXT}`);
  return { arch: match.arch, rows: grid.reduce((s, g) => s + g.rows, 0), flexLines };
}

export function gridText(grid: GridGroup[]): string {
  return grid.map((g) => `${g.pe}:${g.rows}`).join(",");
}

/** Parses the `--grid` flag: comma-separated `<pe>:<rows>` groups, top row first. */
export function parseGridFlag(s: string): { pe: string; rows: number }[] {
  return s.split(",").map((part) => {
    const m = /^\s*([a-z0-9]+)\s*:\s*(\S+)\s*$/.exec(part);
    if (!m) throw new UserError(`invalid --grid group '${part}': expected <pe>:<rows>, e.g. --grid eff:14,flex:2 (PE kinds ${Object.keys(PE_KINDS).join(", ")})`);
    const rows = Number(m[2]);
    if (!Number.isInteger(rows) || rows < 1 || rows > 256) throw new UserError(`invalid --grid group '${part.trim()}': rows = '${m[2]}' must be an integer in 1..256`);
    return { pe: m[1], rows };
  });
}
