"""The one comparison primitive, `cmp(name, ours, theirs)`, and the tolerances it is judged by.

Error measures, per tensor:
    max_abs = max_i |x_i - y_i|
    max_rel = max_abs / max(max_i |x_i|, max_i |y_i|)      (0 when both tensors are all zero)
The relative error is taken against the tensor's scale, not element by element: gradients
are sums that cancel, and an element that cancels to 1e-17 carries the rounding error of
its terms (~1e-16 * their size), so an element-wise ratio would flag noise as disagreement.

Tolerances (scale-relative, per tensor, per step):
    float64: 1e-9. One operation rounds by at most 2^-53 ~ 1.1e-16; the longest sums here
      (784 terms) and a few hundred steps of training leave observed differences near 1e-13,
      so 1e-9 leaves four orders of magnitude of headroom and still catches any real bug
      (a wrong formula moves results by 1e-3 or more).
    float32: see FLOAT32_RTOL below.

One pass: `cmp` reads each pair of tensors once. Where numba is installed (the `fast` extra) a
compiled loop finds max|x - y| and where, the scale, finiteness and (for a ReLU layer's Z) the
kink count in one pass over the two arrays, with no temporaries and no per-call NumPy overhead;
elsewhere, and for anything but two float64 arrays of up to two dimensions, the NumPy code below
does (several passes). Both give the same bits (tests/test_speed.py); a non-finite value always
takes the NumPy path, which describes it. FRAMEWORK_MIRROR_KERNEL=numpy turns the compiled loop off.

A tensor that is the small difference of large terms as a whole (a loss driven to 1e-12, and
every gradient computed from A_L - Y then) carries the rounding error of its terms, not of its
value: such a tensor is measured against P, the magnitude of the terms that produced it, instead
of its own scale (compare/engine/bounds.py states and argues the rule, per kind of tensor; the
harness applies it, bounds.near_zero, to the tensors near or past the tolerance by the rule above).

Left out: ULP-based measures; per-element tolerances.
"""
import os
import threading
from dataclasses import dataclass

import numpy as np

from . import interrupts

FLOAT64_RTOL = 1e-9
# float32: one rounding is 2^-24 ~ 6e-8. A K-term dot product rounds differently in two
# summation orders by ~sqrt(K) * 6e-8 typically and K * 6e-8 at worst (4.7e-5 for K = 784, the
# longest sum here). Independent float32 trajectories do not stay comparable: rounding
# differences are fed back through every update and training amplifies them (MNIST: 1e-7 at
# step 1, 1e-4 by step 300, order 1 by step 600). So a float32 run restarts torch and Keras
# from their scratch twin's state after every step (Spec.resync) and each step is judged on its
# own rounding. Sums that cancel amplify that rounding relative to the tensor's scale: in `xor`
# the output pre-activation Z2 sits near 0 and db1 sums four terms of +-0.125 that nearly
# cancel, giving the largest measured per-step errors, 4.4e-5 (mnist: 4.7e-6 over 938 steps;
# parity, dosage, keras-quickstart: below 3.2e-7). Bound: 3e-4, the worst-case K * eps of one
# step with a further 6x for cancellation. A real bug moves results by 1e-2 or more. The drift the resync removes is still reported: torch~keras
# compares two independently resynced runs, and test predictions show how far they end apart.
FLOAT32_RTOL = 3e-4

TOLERANCES = {"float64": FLOAT64_RTOL, "float32": FLOAT32_RTOL}


@dataclass
class TensorError:
    name: str            # e.g. 'dW2'
    max_abs: float       # max |x - y|
    max_rel: float       # max_abs / max(|x|, |y|)
    index: tuple         # where max_abs occurs
    ours: float          # x at that index
    theirs: float        # y at that index
    shape_ok: bool = True
    finite: bool = True  # both tensors all finite
    shapes: tuple = ()   # (ours, theirs) when the shapes differ
    kinks: int = 0       # ReLU inputs on opposite sides of 0 within rounding (cmp(..., kink_rtol=...))
    produced: float = 0.0  # P when max_rel is measured against the terms that produced the tensor (bounds.py)
    tied: bool = False   # a gradient a max-pool tie broken differently moved: reported, not judged (judge.py)

    def passed(self, rtol):
        return self.shape_ok and self.finite and self.max_rel <= rtol


def cmp(name, ours, theirs, kink_rtol=None):
    """Compare two tensors of the same layout. -> TensorError (a NaN/inf anywhere never passes).
    kink_rtol: for a ReLU layer's Z, also count the elements on opposite sides of 0 that both sit
    within kink_rtol * max|ours| of it (TensorError.kinks; see harness.measure_pair)."""
    scan = kernel()
    if (scan is not None and type(ours) is np.ndarray and type(theirs) is np.ndarray and ours.dtype == np.float64
            and theirs.dtype == np.float64 and ours.shape == theirs.shape and 0 < ours.size and ours.ndim <= 2):
        x, y = (ours, theirs) if ours.ndim == 2 else (ours.reshape(1, -1), theirs.reshape(1, -1))
        max_abs, i, j, scale, finite, kinks = scan(x, y, -1.0 if kink_rtol is None else kink_rtol)
        if finite:                              # else the NumPy path below, which describes the NaN or inf
            index = (i, j) if ours.ndim == 2 else (j,) if ours.ndim == 1 else ()
            max_rel = 0.0 if max_abs == 0 else max_abs / scale
            return TensorError(name, max_abs, max_rel, index, float(x[i, j]), float(y[i, j]), kinks=kinks)
    error = cmp_numpy(name, ours, theirs)
    if kink_rtol is not None and error.shape_ok:
        error.kinks = kinks_numpy(ours, theirs, kink_rtol)
    return error


