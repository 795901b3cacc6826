/**
 * The naive TOBE deployment: an explicit gather before every permuted linear, whose weight
 * rows carry the same permutation. It computes exactly what the original graph computes,
 * and is built independently of the pass so it can serve as the pass's reference.
 */
import { UserError } from "../core/errors.js";
import type { Graph, Node } from "./graph.js";
import { isIdentity } from "./perm.js";
import { permuteParam } from "./params.js";
import type { PermMap } from "./fold.js";

export function withExplicitReorders(g: Graph, perms: PermMap): Graph {
  const map = perms instanceof Map ? perms : new Map(Object.entries(perms));
  const nodes: Node[] = [];
  const used = new Set<string>();
  for (const n of g.nodes) {
    const p = map.get(n.name);
    if (n.op !== "linear" || !p || isIdentity(p)) {
      nodes.push(n);
      continue;
    }
    used.add(n.name);
    const name = `${n.name}.reorder`;
    nodes.push({ op: "reorder", name, inputs: [n.inputs[0]], perm: [...p] });
    nodes.push({ ...n, inputs: [name], weight: permuteParam(n.weight, 0, p), perm: [...p] });
  }
  for (const k of map.keys()) if (!used.has(k) && !g.nodes.some((n) => n.name === k && n.op === "linear")) {
    throw new UserError(`permutation given for '${k}', which is not a linear of graph '${g.name}'`);
  }
  return { ...g, nodes };
}
