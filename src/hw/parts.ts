/**
 * The parts an accelerator is composed of: PE kinds, decoder kinds and the architectures
 * that combine them (docs/architecture.md, "Architectures"). Each part declares what it
 * accepts, the template that generates it and the arithmetic bound elaboration derives the
 * partial-sum width from; the pipeline stages, buffers and AXI shell are shared by every
 * architecture. The golden model's side of each part lives with the formats
 * (core/formats.ts for TOBE, core/actformats.ts for int8 and OVP).
 */

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