def cmp_numpy(name, ours, theirs):
    """cmp in NumPy: a subtraction, an argmax and four reductions."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return TensorError(name, np.inf, np.inf, (), np.nan, np.nan, shape_ok=False, shapes=(ours.shape, theirs.shape))
    if ours.size == 0:
        return TensorError(name, 0.0, 0.0, (), 0.0, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):   # inf - inf is NaN: caught just below
        diff = np.subtract(ours, theirs, out=np.empty(ours.shape))
        np.abs(diff, out=diff)                  # in place: a second large temporary costs more than the math
    # x - y is finite exactly when x and y both are, and a NaN or inf anywhere makes max_abs non-finite
    flat = int(np.argmax(diff))                 # argmax stops at the first NaN
    max_abs = float(diff.flat[flat])
    finite = bool(np.isfinite(max_abs))
    if not finite:
        max_abs = np.inf                        # NaN vs NaN, inf vs inf: never agreement
    index = np.unravel_index(flat, ours.shape)
    scale = max(float(ours.max()), -float(ours.min()), float(theirs.max()), -float(theirs.min()))
    max_rel = 0.0 if max_abs == 0 else (max_abs / scale if np.isfinite(scale) and scale > 0 else np.inf)
    return TensorError(name, max_abs, max_rel, tuple(int(i) for i in index),
                       float(ours.flat[flat]), float(theirs.flat[flat]), finite=finite)


def kinks_numpy(a, b, rtol):
    """How many elements of a and b sit on opposite sides of 0 within rtol * max|a| of it."""
    if np.size(a) == 0:
        return 0
    tiny = rtol * max(float(np.max(np.abs(a))), 1e-300)
    return int(np.count_nonzero(((a > 0) != (b > 0)) & (np.abs(a) <= tiny) & (np.abs(b) <= tiny)))


_KERNEL = []          # [the compiled scan, or None where numba is missing or turned off]
_LOADING = threading.Lock()


def kernel():
    """The compiled one-pass scan (numba), compiled on first use and cached on disk; None without numba."""
    if not _KERNEL:
        with _LOADING:                          # one loader; a second caller waits for it
            if not _KERNEL:
                scan = None
                if os.environ.get("FRAMEWORK_MIRROR_KERNEL", "numba") != "numpy":
                    try:
                        with interrupts.held():     # numba/llvmlite: a C++ extension's import
                            scan = compile_scan()
                    except Exception:           # noqa: BLE001 - no numba, or it cannot compile here: NumPy
                        scan = None
                _KERNEL.append(scan)
    return _KERNEL[0]


def kernel_ready():
    """Whether kernel() would answer at once (loaded, or known to be missing)."""
    return bool(_KERNEL)


def load_kernel_in_background():
    """Import numba and load the scan (about 1 s) on a thread, while this process waits or steps
    (the libraries release the interpreter lock in their kernels); kernel() waits for it if called first."""
    if not _KERNEL:
        threading.Thread(target=kernel, name="load-comparison-kernel", daemon=True).start()


def compile_scan():
    import numba
    from numba import types

    matrix = types.Array(types.float64, 2, "A", readonly=True)     # accepts writeable arrays too

    @numba.njit(types.Tuple((types.float64, types.intp, types.intp, types.float64, types.boolean, types.intp))(
        matrix, matrix, types.float64), cache=True, nogil=True)
    def scan(x, y, kink_rtol):
        """x, y (n, k): max|x - y| and its first index in row-major order (as argmax), max(|x|, |y|),
        whether every x - y is finite; then, if kink_rtol >= 0, the sign flips within
        kink_rtol * max|x| of 0 (cmp_numpy and kinks_numpy, fused). The first pass has no branch,
        so the compiler vectorises it (2.5x the speed of one pass that tracks the index: measured);
        the second finds where the maximum is, stopping there."""
        best, top_x, top_y, poison = 0.0, 0.0, 0.0, 0.0
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                a, b = x[i, j], y[i, j]
                d = abs(a - b)
                best = max(best, d)
                top_x = max(top_x, abs(a))
                top_y = max(top_y, abs(b))
                poison += d * 0.0                 # NaN as soon as one x - y is NaN or infinite
        finite = poison == 0.0
        bi, bj = 0, 0
        if finite:
            found = False
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    if abs(x[i, j] - y[i, j]) == best:
                        bi, bj, found = i, j, True
                        break
                if found:
                    break
        kinks = 0
        if finite and kink_rtol >= 0:
            tiny = kink_rtol * max(top_x, 1e-300)
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    a, b = x[i, j], y[i, j]
                    if (a > 0) != (b > 0) and abs(a) <= tiny and abs(b) <= tiny:
                        kinks += 1
        return best, bi, bj, max(top_x, top_y), finite, kinks

    return scan
