/**
 * The RAM table (docs/ppa.md, "RAM table"): area, energy per access, leakage and read access
 * time of one synchronous RAM macro with one write and one read port at 0.18 um, as a function
 * of its width and depth. The accelerator's RAMs are priced and timed by this table instead of
 * being synthesised.
 *
 * Source: CACTI 7 (HewlettPackard/cacti, commit 1ffd8df) with its own technology file
 * tech_params/180nm.dat (itrs-hp cells and periphery, 1.5 V), one read and one write port,
 * no ECC, 300 K, design objective 0:100:1000:0:100; CACTI rejects feature sizes above 90 nm,
 * so that one input check was lifted to run it. Modelled, not measured. The grid below is
 * CACTI's output; between grid points values are interpolated log-log in width and depth,
 * outside it extrapolated along the nearest segment, except that a RAM wider than 1024 bits is
 * priced as 1024-bit macros side by side. Dynamic energies are scaled from CACTI's
 * 1.5 V to the library's 1.8 V by V^2 (x1.44), leakage by V (x1.2); access times are kept at
 * 1.5 V (slower than at 1.8 V, so Fmax is not flattered).
 */

export interface RamCost {
  areaUm2: number;
  /** Energy of one read / one write of a whole word (pJ, 1.8 V). */
  readPj: number;
  writePj: number;
  /** Leakage of the macro (nW, 1.8 V). */
  leakageNw: number;
  /** Clock to read data (ns). */
  accessNs: number;
}

/** [width bits, depth words, access ns, read pJ, write pJ, leakage uW, area mm^2] at 1.5 V, from CACTI. */
export const CACTI_180NM: readonly (readonly [number, number, number, number, number, number, number])[] = [
  [32, 64, 1.537, 10.85, 16.37, 3.134, 0.03447],
  [32, 128, 1.605, 13.17, 24.62, 6.233, 0.06337],
  [32, 256, 1.903, 14.18, 37.49, 11.9, 0.1281],
  [32, 1024, 2.382, 31.42, 72.65, 41.12, 0.4356],
  [32, 4096, 2.569, 92.39, 98.87, 171.4, 1.51],
  [64, 64, 1.645, 21.87, 32.92, 5.651, 0.07154],
  [64, 256, 2.009, 27.33, 73.95, 21.28, 0.2266],
  [64, 1024, 2.543, 58.4, 140.9, 77.37, 0.7934],
  [64, 4096, 3.333, 151.8, 272, 340.8, 2.966],
  [128, 64, 1.797, 47.74, 69.82, 10.42, 0.1706],
  [128, 256, 2.165, 57.45, 150.7, 39.54, 0.4481],
  [128, 1024, 2.569, 125.8, 290.7, 171.4, 1.611],
  [128, 4096, 3.531, 324.6, 564.9, 653.5, 5.966],
  [256, 64, 1.835, 126, 170.2, 22.85, 0.5012],
  [256, 256, 2.203, 144.2, 330.7, 87.11, 1.039],
  [256, 1024, 3.333, 218.6, 974.3, 341.2, 3.176],
  [256, 4096, 3.943, 769.8, 1251, 1218, 12.01],
  [512, 64, 2.027, 382, 470.4, 44.6, 1.557],
  [512, 256, 2.395, 417.2, 790.2, 167.4, 2.612],
  [512, 1024, 3.531, 559.5, 2071, 655.6, 6.811],
  [512, 4096, 5.656, 1430, 4094, 2433, 23.83],
  [1024, 64, 2.422, 1298, 1474, 87.41, 5.191],
  [1024, 256, 2.803, 1367, 2113, 315.7, 7.216],
  [1024, 1024, 3.943, 1645, 4668, 1226, 15.28],
  [1024, 4096, 6.73, 3919, 9249, 4662, 51]
];

export const RAM_TABLE = {
  version: 1,
  source: "CACTI 7, tech_params/180nm.dat, 1R1W, interpolated; dynamic energy scaled 1.5 -> 1.8 V",
  /** Dynamic energy and leakage scale factors from CACTI's 1.5 V to the library's 1.8 V. */
  energyScale: (1.8 / 1.5) ** 2,
  leakageScale: 1.8 / 1.5,
  /** Input setup time to the clock edge the liberty model states for every RAM input (ns): an assumption, not from CACTI. */
  setupNs: 0.3,
  /** Input pin capacitance (pF) and output slew (ns) of the liberty model: assumptions of the order of a standard cell's. */
  pinCapPf: 0.01,
  outSlewNs: 0.2,
};

const WIDTHS = [...new Set(CACTI_180NM.map((r) => r[0]))].sort((a, b) => a - b);
const DEPTHS = [...new Set(CACTI_180NM.map((r) => r[1]))].sort((a, b) => a - b);

function at(w: number, d: number): readonly number[] {
  const r = CACTI_180NM.find((x) => x[0] === w && x[1] === d);
  if (!r) throw new Error(`RAM table has no entry ${w}x${d}`);
  return r;
}

/** The two grid points bracketing x (or the nearest segment outside the grid) and the log-space fraction. */
function bracket(grid: number[], x: number): [number, number, number] {
  let i = 0;
  while (i < grid.length - 2 && x > grid[i + 1]) i++;
  const [a, b] = [grid[i], grid[i + 1]];
  return [a, b, Math.log(x / a) / Math.log(b / a)];
}

/** Log-log interpolation of column `col` at (width, depth); positive quantities only. */
function interp(col: number, width: number, depth: number): number {
  // The 32-bit row has an extra depth point (128); every other width shares the common depths.
  const depths = DEPTHS.filter((d) => WIDTHS.every((w) => CACTI_180NM.some((r) => r[0] === w && r[1] === d)));
  const [w0, w1, fw] = bracket(WIDTHS, width);
  const [d0, d1, fd] = bracket(depths, depth);
  const lg = (w: number, d: number) => Math.log(at(w, d)[col]);
  const v0 = lg(w0, d0) * (1 - fd) + lg(w0, d1) * fd;
  const v1 = lg(w1, d0) * (1 - fd) + lg(w1, d1) * fd;
  return Math.exp(v0 * (1 - fw) + v1 * fw);
}

export function ramCost(width: number, depth: number): RamCost {
  // Wider than the grid: macros of the widest width side by side, all accessed together.
  const maxW = WIDTHS[WIDTHS.length - 1];
  if (width > maxW) {
    const k = Math.ceil(width / maxW);
    const one = ramCost(maxW, depth);
    return { accessNs: one.accessNs, readPj: k * one.readPj, writePj: k * one.writePj, leakageNw: k * one.leakageNw, areaUm2: k * one.areaUm2 };
  }
  return {
    accessNs: interp(2, width, depth),
    readPj: interp(3, width, depth) * RAM_TABLE.energyScale,
    writePj: interp(4, width, depth) * RAM_TABLE.energyScale,
    leakageNw: interp(5, width, depth) * 1000 * RAM_TABLE.leakageScale,
    areaUm2: interp(6, width, depth) * 1e6,
  };
}
