"""Fake quantization of a linear layer's input exactly as an oltron plan quantizes it.

`fake_quant(x, layer)` takes activations x [..., K] (numpy) and one entry of an image folder's
manifest.json `layers` list, and returns x with the plan's quantization applied, in the
original channel order and in x's units: the channels in salient slots as fp8 (E5M2) or
fp12 (E5M6) codes, the others as int4, in units of the layer's static scale (actScale) or,
with per-token scaling, of each row's own scale (plan.clip x the row's largest magnitude
over its int4 channels / 7). The arithmetic is docs/formats.md and SPEC section 2; a test checks the
result against `oltron quantize --export`.

`attach(linear, layer)` registers a forward pre-hook on a torch nn.Linear that replaces its
input by fake_quant(input): run a model with the exported weights (W_dq) and these hooks to
measure perplexity under the plan (docs/quantization.md, "Taking a plan back to PyTorch").
"""
import numpy as np

# Subnormal step 1 and the number of mantissa bits of each salient type; the exponent field
# never reaches 31, so the largest magnitude is (2^mb + 2^mb - 1) << 29.
_FLOAT = {"fp8": 2, "fp12": 6}


def _round_float(v, mant_bits):
    """Nearest value of the E5M<mant_bits> grid in integer units, ties to an even mantissa."""
    a = np.abs(v)
    lead = 2 ** mant_bits
    top = float((2 * lead - 1) * 2.0 ** 29)
    # floor(log2 a), exactly: a = f * 2^e with f in [0.5, 1).
    _, e = np.frexp(a)
    step = np.where(a >= lead, np.ldexp(1.0, e - 1 - mant_bits), 1.0)
    q = np.round(a / step) * step  # numpy rounds half to even, so the mantissa ties go even
    return np.sign(v) * np.minimum(q, top)


def salient_channels(layer):
    """The channels in salient slots (the plan's own and the promoted ones)."""
    return [c for c in layer["salientSet"] if c >= 0]


def fake_quant(x, layer):
    x = np.asarray(x, dtype=np.float64)
    k = layer["k"]
    if x.shape[-1] != k:
        raise ValueError(f"layer {layer['name']}: activations have {x.shape[-1]} channels, the plan {k}")
    rows = x.reshape(-1, k)
    salient = np.zeros(k, dtype=bool)
    salient[salient_channels(layer)] = True
    plan = layer["plan"]
    if plan.get("scaling") == "token":
        # The row's scale covers its int4 channels: all but those in salient slots.
        normal_max = np.abs(np.where(salient, 0.0, rows)).max(axis=1)
        all_max = np.abs(rows).max(axis=1)
        scale = np.where(normal_max > 0, plan["clip"] * normal_max / 7, np.where(all_max > 0, all_max / 7, 1.0))[:, None]
    else:
        scale = layer["actScale"]
    v = rows / scale
    q = np.clip(np.round(v), -8, 7)
    if layer["salientType"] != "none":
        q[:, salient] = _round_float(v[:, salient], _FLOAT[layer["salientType"]])
    return (q * scale).reshape(x.shape) + 0.0  # -0 -> +0, as the decoder gives


def attach(linear, layer):
    """Fake-quantizes the input of a torch nn.Linear on every forward pass."""
    import torch

    def hook(_module, args):
        (inp,) = args
        out = fake_quant(inp.detach().float().cpu().numpy(), layer)
        return (torch.from_numpy(out).to(dtype=inp.dtype, device=inp.device),)

    return linear.register_forward_pre_hook(hook)


if __name__ == "__main__":
    # python3 oltron_fakequant.py <images>/manifest.json <layer> <x.npy> <out.npy>
    import json
    import sys

    manifest, name, src, dst = sys.argv[1:5]
    layers = {entry["name"]: entry for entry in json.load(open(manifest))["layers"]}
    np.save(dst, fake_quant(np.load(src), layers[name]).astype(np.float32))
