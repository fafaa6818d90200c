"""Translate and teach for conv networks (issue 20, part 6): `translate` maps conv, pooling,
Flatten and BatchNorm settings both ways and its proofs give the claimed distances (0, rounding,
or the measured distance of a closest form, recomputed here independently); `trace` works one
output of the first conv and one kernel gradient out with numbers that add up and agree with
torch's and Keras's; `code conv` shows the right functions. Every printed line fits 100 columns.
"""
import json
import re

import numpy as np
import pytest

from compare.cli import main
from compare.engine.translate_layers import ROUNDING, LayerSettings, prove_layer, translate_layer
from compare.views.text import logical_lines
from scratch import pool as scratch_pool
from scratch.conventions import TORCH

WIDTH = 100


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def proven(settings):
    translation = translate_layer(settings)
    return translation, {(p.form.rule, p.form.kind): p for p in prove_layer(translation)}


# ----- conv padding -------------------------------------------------------------------------------

def test_keras_same_stride_2_is_torch_zero_pad_0_1_0_1_and_padding_0(capsys, tmp_path):
    path = tmp_path / "t.json"
    code, out, _ = run(capsys, "translate", "--from", "keras", "--padding", "same", "--stride", "2",
                       "--json", str(path))
    assert code == 0 and max(len(line) for line in out.splitlines()) <= WIDTH
    assert "nn.ZeroPad2d((0, 1, 0, 1)),  # (left, right, top, bottom)" in out
    assert "nn.Conv2d(3, 4, (3, 3), stride=(2, 2), padding=0)" in out
    assert "pad (4 - 1) 2 + 3 - 8 = 1: 0 before, 1 after" in " ".join(out.split())   # wrapped
    t, proofs = proven(LayerSettings("conv", "keras", padding="same", stride=(2, 2)))
    for line in t.forms[0].torch + t.forms[0].keras:              # the code the proof executed
        assert "    " + line in out.splitlines()
    report = json.loads(path.read_text())
    assert report["exit_code"] == 0 and report["forms"][0]["torch"] == t.forms[0].torch
    exact = proofs[("same-strided-padding", "exact")]
    assert report["forms"][0]["distances"]["output"]["max_abs"] == exact.distances["output"][1]
    assert exact.passed and exact.worst <= 1e-15                      # measured 3.9e-16
    # the usual port (padding=1 on both sides) is shifted by a pixel: far from Keras
    assert proofs[("same-strided-padding", "mistake")].distances["output"][1] > 0.5   # measured 5.6


def test_keras_same_stride_2_on_an_odd_size_pads_symmetrically():
    s = LayerSettings("conv", "keras", padding="same", stride=(2, 2), shape=(3, 7, 7))
    t, proofs = proven(s)
    assert t.forms[0].torch == ["layers = [nn.Conv2d(3, 4, (3, 3), stride=(2, 2), padding=(1, 1))]"]
    assert proofs[("symmetric-padding", "exact")].worst <= 1e-15


@pytest.mark.parametrize("kernel", [(4, 4), (2, 3)])
def test_same_stride_1_even_and_asymmetric_kernels_are_torch_padding_same(kernel):
    """torch splits d (k - 1) with the odd one after, as TensorFlow (torch/nn/modules/conv.py)."""
    for source in ("keras", "torch"):
        t, proofs = proven(LayerSettings("conv", source, padding="same", kernel=kernel))
        assert "padding='same'" in t.forms[0].torch[0] and "padding='same'" in t.forms[0].keras[0]
        # db sums 128 upstream values in another order: 6.7e-15 of 3.6 (1.9e-15 relative) measured
        assert proofs[("same-stride-1", "exact")].worst <= ROUNDING


def test_torch_symmetric_padding_is_keras_zero_padding_and_valid(capsys):
    code, out, _ = run(capsys, "translate", "--from", "torch", "--padding", "1", "--stride", "2")
    assert code == 0 and "keras.layers.ZeroPadding2D(((1, 1), (1, 1)))," in out
    assert "padding='valid'" in out
    assert "Keras's 'same' would pad (0, 1, 0, 1)" in " ".join(out.split())
    _, proofs = proven(LayerSettings("conv", "torch", padding=(1, 1), stride=(2, 2)))
    assert proofs[("symmetric-padding", "exact")].worst <= 1e-15


# ----- Flatten order ------------------------------------------------------------------------------

