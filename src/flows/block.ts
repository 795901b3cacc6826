/**
 * A transformer block's linear layers as quantizer inputs, with the quantizer's own TOBE
 * permutations folded into the graph (dataflow/).
 */
import type { Tensor } from "../core/tensor.js";
import { foldReorders, type FoldResult } from "../dataflow/fold.js";
import type { Graph } from "../dataflow/graph.js";
import { linearOperands } from "../dataflow/operands.js";
import type { ElaboratedDesign } from "../hw/design.js";
import { calibrate, type LayerInput, type LayerPlan } from "../quant/quantizer.js";
import { layerLayout } from "../quant/tobe.js";
import { layerName } from "../image/manifest.js";

export interface BlockLayers {
  layers: LayerInput[];
  fold: FoldResult;
}

/**
 * The linear layers of a transformer block, with the quantizer's own TOBE permutations
 * folded into the graph: each linear is calibrated on its real input, its TOBE layout is
 * computed for the design, that permutation is folded (into producer columns or norm
 * addressing), and the folded operands are quantized with the layout that keeps their
 * order. A folded layer's manifest permutation is therefore monotone: no reorder runs at
 * inference, only zero padding. A permutation the pass must refuse stays an explicit
 * reorder and is reported in `fold.plan`.
 */
export function blockLayers(d: ElaboratedDesign, graph: Graph, x: Tensor, plan: LayerPlan): BlockLayers {
  const layouts = new Map<string, { perm: Int32Array; channels: number[]; groups: number }>();
  const perms = new Map<string, number[]>();
  const heads = new Map<string, number>();
  for (const n of graph.nodes) if (n.op === "attention") heads.set(n.name, n.heads);
  const groupsOf = new Map<string, number>();
  for (const n of graph.nodes) if (n.op === "linear") groupsOf.set(n.name, heads.get(n.inputs[0]) ?? 1);
  for (const op of linearOperands(graph, x)) {
    // A linear fed by attention (o_proj) gets head-aware TOBE, so its permutation can fold.
    const groups = plan.salientType === "none" ? 1 : groupsOf.get(op.name) ?? 1;
    const cal = calibrate(op.x, plan, op.name);
    const { geometry: g, perm } = layerLayout(d, op.x.shape[1], cal.salient, cal.order, plan.salientType, groups);
    const order = Array.from(perm).filter((c) => c >= 0);
    perms.set(op.name, order);
    const position = new Int32Array(order.length);
    order.forEach((c, i) => (position[c] = i));
    // The same layout in the folded operand's own channel order.
    const layout = perm.map((c) => (c < 0 ? -1 : position[c]));
    const channels: number[] = [];
    for (let i = 0; i < layout.length; i++) if (i % g.tileChannels < g.s && layout[i] >= 0) channels.push(layout[i]);
    layouts.set(op.name, { perm: layout, channels, groups });
  }
  const fold = foldReorders(graph, perms);
  const layers = linearOperands(fold.graph, x).map((op, i) => {
    const l = layouts.get(op.name)!;
    return {
      name: layerName(op.name, `L${i}`), x: op.x, w: op.w, layout: l.perm,
      plan: plan.salientType === "none" ? plan : { salientType: plan.salientType, channels: l.channels, ...(l.groups > 1 ? { groups: l.groups } : {}) },
    };
  });
  return { layers, fold };
}
