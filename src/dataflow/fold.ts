/**
 * The dataflow pass: place every TOBE input reorder where it costs nothing. Each layout
 * class (see classes.ts) gets one channel order, chosen among the permutations its linear
 * readers demand; the class's producers then write in that order (linear: permuted weight
 * columns and bias; norm: permuted output addressing and gamma/beta). A reader whose
 * permutation cannot be honoured keeps an explicit reorder node, and the plan says why.
 */
import { UserError } from "../core/errors.js";
import { layoutClasses, tiePath, type Classes, type LayoutClass } from "./classes.js";
import type { AttentionNode, Graph, LinearNode, Node, Op } from "./graph.js";
import { between, blockMap, blockPerm, checkPerm, identity, isIdentity, samePerm } from "./perm.js";
import { permuteParam } from "./params.js";

export type Placement = "none" | "folded" | "fused" | "explicit";
export type RefusalKind = "residual" | "fixed" | "reduction" | "cross-head" | "head-order" | "conflict";

export interface Refusal {
  kind: RefusalKind;
  reason: string;
}

export interface PlanEntry {
  linear: string;
  /** The value the linear reads (before any explicit reorder). */
  input: string;
  channels: number;
  /** TOBE permutation the linear's weight rows carry. */
  perm: number[];
  placement: Placement;
  /** Where the reorder went: producers writing permuted columns, norms with permuted addressing, q/k projections whose heads follow. */
  into: Array<{ node: string; how: "columns" | "addressing" | "head-order" }>;
  /** Ops the permutation passes through on its way to the producers. */
  through: Array<{ node: string; op: Op }>;
  /** Only for placement "explicit". */
  refusal?: Refusal;
}

export interface FoldResult {
  graph: Graph;
  plan: PlanEntry[];
  explicitReorders: number;
}

export type PermMap = ReadonlyMap<string, readonly number[]> | Readonly<Record<string, readonly number[]>>;

type Feasibility = { derived: Array<{ cls: LayoutClass; perm: number[]; attention: AttentionNode }> } | { refusal: Refusal };

export function foldReorders(g: Graph, perms: PermMap): FoldResult {
  checkUnrewritten(g);
  const cl = layoutClasses(g);
  const want = resolvePerms(g, cl, perms);
  const layout = new Map<LayoutClass, number[]>();
  const followers = new Map<LayoutClass, AttentionNode>();
  const heads = new Map<LayoutClass, LayoutClass[]>();
  for (const c of cl.list) {
    if (c.qkOf.length) continue; // q/k order follows the attention's head order, decided with its v
    for (const cand of ranked(c.consumers.map((l) => want.get(l.name)!))) {
      if (isIdentity(cand)) break;
      const f = feasible(cl, c, cand, c.consumers[0].inputs[0]);
      if ("refusal" in f) continue;
      layout.set(c, cand);
      heads.set(c, f.derived.map((d) => d.cls));
      for (const d of f.derived) {
        layout.set(d.cls, d.perm);
        followers.set(d.cls, d.attention);
      }
      break;
    }
  }
  const orderOf = (v: string) => layout.get(cl.of.get(v)!) ?? identity(cl.analysis.channels.get(v)!);
  const graph = rewrite(g, want, orderOf);
  const plan = g.nodes
    .filter((n): n is LinearNode => n.op === "linear")
    .map((l) => entry(cl, l, want, layout, heads, followers));
  return { graph, plan, explicitReorders: graph.nodes.filter((n) => n.op === "reorder").length };
}

function checkUnrewritten(g: Graph): void {
  for (const n of g.nodes) {
    const already =
      n.op === "reorder" ? "is an explicit reorder" : n.op === "linear" && n.perm ? "already carries a TOBE permutation" : "outPerm" in n && n.outPerm ? "already has permuted output addressing" : "";
    if (already) throw new UserError(`node '${n.name}' ${already}: the pass takes the original (unpermuted) graph plus a permutation per linear`);
  }
}

function resolvePerms(g: Graph, cl: Classes, perms: PermMap): Map<string, number[]> {
  const entries = perms instanceof Map ? [...perms.entries()] : Object.entries(perms);
  const lin = new Map(g.nodes.filter((n): n is LinearNode => n.op === "linear").map((n) => [n.name, n]));
  const want = new Map<string, number[]>();
  for (const [name, p] of entries) {
    const l = lin.get(name);
    if (!l) {
      const known = [...lin.keys()];
      throw new UserError(`permutation given for '${name}', which is not a linear of graph '${g.name}' (linears: ${known.slice(0, 8).join(", ")}${known.length > 8 ? ", …" : ""})`);
    }
    want.set(name, checkPerm(p, cl.analysis.channels.get(l.inputs[0])!, `permutation of '${name}'`));
  }
  for (const [name, l] of lin) if (!want.has(name)) want.set(name, identity(cl.analysis.channels.get(l.inputs[0])!));
  return want;
}

