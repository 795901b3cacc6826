/**
 * The oltron library: the same functions the `oltron` command runs, for scripts and
 * notebooks. Each line below is one step of one of the two rivers:
 *   configuration -> elaborated design -> RTL files;
 *   tensors -> quantizer -> images -> golden model / simulator -> comparison.
 */
export { UserError } from "./core/errors.js";
export type { Tensor } from "./core/tensor.js";
export {
  decode, decodeInt4, encode, encodeInt4, decodeTable, FP8, FP12,
  type ElemType, type SalientType, type SalientKind,
} from "./core/formats.js";

// Design river.
export {
  DEFAULT_CONFIG, GENERATOR_VERSION, PARAMS, PRESETS, elaborate, resolveConfig, designFromJson,
  type ArchConfig, type ElaboratedDesign,
} from "./hw/design.js";
export { generateRtl, type GeneratedRtl } from "./hw/generate.js";
export { projectFiles, type ProjectFileOptions } from "./hw/project-files.js";
export { assembleMemoryImage } from "./sim/driver.js";
export { areaReport, type AreaReport } from "./hw/area.js";
export { siliconReport, mapModule, formatSilicon, LIBRARY, type SiliconReport, type ModuleSilicon, type RamSilicon, type TimingPath } from "./hw/silicon.js";
export { layerEnergy, formatEnergy, DRAM_PJ_PER_BIT, CONTROL_ACTIVITY, ENERGY_PARTS, type LayerEnergy, type LayerCost, type CostScales } from "./flows/energy.js";
export { runEvents, layerEvents, layerRamAccesses, type LayerEvents, type RunEvents } from "./flows/events.js";
export { predictCycles, manifestCycles, type CyclePrediction } from "./image/cycles.js";
export { imageActivity } from "./image/activity.js";
export { explorePoints, evaluatePoint, blockResults, pareto, pointDesign, type ExplorePoint, type PointResult, type BlockResult } from "./flows/explore.js";
export { loadExploreConfig, DEFAULT_EXPLORE, type ExploreConfig } from "./flows/explore-config.js";
export { ramCost, RAM_TABLE, type RamCost } from "./hw/ramcost.js";
export { ARCHS, ARCH_NAMES, PE_KINDS, DECODER_KINDS, type ArchName, type ActFormat } from "./hw/parts.js";
export { writeDesign, loadDesign } from "./flows/design.js";

// Data river.
export { readTensorFile, readNpy, writeNpy, readSafetensors, writeSafetensors, listSafetensors } from "./data/tensorio.js";
export { generateLayer, generateActivations, generateWeights, LAYER_TYPES, WEIGHT_MODELS, ACTIVATION_MODELS, type LayerType, type WeightModel, type ActivationModel } from "./data/synthetic.js";
export { calibrate, quantizeLayer, tokenScales, DEFAULT_PLAN, type ActScaling, type LayerInput, type LayerPlan, type QuantizedLayer } from "./quant/quantizer.js";
export { gptqInt4, type GptqResult, type WeightQuant } from "./quant/gptq.js";
export { rotateLayer, rotateActivations, rotateWeights, hadamardRotation, type RotatedLayer } from "./quant/rotation.js";
export { tileGeometry, type TileGeometry } from "./quant/tobe.js";
export { chooseModelPlan, formatPlanTable, type AdaptivePlan } from "./quant/adaptive.js";
export { buildImageSet, type ImageSet } from "./image/build.js";
export { loadManifest, type Manifest, type ManifestLayer } from "./image/manifest.js";
export { readOperands, readOutputBlock } from "./image/read.js";
export { quantizeToDir, parseLayerSpec, synthLayers } from "./flows/quantize.js";
export { blockLayers } from "./flows/block.js";
export { matmulMod32, quantError, type ErrorFigures } from "./golden.js";
export { runGolden, compareOutputs, type GoldenLayerResult, type Mismatch } from "./flows/golden.js";
export { simulate, simulateDesign, summarize, type SimResult, type SimOptions } from "./flows/simulate.js";
export { exportImages, exportLayer, type ExportedLayer } from "./flows/export.js";

// Accuracy benchmark: every baseline on the same held-out tokens.
export { runAccuracyBench, accuracyMarkdown, type AccuracyBenchOptions, type AccuracyBenchResult } from "./bench/accuracy.js";
export { prepareLayer, int4PerTensor, int4PerToken, int8PerTensor, ovp, tobeQuantize, type MethodResult, type PreparedLayer } from "./quant/baselines.js";
export { olive } from "./quant/olive.js";
export { quarot, oltronAuthors, budgetRatio } from "./quant/released.js";

// Dataflow planning (TOBE reorder folding).
export { planModel, formatPlan, planToJson, modelFromJson, buildBlocks, type Model } from "./dataflow/index.js";
