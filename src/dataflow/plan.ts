/** Turning a model file into a plan, and the plan into text a person or a script reads. */
import { derivePermutations } from "./derive.js";
import { foldReorders, type FoldResult, type PlanEntry } from "./fold.js";
import type { Graph } from "./graph.js";
import type { Model, PermutationSpec } from "./json.js";

/** The permutation map a spec stands for: explicit layers first, the rest derived (or original order). */
export function permutationsFor(g: Graph, spec: PermutationSpec): Map<string, number[]> {
  const perms = spec.derive ? derivePermutations(g, { seed: spec.derive.seed }, spec.derive) : new Map<string, number[]>();
  for (const [k, p] of Object.entries(spec.layers)) perms.set(k, p);
  return perms;
}

export function planModel(m: Model): FoldResult {
  return foldReorders(m.graph, permutationsFor(m.graph, m.permutations));
}

export function where(e: PlanEntry): string {
  switch (e.placement) {
    case "none":
      return "identity permutation: nothing to reorder";
    case "fused":
      return `fused into ${e.into.map((i) => `'${i.node}'`).join(", ")} output addressing (norm parameters permuted)`;
    case "folded": {
      const cols = e.into.filter((i) => i.how === "columns").map((i) => `'${i.node}'`);
      const heads = e.into.filter((i) => i.how === "head-order").map((i) => `'${i.node}'`);
      const norms = e.into.filter((i) => i.how === "addressing").map((i) => `'${i.node}'`);
      const via = e.through.length ? ` through ${e.through.map((t) => `${t.op} '${t.node}'`).join(", ")}` : "";
      return (
        `folded into ${cols.join(", ")} weight columns${via}` +
        (heads.length ? `; heads of ${heads.join(", ")} reordered to match` : e.through.some((t) => t.op === "attention") ? " (v channels move within heads)" : "") +
        (norms.length ? `; ${norms.join(", ")} output addressing` : "")
      );
    }
    case "explicit":
      return `left explicit [${e.refusal!.kind}]: ${e.refusal!.reason}`;
  }
}

export function formatPlan(g: Graph, r: FoldResult): string {
  const rows = r.plan.map((e) => [e.linear, String(e.channels), e.placement, where(e)]);
  const head = ["linear", "K", "placement", "where"];
  const w = [0, 1, 2].map((i) => Math.max(head[i].length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => (i < 3 ? c.padEnd(w[i]) : c)).join("  ");
  const count = r.plan.filter((e) => e.placement !== "none").length;
  return [
    `TOBE reorder plan for '${g.name}': ${r.plan.length} linears, ${count} permuted`,
    line(head),
    line(w.map((n) => "-".repeat(n)).concat("-----")),
    ...rows.map(line),
    `explicit reorders left: ${r.explicitReorders}`,
  ].join("\n");
}

/** The plan as JSON; permutations themselves live in the rewritten graph (--out), not here. */
export function planToJson(g: Graph, r: FoldResult): object {
  return {
    graph: g.name,
    explicitReorders: r.explicitReorders,
    entries: r.plan.map((e) => ({
      linear: e.linear,
      input: e.input,
      channels: e.channels,
      placement: e.placement,
      into: e.into,
      through: e.through,
      ...(e.refusal ? { refusal: e.refusal } : {}),
      where: where(e),
    })),
  };
}