def test_flatten_order_the_permutation_is_keras_flatten_of_an_nhwc_image():
    """perm[i] = the C.H.W index of Keras's i-th flattened number: checked on Keras's Flatten."""
    import keras

    C, H, W = 3, 4, 5
    image = np.arange(C * H * W, dtype=np.float64).reshape(1, C, H, W)   # each its C.H.W index
    keras_order = keras.layers.Flatten()(image.transpose(0, 2, 3, 1)).numpy()[0].astype(int)
    t = translate_layer(LayerSettings("flatten", "torch", shape=(C, H, W)))
    printed = re.search(r"= \[([0-9, ]+)\]\.\.\.", t.notes[0])[1]
    assert [int(v) for v in printed.split(", ")] == keras_order[:6].tolist()
    assert keras_order[:6].tolist() == [0, 20, 40, 1, 21, 41]


@pytest.mark.parametrize("source", ["torch", "keras"])
def test_flatten_rows_permuted_or_a_permute_layer_are_exact_and_unpermuted_rows_are_not(source):
    _, proofs = proven(LayerSettings("flatten", source, shape=(3, 4, 5)))
    for rule in ("flatten-order-rows", "flatten-order-permute"):
        proof = proofs[(rule, "exact")]
        assert proof.worst <= 1e-15 and proof.distances["dX"][1] == 0   # dX: a permutation
    assert proofs[("flatten-order-rows", "mistake")].distances["output"][1] > 1   # measured 6


# ----- BatchNorm over channels --------------------------------------------------------------------

def test_batchnorm2d_momentum_is_one_minus_keras_and_the_running_variance_is_measured(capsys):
    code, out, _ = run(capsys, "translate", "--from", "torch", "--batchnorm2d",
                       "--norm-momentum", "0.1")
    assert "BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-05)" in out
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    s = LayerSettings("batchnorm", "torch", momentum=0.1)
    _, proofs = proven(s)
    proof = proofs[("batchnorm-channels", "exact")]
    assert code == 0 and proof.passed
    assert proof.distances["output"][1] <= 1e-15 and proof.distances["dX"][1] <= 1e-15
    assert proof.worst <= 2e-15                        # dgamma, dbeta: sums of 128 terms, 1.2e-15
    assert proof.states["running_mean"] <= 1e-17
    # torch keeps 0.1 var_unbiased, Keras 0.1 var_biased: they differ by 0.1 var_biased / (n - 1)
    x = np.random.default_rng(s.seed).uniform(-1, 1, (s.examples, *s.shape))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    predicted = np.max(0.1 * x.var(axis=(0, 2, 3)) / (n - 1))
    assert proof.states["running_var"] == pytest.approx(predicted, rel=1e-9)


def test_batchnorm_from_keras_reads_keras_defaults():
    t = translate_layer(LayerSettings("batchnorm", "keras"))
    assert t.forms[0].torch == ["layers = [nn.BatchNorm2d(3, momentum=0.01, eps=0.001)]"]


# ----- pooling: ceil_mode, count_include_pad ------------------------------------------------------

