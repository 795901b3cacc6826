/**
 * OliVe as released (Guo et al., ISCA 2023; clevercool/ANT-Quantization, directory
 * olive_quantization/antquant/quant_modules.py, mode "ant-int-flint", 4-bit activations):
 *
 * - normal values use one of two 4-bit signed types, chosen per tensor by the least mean
 *   squared error on the calibration data: int (magnitudes 0..7) or flint (magnitudes
 *   0, 0.25, 0.5, 0.75, 1, 1.5, 2, 4 of its largest), both placed so that the largest normal
 *   magnitude sits at 28 or 32 on a common grid whose outlier threshold is 32;
 * - outliers are E2M1 "abfloat" values 48, 64, 96, 128, 192, 256, 384 on that grid (exponent
 *   base 5, the code for 32 left out);
 * - every value is rounded to the nearest point of the joint grid (normal type + outliers);
 *   a value that lands on an outlier point is an outlier;
 * - outlier-victim pairs are adjacent values (0,1), (2,3), ... along the flattened tensor: if
 *   the even value is an outlier, the odd one is its victim (zeroed), even when the odd value
 *   is an outlier too (the release's keep-even rule); otherwise an outlier odd value makes the
 *   even one its victim;
 * - one activation scale per tensor: alpha = f * x3s with x3s = max(|mean + 3 std|,
 *   |mean - 3 std|) over the tensor and f = 0.75, 0.77, ..., 2.49 (the release's run scripts,
 *   --a_low 75 --a_up 250), alpha mapped to the largest normal grid value; the least MSE wins.
 *
 * Deviations (docs/quantization.md, section 4): the weights are the benchmark's shared int4
 * weights (RTN or GPTQ) instead of OliVe's own 4-bit weight quantizer, so only the activation
 * path is compared; float64 instead of the kernel's float32; the type and scale are chosen on the calibration tokens and then
 * fixed, as the release's first-batch initialisation does.
 */
import { outputError, type MethodResult, type PreparedLayer } from "./baselines.js";
import { oliveEncode, oliveGrid, oliveSearch } from "./olive-grid.js";

export { OLIVE_THRESHOLD, oliveEncode, oliveGrid, oliveRound, oliveSearch, type OliveGrid, type OliveType } from "./olive-grid.js";

/** OliVe's activations as released: type and scale from the calibration tokens, 4 bits per value. */
export function olive(p: PreparedLayer): MethodResult {
  // The release switches a tensor to the signed grids when it has a negative value.
  let signed = false;
  for (let i = 0; i < p.calib.data.length && !signed; i++) if (p.calib.data[i] < 0) signed = true;
  const searched = (["int", "flint"] as const).map((t) => ({ t, ...oliveSearch(p.calib, t, signed) }));
  // The release keeps the first type on an exact tie (argsort is stable: int first).
  const best = searched[1].mse < searched[0].mse ? searched[1] : searched[0];
  const grid = oliveGrid(best.t, signed);
  const scale = best.alpha / grid.normals[grid.normals.length - 1];
  const v = new Float64Array(p.x.data.length);
  for (let j = 0; j < v.length; j++) v[j] = p.x.data[j] / scale;
  const q = new Float64Array(v.length);
  const stats = oliveEncode(v, best.t, q, signed);
  // Integer operands: every grid point is a multiple of the grid's step.
  const unit = grid.unit;
  const aInt = q.map((g) => g / unit);
  const actScale = scale * unit;
  return {
    method: "olive", label: "OliVe as released (ant-int-flint, OVP)", bits: 4, storageBits: 4, actScale, aInt,
    error: outputError(p, aInt, actScale),
    detail: {
      type: best.t, signed, alpha: best.alpha, intMse: searched[0].mse, flintMse: searched[1].mse,
      outliers: stats.outliers, victims: stats.victims,
    },
  };
}