/** Distinct demanded orders, most demanded first; ties go to the reader first in graph order. */
function ranked(demands: number[][]): number[][] {
  const groups: Array<{ perm: number[]; count: number }> = [];
  for (const d of demands) {
    const g = groups.find((x) => samePerm(x.perm, d));
    if (g) g.count++;
    else groups.push({ perm: d, count: 1 });
  }
  return groups.sort((a, b) => b.count - a.count).map((x) => x.perm);
}

/** Whether class `c` can take order `p` without changing any result, and what must follow it. */
function feasible(cl: Classes, c: LayoutClass, p: number[], from: string): Feasibility {
  if (c.fixed.length) return { refusal: pinned(cl, c, from) };
  for (const s of c.groupings) {
    if (s.groups === 1) continue; // a softmax over all channels is permutation-equivariant
    const size = cl.analysis.channels.get(s.name)! / s.groups;
    const m = blockMap(p, size);
    if ("crossing" in m) {
      const x = m.crossing;
      return {
        refusal: {
          kind: "reduction",
          reason: `softmax '${s.name}' normalises over ${s.groups} groups of ${size} channels; the permutation fills group ${x.block} with channels of groups ${x.sources[0]} and ${x.sources[1]} (e.g. ${x.channels[0]} and ${x.channels[1]}), which changes what each group sums over`,
        },
      };
    }
  }
  const derived: Array<{ cls: LayoutClass; perm: number[]; attention: AttentionNode }> = [];
  for (const a of c.vOf) {
    const dv = cl.analysis.channels.get(a.name)! / a.heads;
    const m = blockMap(p, dv);
    if ("crossing" in m) {
      const x = m.crossing;
      return {
        refusal: {
          kind: "cross-head",
          reason: `attention '${a.name}' scores each of its ${a.heads} heads from that head's own q/k channels; the permutation fills head ${x.block} with v channels of heads ${x.sources[0]} and ${x.sources[1]} (e.g. ${x.channels[0]} and ${x.channels[1]}), mixing heads. Foldable orders move v channels within a head, or move whole heads`,
        },
      };
    }
    if (isIdentity(m.rho)) continue;
    const dq = cl.analysis.channels.get(a.inputs[0])! / a.heads;
    const qp = blockPerm(m.rho, dq);
    for (const v of new Set([a.inputs[0], a.inputs[1]])) {
      const qc = cl.of.get(v)!;
      const why = cannotFollow(cl, qc, v, a, qp);
      const clash = derived.find((d) => d.cls === qc && !samePerm(d.perm, qp));
      if (why || clash) {
        return {
          refusal: {
            kind: "head-order",
            reason: `the permutation moves whole heads of attention '${a.name}' (head order ${m.rho.join(",")}), which needs its q and k heads moved identically, but '${v}' ${why ?? "is shared with another attention that needs a different head order"}`,
          },
        };
      }
      derived.push({ cls: qc, perm: qp, attention: a });
    }
  }
  return { derived };
}

function cannotFollow(cl: Classes, qc: LayoutClass, v: string, a: AttentionNode, qp: number[]): string | undefined {
  const f = qc.fixed[0];
  if (f) return `${f.value === v ? `is a ${f.what}` : `is tied to the ${f.what} '${f.value}'`}, which stays in original channel order`;
  if (qc.qkOf.some((b) => b !== a)) return `also feeds attention '${qc.qkOf.find((b) => b !== a)!.name}'`;
  if (qc.vOf.length) return `is also the v side of attention '${qc.vOf[0].name}'`;
  for (const s of qc.groupings) {
    if (s.groups > 1 && "crossing" in blockMap(qp, cl.analysis.channels.get(s.name)! / s.groups)) return `passes through grouped softmax '${s.name}'`;
  }
  return undefined;
}

function pinned(cl: Classes, c: LayoutClass, from: string): Refusal {
  const f = c.fixed[0];
  if (f.value === from) return { kind: "fixed", reason: `'${from}' is ${f.what === "graph input" ? "the graph input" : "a graph output"}, which stays in original channel order` };
  const path = tiePath(cl, from, f.value);
  const step = path.find((t) => t.node.op === "add");
  if (step) {
    const add = step.node;
    const other = add.inputs.includes(step.from) ? add.inputs.find((v) => v !== step.from) ?? step.from : step.to;
    const at = from === add.name ? `'${from}' is the sum of residual add '${add.name}'` : `'${from}' reaches residual add '${add.name}'`;
    return {
      kind: "residual",
      reason: `${at}, whose operand '${other}' stays in original channel order (it is tied to the ${f.what} '${f.value}'); an add needs both operands in one order, so the permutation cannot pass it`,
    };
  }
  const via = path.map((t) => `'${t.node.name}'`).join(" -> ");
  return { kind: "fixed", reason: `'${from}' is tied to the ${f.what} '${f.value}' through ${via}, which stays in original channel order` };
}