def zero_padded_valid(x, kernel, stride, full, average):
    """Keras's ZeroPadding2D + 'valid' pooling, in NumPy (N, C, H, W)."""
    x_pad = np.pad(x, ((0, 0), (0, 0), full[:2], full[2:]))
    (kh, kw), (sh, sw) = kernel, stride
    Ho, Wo = (x_pad.shape[2] - kh) // sh + 1, (x_pad.shape[3] - kw) // sw + 1
    out = np.empty(x.shape[:2] + (Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = window.mean(axis=(2, 3)) if average else window.max(axis=(2, 3))
    return out


def test_max_pool_ceil_mode_zero_padding_distance_is_measured_and_exact_after_relu(capsys):
    s = LayerSettings("max_pool", "torch", kernel=(3, 3), shape=(3, 7, 7), ceil_mode=True)
    code, out, _ = run(capsys, "translate", "--from", "torch", "--pool", "max", "--kernel", "3",
                       "--input-shape", "3,7,7", "--ceil-mode")
    assert code == 1 and "NOT EXACT: pool-ceil-mode (closest)" in out
    assert "exact there" in " ".join(out.split())
    assert "keras.layers.ZeroPadding2D(((0, 2), (0, 2)))," in out
    assert "constant_values=-np.inf" in out
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    _, proofs = proven(s)
    closest = proofs[("pool-ceil-mode", "closest")]
    x = np.random.default_rng(s.seed).uniform(-1, 1, (s.examples, *s.shape))
    torch_like, _ = scratch_pool.max_pool2d_forward(x, (3, 3), (3, 3), ceil_mode=True,
                                                    convention=TORCH)
    keras_like = zero_padded_valid(x, (3, 3), (3, 3), (0, 2, 0, 2), False)
    expected = np.max(np.abs(torch_like - keras_like))
    assert closest.distances["output"][1] == expected > 0.5              # measured 0.91
    assert closest.after_relu == 0.0
    negative, _ = scratch_pool.max_pool2d_forward(-np.abs(x), (3, 3), (3, 3), ceil_mode=True,
                                                  convention=TORCH)
    zero = zero_padded_valid(-np.abs(x), (3, 3), (3, 3), (0, 2, 0, 2), False)
    assert closest.negative == np.max(np.abs(negative - zero)) > 0.5     # measured 0.95
    assert proofs[("pool-exact-form", "exact")].worst == 0.0


def test_ceil_mode_where_keras_same_coincides_is_exact():
    s = LayerSettings("max_pool", "torch", kernel=(2, 2), shape=(3, 5, 5), ceil_mode=True)
    t, proofs = proven(s)
    assert t.forms[0].keras == ["layers = [keras.layers.MaxPooling2D((2, 2), (2, 2), 'same')]"]
    assert proofs[("pool-same-coincides", "exact")].worst == 0.0


def test_avg_pool_ceil_mode_divisor_distance_is_measured_and_the_mask_form_is_exact():
    s = LayerSettings("avg_pool", "torch", kernel=(3, 3), shape=(3, 7, 7), ceil_mode=True)
    _, proofs = proven(s)
    x = np.random.default_rng(s.seed).uniform(-1, 1, (s.examples, *s.shape))
    torch_like, _ = scratch_pool.avg_pool2d_forward(x, (3, 3), (3, 3), ceil_mode=True,
                                                    convention=TORCH)
    keras_like = zero_padded_valid(x, (3, 3), (3, 3), (0, 2, 0, 2), True)
    expected = np.max(np.abs(torch_like - keras_like))
    closest = proofs[("pool-ceil-mode", "closest")].distances["output"][1]
    assert closest == pytest.approx(expected, abs=1e-15) and closest > 0.1        # measured 0.84
    assert proofs[("pool-exact-form", "exact")].worst <= 1e-15


def test_count_include_pad_true_is_zero_padding_and_false_needs_the_counted_cells():
    s = LayerSettings("avg_pool", "torch", kernel=(3, 3), stride=(1, 1), padding=(1, 1))
    t, proofs = proven(s)
    assert "ZeroPadding2D(((1, 1), (1, 1)))" in " ".join(t.forms[0].keras)
    assert proofs[("pool-zero-padding", "exact")].worst <= 1e-15
    s = LayerSettings("avg_pool", "torch", kernel=(3, 3), stride=(2, 2), padding=(1, 1),
                      count_include_pad=False)
    _, proofs = proven(s)
    x = np.random.default_rng(s.seed).uniform(-1, 1, (s.examples, *s.shape))
    torch_like, _ = scratch_pool.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1, 1, 1),
                                                    count_include_pad=False)
    keras_like = zero_padded_valid(x, (3, 3), (2, 2), (1, 1, 1, 1), True)
    closest = proofs[("pool-padding", "closest")].distances["output"][1]
    assert closest == pytest.approx(np.max(np.abs(torch_like - keras_like)), abs=1e-15)
    assert proofs[("pool-exact-form", "exact")].worst <= 1e-15


@pytest.mark.parametrize("size, words", [(8, "ceil_mode=True"),
                                         (7, "nn.ConstantPad2d((1, 1, 1, 1), -math.inf)")])
def test_keras_same_max_pooling_into_torch_is_exact(size, words):
    s = LayerSettings("max_pool", "keras", kernel=(3, 3), stride=(2, 2), padding="same",
                      shape=(3, size, size))
    t, proofs = proven(s)
    assert words in " ".join(t.forms[0].torch)
    assert proofs[("pool-same-padding", "exact")].worst == 0.0


@pytest.mark.parametrize("argv, words", [
    (["--from", "keras", "--padding", "3"], "Keras's padding is 'valid' or 'same'"),
    (["--from", "torch", "--padding", "same", "--stride", "2"], "refuses padding='same' with"),
    (["--from", "keras", "--pool", "max", "--ceil-mode"], "no ceil_mode"),
    (["--from", "torch", "--kernel", "9"], "larger than the padded input"),
    (["--from", "torch", "--flatten", "--kernel", "3"], "not flatten's"),
    (["--from", "torch", "--pool", "max", "--flatten"], "not allowed with"),
])
def test_layer_input_mistakes_exit_2_in_one_line(capsys, argv, words):
    code, out, err = run(capsys, "translate", *argv)
    assert code == 2 and len(logical_lines(err.strip())) == 1 and words in err, err


