/**
 * What every report page shares: the embedded Chart.js (so a page opens offline), HTML
 * escaping and CSV writing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";

/** Chart.js's UMD build, inlined into each page. It sits beside the package entry (its exports map does not name it). */
export function chartJsSource(): string {
  const require = createRequire(import.meta.url);
  return fs.readFileSync(path.join(path.dirname(require.resolve("chart.js")), "chart.umd.js"), "utf8");
}

export function csv(rows: (string | number)[][]): string {
  return rows.map((r) => r.map((v) => (typeof v === "string" && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v))).join(",")).join("\n") + "\n";
}

export const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