function rewrite(g: Graph, want: Map<string, number[]>, orderOf: (v: string) => number[]): Graph {
  const taken = new Set([g.input.name, ...g.nodes.map((n) => n.name)]);
  const nodes: Node[] = [];
  for (const n of g.nodes) {
    const out = orderOf(n.name);
    const permOut = !isIdentity(out);
    if (n.op === "linear") {
      const perm = want.get(n.name)!;
      const stored = orderOf(n.inputs[0]);
      let input = n.inputs[0];
      if (!samePerm(stored, perm)) {
        let name = `${n.name}.reorder`;
        while (taken.has(name)) name += "_";
        taken.add(name);
        nodes.push({ op: "reorder", name, inputs: [input], perm: between(stored, perm) });
        input = name;
      }
      let weight = isIdentity(perm) ? n.weight : permuteParam(n.weight, 0, perm);
      if (permOut) weight = permuteParam(weight, 1, out);
      const bias = n.bias && permOut ? permuteParam(n.bias, 0, out) : n.bias;
      nodes.push({ ...n, inputs: [input], weight, ...(bias ? { bias } : {}), ...(isIdentity(perm) ? {} : { perm }) });
    } else if (n.op === "rmsnorm" || n.op === "layernorm") {
      const addr = between(orderOf(n.inputs[0]), out);
      nodes.push({
        ...n,
        gamma: permOut ? permuteParam(n.gamma, 0, out) : n.gamma,
        ...(n.beta ? { beta: permOut ? permuteParam(n.beta, 0, out) : n.beta } : {}),
        ...(isIdentity(addr) ? {} : { outPerm: addr }),
      });
    } else {
      nodes.push({ ...n });
    }
  }
  return { ...g, outputs: [...g.outputs], nodes };
}

function entry(
  cl: Classes,
  l: LinearNode,
  want: Map<string, number[]>,
  layout: Map<LayoutClass, number[]>,
  heads: Map<LayoutClass, LayoutClass[]>,
  followers: Map<LayoutClass, AttentionNode>,
): PlanEntry {
  const input = l.inputs[0];
  const c = cl.of.get(input)!;
  const perm = want.get(l.name)!;
  const channels = perm.length;
  const chosen = layout.get(c) ?? identity(channels);
  const base = { linear: l.name, input, channels, perm, into: [] as PlanEntry["into"], through: [] as PlanEntry["through"] };
  if (samePerm(chosen, perm)) {
    if (isIdentity(perm)) return { ...base, placement: "none" };
    const into: PlanEntry["into"] = c.sources.map((s) => ({ node: s.name, how: s.op === "linear" ? ("columns" as const) : ("addressing" as const) }));
    for (const qc of heads.get(c) ?? []) for (const s of qc.sources) if (!into.some((x) => x.node === s.name)) into.push({ node: s.name, how: "head-order" });
    const placement = c.sources.some((s) => s.op === "linear") ? "folded" : "fused";
    return { ...base, placement, into, through: c.through.map((n) => ({ node: n.name, op: n.op })) };
  }
  return { ...base, placement: "explicit", refusal: refusalFor(cl, c, l, perm, chosen, want, followers) };
}

function refusalFor(
  cl: Classes,
  c: LayoutClass,
  l: LinearNode,
  perm: number[],
  chosen: number[],
  want: Map<string, number[]>,
  followers: Map<LayoutClass, AttentionNode>,
): Refusal {
  const input = l.inputs[0];
  const a = followers.get(c) ?? c.qkOf[0];
  if (a) {
    return {
      kind: "head-order",
      reason: `'${input}' feeds attention '${a.name}' as q/k, so its channel order is the attention's head order${isIdentity(chosen) ? " (original)" : ""}, not a reader's choice`,
    };
  }
  if (!isIdentity(perm)) {
    const f = feasible(cl, c, perm, input);
    if ("refusal" in f) return f.refusal;
  }
  const readers = c.consumers.map((x) => x.name);
  const sharing = c.consumers.filter((x) => samePerm(want.get(x.name)!, chosen)).map((x) => x.name);
  const what = isIdentity(chosen) ? "the original order" : `the permutation of '${sharing[0]}'`;
  return {
    kind: "conflict",
    reason: `'${input}' has one channel order for all its readers (${readers.join(", ")}); ${what} was chosen (wanted by ${sharing.length} of ${readers.length}; ties go to the first in graph order), and '${l.name}' wants a different one`,
  };
}
