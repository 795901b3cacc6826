/** Public surface of the dataflow pass (TOBE reorder folding). */
export type { Graph, Node, LinearNode, NormNode, AttentionNode, SoftmaxNode, ReorderNode, ElementwiseNode, Op } from "./graph.js";
export { analyze, linears, countReorders } from "./graph.js";
export type { Param, ParamSource, Precision, FloatArray } from "./params.js";
export { materialize, permuteParam } from "./params.js";
export { buildBlocks, example, exampleNames, EXAMPLES, type Arch, type BlockConfig } from "./blocks.js";
export { evaluate, outputs, type Activation, type Evaluation } from "./eval.js";
export { foldReorders, type FoldResult, type PlanEntry, type PermMap, type Placement, type Refusal, type RefusalKind } from "./fold.js";
export { withExplicitReorders } from "./naive.js";
export { derivePermutations, tobeLikePermutation, seededImportance, type DeriveOptions, type ImportanceSource } from "./derive.js";
export { linearOperands, type LinearOperand } from "./operands.js";
export { modelFromJson, graphToJson, paramFromJson, paramToJson, GRAPH_FORMAT, BLOCKS_FORMAT, type Model, type PermutationSpec } from "./json.js";
export { permutationsFor, planModel, formatPlan, planToJson } from "./plan.js";
export * as perm from "./perm.js";