# ----- trace: the first convolution worked out ----------------------------------------------------

@pytest.fixture(scope="module")
def trace_text():
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["trace", "mnist-cnn-small", "--step", "1"]) == 0
    return buffer.getvalue()


def numbers(line):
    return [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", line)]


def test_trace_fits_100_columns(trace_text):
    assert max(len(line) for line in trace_text.splitlines()) <= WIDTH


def test_trace_conv_element_is_the_sum_of_its_printed_products_and_the_frameworks_agree(trace_text):
    lines = trace_text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("=== the first convolution"))
    at = next(k for k in range(start, len(lines)) if lines[k].startswith("channel c = 0:"))
    grid = [numbers(line) for line in lines[at + 1:at + 6]]       # 5 x 5 window beside the kernel
    window, kernel = np.array([row[:5] for row in grid]), np.array([row[5:] for row in grid])
    products = np.array([numbers(line) for line in lines[at + 7:at + 12]])
    assert products.shape == (5, 5)
    assert np.max(np.abs(products - window * kernel)) <= 1e-5          # printed to 5 and 6 decimals
    sums = next(line for line in lines[start:] if line.startswith("Σ products = "))
    total, bias = numbers(sums)
    assert abs(products.sum() - total) <= 25 * 5e-7
    z_line = next(line for line in lines[start:] if re.match(r"Z1\[0, 0, \d+, \d+\] = ", line))
    z = float(z_line.split(" = ")[1].split()[0])
    assert z == pytest.approx(total + bias, abs=1e-15)
    values = {}
    for line in lines[start:]:
        match = re.match(r"  (scratch@keras|scratch|torch|keras) +(Z1\[[\d, ]+\])", line)
        if match:
            values[match[1]] = (match[2], float(line.split()[-3]))
    assert set(values) == {"scratch", "torch", "scratch@keras", "keras"}
    i, j = map(int, re.match(r"Z1\[0, 0, (\d+), (\d+)\]", z_line).groups())
    assert values["torch"][0] == f"Z1[0, 0, {i}, {j}]"                 # NCHW
    assert values["keras"][0] == f"Z1[0, {i}, {j}, 0]"                 # NHWC
    from compare.data.recipes import get
    Wo = get("mnist-cnn-small").spec.network.placed[0].n_out[2]       # 24: 'valid', 28 - 5 + 1
    assert values["scratch"][0] == f"Z1[{i * Wo + j}, 0]"        # row f Ho Wo + i Wo + j, f = 0
    for name, (_, value) in values.items():
        assert abs(value - z) <= 1e-15, name                             # measured 0 to 2.2e-16


def test_trace_kernel_gradient_is_its_sum_of_terms_in_every_implementation(trace_text):
    lines = trace_text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("=== the gradient of one"))
    terms = [numbers(line) for line in lines[start + 4:start + 10]]
    for dz, x, product in terms:
        assert product == pytest.approx(dz * x, rel=1e-7)
    total = float(next(line for line in lines[start:] if line.startswith("Σ all")).split(" = ")[1])
    found = {}
    for line in lines[start:]:
        match = re.match(r"  (scratch@keras|scratch|torch|keras) +dW1\[([\d, ]+)\]", line)
        if match:
            found[match[1]] = (match[2], float(line.split()[-3]))
    assert found["torch"][0] == "0, 0, 2, 2"                           # (out, in, kh, kw)
    assert found["keras"][0] == "2, 2, 0, 0"                           # (kh, kw, in, out)
    assert len(found) == 4
    for name, (_, value) in found.items():
        assert abs(value - total) <= 1e-12 * abs(total), name           # measured 2.1e-15 relative


# ----- code conv ----------------------------------------------------------------------------------

@pytest.mark.parametrize("part, names", [
    ("conv", ["def conv2d_forward_naive(", "def conv2d_forward(", "def im2col(", "def col2im(",
              "def conv2d_backward(", "nn.Conv2d(", "keras.layers.Conv2D(",
              "--- torch (reference/torch_mlp.py:", "--- keras (reference/keras_mlp.py:"]),
    ("pool", ["def max_pool2d_forward(", "def max_pool2d_backward(", "def avg_pool2d_backward(",
              "nn.MaxPool2d(", "keras.layers.MaxPooling2D"]),
])
def test_code_conv_and_pool_show_scratch_beside_the_builders(capsys, part, names):
    code, out, _ = run(capsys, "code", part, "--width", "100")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= WIDTH
    for name in names:
        assert name in out, name
