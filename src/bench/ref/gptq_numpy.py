"""GPTQ int4 weights in numpy: the reference the `gptq` bench section times oltron against.

The same algorithm as src/quant/gptq.ts, step for step, so that the two differ only in who
does the arithmetic: H = X^T X; dead channels (never active) get H[c, c] = 1 and zero weights;
damping of 1% of the mean diagonal (raised by 0.0015 while the Cholesky fails); U with
H^-1 = U^T U from the Cholesky factor L of the index-reversed H (U = J L^-1 J); scales
max |w[:, n]| / 7; rows rounded in natural order in lazy batches of 128 (within a batch each
row's error goes to the batch's later rows, after it the batch's errors go to all later rows
as one matrix product), as the GPTQ release does.

numpy has no triangular inverse, so L^-1 is np.linalg.inv (an LU solve); that is the fastest
numpy-only route to U. float64 throughout, as oltron.

Usage: python3 gptq_numpy.py X.npy W.npy CODES_OUT [PERC_DAMP]
X is [M x K], W is [K x N] (any float dtype). CODES_OUT receives the int4 codes (-8..7) as raw
int8, row-major [K x N]. Prints one JSON line: seconds per phase and the BLAS numpy uses.
"""
import json
import sys
import time

import numpy as np

BLOCK = 128


def blas_name():
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        return " ".join(str(deps["blas"].get(f, "")) for f in ("name", "version")).strip()
    except Exception:  # numpy < 1.25 has no mode="dicts": say so rather than guess
        return "unknown (numpy %s)" % np.__version__


def inverse_upper_factor(h, perc_damp):
    k = h.shape[0]
    damp_unit = np.mean(np.diag(h))
    diag = np.diag_indices(k)
    while True:
        g = h[::-1, ::-1].copy()
        g[diag] += perc_damp * damp_unit
        try:
            lower = np.linalg.cholesky(g)
            break
        except np.linalg.LinAlgError:
            if perc_damp >= 1:
                return None, perc_damp
            perc_damp += 0.0015
    # Only U's upper triangle is read below, so the LU's rounding-level values under the
    # diagonal need no clearing.
    return np.linalg.inv(lower)[::-1, ::-1], perc_damp


def gptq(x, w, perc_damp):
    t = {}
    t0 = time.perf_counter()
    h = x.T @ x
    t["hessian"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    k, n = w.shape
    mx = np.abs(w).max(axis=0)
    ws = np.where(mx > 0, mx / 7, 1.0)
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w = w.copy()
    w[dead, :] = 0
    u, perc_damp = inverse_upper_factor(h, perc_damp)
    t["factor"] = time.perf_counter() - t0
    if u is None:
        raise SystemExit("gptq_numpy: the Hessian did not factor even at 100% damping")

    t0 = time.perf_counter()
    q = np.empty((k, n))
    for i1 in range(0, k, BLOCK):
        i2 = min(i1 + BLOCK, k)
        w1 = w[i1:i2].copy()
        err1 = np.empty((i2 - i1, n))
        u1 = u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            row = w1[i]
            qi = np.clip(np.rint(row / ws), -8, 7)  # rint rounds half to even, as encodeInt4
            q[i1 + i] = qi
            err = (row - qi * ws) / u1[i, i]
            w1[i + 1:] -= np.outer(u1[i, i + 1:], err)
            err1[i] = err
        w[i2:] -= u[i1:i2, i2:].T @ err1
    t["update"] = time.perf_counter() - t0
    return q, perc_damp, int(dead.sum()), t


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    x = np.load(sys.argv[1]).astype(np.float64)
    w = np.load(sys.argv[2]).astype(np.float64)
    perc_damp = float(sys.argv[4]) if len(sys.argv) == 5 else 0.01
    t0 = time.perf_counter()
    q, perc_damp, dead, t = gptq(x, w, perc_damp)
    t["total"] = time.perf_counter() - t0
    q.astype(np.int8).tofile(sys.argv[3])
    print(json.dumps({"seconds": t, "percDamp": perc_damp, "deadChannels": dead, "numpy": np.__version__, "blas": blas_name()}))


if __name__ == "__main__":
    main()
