"""Max pooling's kinks: where the gradient of a window goes when its maximum is tied, measured in
scratch-as-torch, torch (nn.MaxPool2d, autograd), scratch@keras and Keras (MaxPooling2D,
tf.GradientTape), all in float64, on inputs made of exact ties.

A window's maximum is not differentiable where two of its cells are equal and largest: each
framework picks one cell and sends it the whole gradient. Both pick the FIRST maximum in scan
order (row by row, left to right): torch's CPU kernel keeps a value only when it is strictly
larger, `if ((val > maxval) || std::isnan(val))` (aten/src/ATen/native/cpu/MaxPoolKernel.cpp);
TensorFlow's CPU MaxPoolGrad recomputes the argmax walking the input in row-major order with
`if (output_ref < input_ref || ...)` (tensorflow/core/kernels/maxpooling_op.cc,
SpatialMaxPoolWithArgMaxHelper). scratch/pool.py `chosen_tap` follows the convention's
`maxpool_grad_to_first_max` (True in both). docs/conventions.md cites the lines.

Each case is one input image (1 channel) and a pool (kernel, stride); a column is the gradient
of sum(pool(x)) with respect to the pool's input, the image's cells in scan order. The NaN case
is measured but not mirrored (scratch's tie rule is for NaN-free inputs: scratch/pool.py), so it
is shown and never counted as a disagreement.

Left out: average pooling (no kink: every cell gets dP / count), padding's -inf cells (never a
maximum unless the whole window is padding, which no valid geometry gives).
"""
import numpy as np

from scratch import pool
from scratch.conventions import KERAS, TORCH

COLUMNS = ("scratch", "torch", "scratch@keras", "keras")
NAN = float("nan")

# (case, image rows, kernel, stride, a ReLU before the pooling, mirrored by scratch)
CASES = [
    ("2 equal", [[1.0, 3.0], [3.0, 0.0]], 2, 2, False, True),
    ("4 equal", [[2.0, 2.0], [2.0, 2.0]], 2, 2, False, True),
    ("3x3 window edge", [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [5.0, 0.0, 5.0]], 3, 3, False, True),
    ("shared edge, s 1", [[1.0, 5.0, 5.0], [0.0, 0.0, 1.0]], 2, 1, False, True),
    ("after ReLU: all 0", [[-1.0, -2.0], [0.0, -3.0]], 2, 2, True, True),
    ("-0.0 and +0.0", [[-0.0, 0.0], [-1.0, -1.0]], 2, 2, False, True),
    ("a NaN", [[1.0, NAN], [2.0, 0.0]], 2, 2, False, False),
]


def scratch_route(x, kernel, stride, relu, convention):
    """d sum(pool(relu?(x))) / d(pool input) by scratch/pool.py under `convention`."""
    a = np.maximum(x, 0.0) if relu else x
    images = a[None, None]
    out, cache = pool.max_pool2d_forward(images, (kernel, kernel), (stride, stride), convention=convention)
    return pool.max_pool2d_backward(np.ones_like(out), cache)[0, 0]


def torch_route(x, kernel, stride, relu):
    import torch

    t = torch.tensor(x[None, None], dtype=torch.float64, requires_grad=True)
    a = torch.relu(t) if relu else t
    a.retain_grad()
    torch.nn.MaxPool2d(kernel, stride)(a).sum().backward()
    return a.grad.numpy()[0, 0].copy()


def keras_route(x, kernel, stride, relu):
    import keras
    import tensorflow as tf

    t = tf.constant(x[None, :, :, None], dtype=tf.float64)                  # NHWC
    with tf.GradientTape() as tape:
        tape.watch(t)
        a = tf.nn.relu(t) if relu else t
        y = keras.layers.MaxPooling2D(kernel, stride, padding="valid", dtype="float64")(a)
    return tape.gradient(y, a).numpy()[0, :, :, 0].copy()


def expected_route(x, kernel, stride, relu, first):
    """The convention's rule written out: each window's gradient 1 to its first (or last) maximum
    in scan order; windows that overlap add up."""
    a = np.maximum(x, 0.0) if relu else x
    dx = np.zeros_like(a)
    H, W = a.shape
    for i in range(0, H - kernel + 1, stride):
        for j in range(0, W - kernel + 1, stride):
            window = a[i:i + kernel, j:j + kernel].ravel()
            top = np.max(window)
            hits = np.flatnonzero(window == top)
            u, v = divmod(int(hits[0] if first else hits[-1]), kernel)
            dx[i + u, j + v] += 1.0
    return dx


def cells(image):
    """An image as text: its cells in scan order, rows split by '/'."""
    return "/".join(",".join(f"{v:g}" for v in row) for row in image)


def receivers(route):
    """Where a route sends the gradient: '(row,col)' of each cell that gets some, ':value' unless 1."""
    route = np.asarray(route)
    return " ".join(f"({i},{j})" + ("" if route[i, j] == 1 else f":{route[i, j]:g}")
                    for i, j in zip(*np.nonzero(route))) or "-"


def measure():
    """[{'case', 'input', 'kernel', 'stride', 'scratch', 'torch', 'scratch@keras', 'keras'
    (each a list of rows), 'mirrored', 'agree', 'frameworks_differ'}] for every case."""
    rows = []
    for case, image, kernel, stride, relu, mirrored in CASES:
        x = np.array(image, dtype=np.float64)
        routes = {"scratch": scratch_route(x, kernel, stride, relu, TORCH),
                  "torch": torch_route(x, kernel, stride, relu),
                  "scratch@keras": scratch_route(x, kernel, stride, relu, KERAS),
                  "keras": keras_route(x, kernel, stride, relu)}
        row = {"case": case, "input": cells(x), "kernel": kernel, "stride": stride, "relu": relu,
               "mirrored": mirrored}
        row.update({c: routes[c].tolist() for c in COLUMNS})
        row["agree"] = (not mirrored or (np.array_equal(routes["scratch"], routes["torch"])
                                         and np.array_equal(routes["scratch@keras"], routes["keras"])))
        row["frameworks_differ"] = not np.array_equal(routes["torch"], routes["keras"])
        rows.append(row)
    return rows
