"""The convolution recognisers of compare/engine/diagnose.py on made-up arrays: spatial shifts,
edges left at the bias, turned kernels (180°, spatial transpose, channel orders), permuted rows and
columns (a Flatten's order), the routing of a max pooling's gradient. The CNN bug zoo's entries
check them again through whole runs (tests/test_bugs.py)."""
import numpy as np
import pytest

from compare.data.recipes import get
from compare.engine import diagnose
from scratch import conv, pool

RNG = np.random.default_rng(7)


def cols(maps):
    """(m, C, H, W) -> the (C H W, m) columns the records hold."""
    return maps.reshape(maps.shape[0], -1).T


@pytest.fixture(scope="module")
def spec():
    return get("cnn-zoo").spec    # conv 1x28x28 -> 4x14x14, conv 'same' 6x14x14, pool 6x7x7, dense


@pytest.mark.parametrize("stride, padding, dilation", [((1, 1), (0, 0, 0, 0), (1, 1)),
                                                       ((2, 2), (0, 1, 0, 1), (1, 1)),
                                                       ((2, 1), (1, 2, 2, 0), (2, 1))])
def test_correlate_is_the_convolution_of_scratch(stride, padding, dilation):
    x, w, b = (RNG.standard_normal(shape) for shape in ((2, 3, 9, 8), (4, 3, 3, 2), (4,)))
    want, _ = conv.conv2d_forward_naive(x, w, b, stride, padding, dilation)
    got = diagnose.correlate(x, w, b, stride, padding, dilation)
    assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-12


@pytest.mark.parametrize("dy, dx", [(1, 1), (-1, 2), (0, -1), (2, 0)])
def test_spatial_shift_finds_the_shift(dy, dx):
    b = RNG.standard_normal((2, 3, 8, 9))
    a = RNG.standard_normal(b.shape)                        # what enters at the border is anything
    H, W = b.shape[2:]
    a[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        b[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    assert diagnose.spatial_shift(a, b) == (dy, dx)
    words = diagnose.shift_words(dy, dx)
    assert words == {(1, 1): "one row down and one column right",
                     (-1, 2): "one row up and two columns right",
                     (0, -1): "one column left", (2, 0): "two rows down"}[(dy, dx)]


def test_spatial_shift_is_none_when_nothing_is_shifted():
    b = RNG.standard_normal((2, 3, 8, 9))
    assert diagnose.spatial_shift(b, b.copy()) is None
    assert diagnose.spatial_shift(RNG.standard_normal(b.shape), b) is None
    assert diagnose.spatial_shift(b[..., ::-1, ::-1], b) is None       # turned, not shifted


def test_edge_difference_names_the_last_rows_and_columns():
    b = RNG.standard_normal((2, 3, 8, 9))
    a = b.copy()
    a[..., -1, :] = 5.0
    a[..., :, -1] = 5.0
    assert diagnose.edge_difference(a, b) == (1, 1)
    a = b.copy()
    a[..., -2:, :] = 0.0
    assert diagnose.edge_difference(a, b) == (2, 0)
    a = b.copy()
    a[..., 3, 4] += 1.0                                      # inside: not an edge
    assert diagnose.edge_difference(a, b) is None
    assert diagnose.edge_difference(b, b.copy()) is None


@pytest.mark.parametrize("words, turn", [             # w: (F, C, kh, kw) = (5, 4, 3, 3)
    ("rotated by 180°", lambda w: w[:, :, ::-1, ::-1]),
    ("flipped upside down", lambda w: w[:, :, ::-1, :]),
    ("transposed in its spatial axes (kh <-> kw)", lambda w: w.transpose(0, 1, 3, 2)),
    ("'s entries in (kh, kw, C) order read as (C, kh, kw)",
     lambda w: w.transpose(0, 2, 3, 1).reshape(w.shape)),
    ("'s entries in (C, kh, kw) order read as (kh, kw, C)",
     lambda w: w.reshape(5, 3, 3, 4).transpose(0, 3, 1, 2)),
    ("'s (F, C) axes read in the wrong order, as (C, F, kh, kw)",
     lambda w: w.reshape(4, 5, 3, 3).transpose(1, 0, 2, 3)),
    ("'s (F, C) axes read in the wrong order, transposed and then reshaped",
     lambda w: w.transpose(1, 0, 2, 3).reshape(w.shape)),
])
def test_kernel_turn_names_each_turn(words, turn):
    w = RNG.standard_normal((5, 4, 3, 3))
    assert diagnose.kernel_turn(turn(w), w) == words
    assert diagnose.kernel_turn(w, w.copy()) is None
    assert diagnose.kernel_turn(RNG.standard_normal(w.shape), w) is None


def test_kernel_turns_leave_out_what_changes_nothing():
    """One channel: the channel orders are the identity; a 3x2 kernel has no spatial transpose."""
    turns = [words for words, _ in diagnose.kernel_turns(RNG.standard_normal((5, 1, 3, 2)))]
    assert turns == ["rotated by 180°", "flipped upside down", "flipped left to right"]


def test_row_permutation_and_the_layout_order_it_is():
    shape = (6, 7, 7)
    b = RNG.standard_normal((6 * 7 * 7, 4))
    hwc = np.arange(6 * 7 * 7).reshape(shape).transpose(1, 2, 0).ravel()
    perm = diagnose.row_permutation(b[hwc], b)
    assert np.array_equal(perm, hwc)
    assert diagnose.order_words(perm, shape) == "(C, H, W) -> (H, W, C)"
    other = RNG.permutation(b.shape[0])                        # a permutation, but no layout's
    assert np.array_equal(diagnose.row_permutation(b[other], b), other)
    assert diagnose.order_words(other, shape) is None
    assert diagnose.row_permutation(b + 1.0, b) is None
    assert diagnose.row_permutation(b, b.copy()) is None


def test_layout_words_name_the_columns_of_a_dense_after_a_flatten(spec):
    dW = RNG.standard_normal((10, 294))
    hwc = np.arange(294).reshape(6, 7, 7).transpose(1, 2, 0).ravel()
    words = diagnose.layout_words("dW3", dW[:, hwc], dW, "scratch", "torch", spec)
    assert words == ["scratch's dW3 is torch's with its columns permuted (C, H, W) -> (H, W, C): "
                     "a flattened image read in another order"]
    w = RNG.standard_normal((6, 4, 4, 4))
    words = diagnose.layout_words("W2", w[:, :, ::-1, ::-1], w, "scratch", "torch", spec)
    assert words == ["scratch's W2 rotated by 180° of torch's: the kernel read in another order"]
    assert diagnose.layout_words("dW3", dW * 2, dW, "scratch", "torch", spec) == []


def conv2_records(spec, ours_z):
    """The words for cnn-zoo's block 2 (A1 in, Z2 out) with made-up numbers, our Z2 maps
    ours_z(x, W, b)."""
    x = RNG.standard_normal((3, 4, 14, 14))
    W, b = RNG.standard_normal((6, 4, 4, 4)), RNG.standard_normal((6, 1))
    theirs = diagnose.correlate(x, W, b[:, 0], (1, 1), (1, 2, 1, 2))          # 'same', TF's rule
    records = {"torch": {"A1": cols(x), "Z2": cols(theirs)},
               "scratch": {"A1": cols(x), "Z2": cols(ours_z(x, W, b))}}
    previous = {"torch": {"W2": W, "b2": b}}
    return "; ".join(zoo_words(2, records, previous, spec))


def zoo_words(layer, records, previous, spec):
    return diagnose.conv_zoo_words("Z", layer, records["scratch"][f"Z{layer}"], records, previous,
                                   None, "scratch", "torch", spec, None)


def same(x, W, b, turn=lambda W: W, pad=(1, 2, 1, 2)):
    """cnn-zoo's second conv ('same': pad (1, 2, 1, 2)), its kernel turned or padded otherwise."""
    return diagnose.correlate(x, turn(W), b[:, 0], (1, 1), pad)


def test_conv_words_padding_on_the_other_side(spec):
    words = conv2_records(spec, lambda x, W, b: same(x, W, b, pad=(2, 1, 2, 1)))
    assert "scratch's Z2 is torch's shifted by one row down and one column right" in words
    assert "padded (top, bottom, left, right) = (2, 1, 2, 1) where (1, 2, 1, 2) belongs" in words
    assert "bottom and right" in words


@pytest.mark.parametrize("turn, words", [
    (lambda W: W.transpose(0, 1, 3, 2),
     "the input convolved with W2 transposed in its spatial axes (kh <-> kw)"),
    (lambda W: W.transpose(0, 2, 3, 1).reshape(W.shape),
     "the input convolved with W2's entries in (kh, kw, C) order read as (C, kh, kw)"),
])
def test_conv_words_turned_kernel(spec, turn, words):
    assert words in conv2_records(spec, lambda x, W, b: same(x, W, b, turn))


def test_conv_words_last_row_and_column_left_at_the_bias(spec):
    def short(x, W, b):
        z = same(x, W, b)
        z[:, :, -1, :] = b.reshape(1, 6, 1)
        z[:, :, :, -1] = b.reshape(1, 6, 1)
        return z
    words = conv2_records(spec, short)
    assert "the last row and the last column of Z2's output map hold b2 alone" in words
    assert "shifted" not in words


def test_conv_words_say_nothing_for_another_difference(spec):
    assert conv2_records(spec, lambda x, W, b: same(x, W, b, lambda W: 1.5 * W)) == ""


def test_flatten_order_words(spec):
    P2, W3, b3 = (RNG.standard_normal(shape) for shape in ((294, 3), (10, 294), (10, 1)))
    hwc = np.arange(294).reshape(6, 7, 7).transpose(1, 2, 0).ravel()
    records = {"torch": {"P2": P2, "Z3": W3 @ P2 + b3},
               "scratch": {"P2": P2, "Z3": W3 @ P2[hwc] + b3}}
    previous = {"torch": {"W3": W3, "b3": b3}}
    words = zoo_words(3, records, previous, spec)
    assert len(words) == 1
    assert "the flattened P2 in (H, W, C) order where (C, H, W) belongs" in words[0]
    records["scratch"]["Z3"] = W3 @ P2 + 2 * b3
    assert zoo_words(3, records, previous, spec) == []


def pool_back(x, dP, rule):
    """dA of a 2x2, stride-2 max pooling, written with loops: rule 'first' (the frameworks'),
    'ties' or 'all'."""
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dP.shape):
        window = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        if rule == "first":
            u, v = np.unravel_index(np.argmax(window), (2, 2))
            dx[n, c, 2 * i + u, 2 * j + v] += dP[n, c, i, j]
        else:
            mask = window == window.max() if rule == "ties" else np.ones((2, 2), bool)
            dx[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += mask * dP[n, c, i, j]
    return dx


@pytest.mark.parametrize("rule, words", [("ties", "sent to every tied maximum of its window"),
                                         ("all", "sent to every cell of its window"),
                                         ("first", None)])
def test_pool_route_words(spec, rule, words):
    Z2 = RNG.integers(-1, 3, size=(2, 6, 14, 14)).astype(float)       # small integers: many ties
    A2, dP2 = np.maximum(Z2, 0), RNG.standard_normal((2, 6, 7, 7))
    dZ2 = pool_back(A2, dP2, rule) * (Z2 > 0)
    right = pool_back(A2, dP2, "first") * (Z2 > 0)
    theirs = {"A2": cols(A2), "Z2": cols(Z2), "dP2": cols(dP2), "dZ2": cols(right)}
    records = {"torch": theirs, "scratch": {**theirs, "dZ2": cols(dZ2)}}
    found = diagnose.pool_route_words(2, records, "scratch", "torch", spec)
    if words is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith("scratch's dZ2 is dP2 " + words)


def test_window_cells_by_hand():
    """A 3x3 window, stride 1, padding 1 on a 4x4 input: corners hold 4 real cells, edges 6,
    the interior 9; counting the padding, every window holds 9."""
    real = diagnose.window_cells((4, 4), (3, 3), (1, 1), (1, 1, 1, 1), (4, 4), False)
    assert np.array_equal(real, [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    full = diagnose.window_cells((4, 4), (3, 3), (1, 1), (1, 1, 1, 1), (4, 4), True)
    assert np.array_equal(full, np.full((4, 4), 9.0))


@pytest.mark.parametrize("hw, kernel, stride, padding, ceil_mode", [
    ((8, 8), (3, 3), (1, 1), (1, 1, 1, 1), False),
    ((7, 9), (3, 2), (2, 2), (0, 1, 1, 0), False),
    ((8, 8), (3, 3), (2, 2), (1, 1, 1, 1), True),           # a ceil-mode overhang, never counted
    ((6, 5), (2, 3), (2, 1), (1, 0, 0, 1), True),
])
def test_window_cells_are_scratchs_counts(hw, kernel, stride, padding, ceil_mode):
    out_hw, full = pool.pool_geometry(hw, kernel, stride, padding, ceil_mode)
    for include in (False, True):
        want = pool.window_counts(hw, kernel, stride, padding, full, out_hw, include)[0, 0]
        got = diagnose.window_cells(hw, kernel, stride, padding, out_hw, include)
        assert np.array_equal(got, want)


def pooled(x, cells):
    """x (m, C, H, W) padded by 1, 3x3 windows at stride 1, each sum divided by cells (H, W)."""
    H, W = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    sums = sum(xp[:, :, u:u + H, v:v + W] for u in range(3) for v in range(3))
    return sums / cells


def test_divisor_scaling_finds_the_padding_counted_or_left_out():
    x = RNG.standard_normal((3, 2, 5, 6))
    real = diagnose.window_cells((5, 6), (3, 3), (1, 1), (1, 1, 1, 1), (5, 6), False)
    window = diagnose.window_cells((5, 6), (3, 3), (1, 1), (1, 1, 1, 1), (5, 6), True)
    by_real, by_window = pooled(x, real), pooled(x, window)
    assert np.allclose(by_window[..., 1:-1, 1:-1], by_real[..., 1:-1, 1:-1])   # interior alike
    assert not np.allclose(by_window[..., 0, 0], by_real[..., 0, 0])
    assert diagnose.divisor_scaling(by_window, by_real, real, window) == "counted"
    assert diagnose.divisor_scaling(by_real, by_window, real, window) == "left out"
    assert diagnose.fraction_words(real, window, "counted") == "4/9 and 6/9"
    assert diagnose.fraction_words(real, window, "left out") == "9/4 and 9/6"


def test_divisor_scaling_is_none_for_other_differences():
    x = RNG.standard_normal((3, 2, 5, 6))
    real = diagnose.window_cells((5, 6), (3, 3), (1, 1), (1, 1, 1, 1), (5, 6), False)
    window = diagnose.window_cells((5, 6), (3, 3), (1, 1), (1, 1, 1, 1), (5, 6), True)
    theirs = pooled(x, real)
    assert diagnose.divisor_scaling(theirs, theirs.copy(), real, window) is None   # agree
    assert diagnose.divisor_scaling(2 * theirs, theirs, real, window) is None      # everywhere
    inside = pooled(x, window)
    inside[..., 2, 3] += 1.0                                       # an interior cell differs too
    assert diagnose.divisor_scaling(inside, theirs, real, window) is None
    assert diagnose.divisor_scaling(theirs[..., ::-1], theirs, real, window) is None
    assert diagnose.divisor_scaling(2 * theirs, theirs, window, window) is None    # no padding


def test_pool_divisor_words_on_the_avgpool_recipe():
    """cnn-zoo-avgpool pools 4x8x8 maps with 3x3 windows, stride 1, 'same' (padding 1 all round)."""
    spec = get("cnn-zoo-avgpool").spec
    x = np.maximum(RNG.standard_normal((3, 4, 8, 8)), 0)
    real = diagnose.window_cells((8, 8), (3, 3), (1, 1), (1, 1, 1, 1), (8, 8), False)
    by_real, by_window = cols(pooled(x, real)), cols(pooled(x, np.full((8, 8), 9.0)))
    before = {"Z1": cols(x), "A1": cols(x)}
    records = {"scratch": {**before, "P1": by_window}, "torch": {**before, "P1": by_real}}
    words = diagnose.pool_divisor_words(1, by_window, by_real, records, "scratch", "torch", spec)
    assert len(words) == 1 and "(everything before it agrees)" in words[0]
    assert ("the edge windows of P1 are scaled by 4/9 and 6/9 (the padded cells counted in the "
            "divisor), the interior agrees" in words[0])
    back = diagnose.pool_divisor_words(1, by_real, by_window, records, "torch", "scratch", spec)
    assert "scaled by 9/4 and 9/6 (the padded cells left out of the divisor)" in back[0]
    assert "count_include_pad=True" in back[0]
    other = by_window.copy()
    other[100, 0] += 1.0                                   # one interior difference more
    assert diagnose.pool_divisor_words(1, other, by_real, records, "scratch", "torch", spec) == []
    assert diagnose.pool_divisor_words(2, by_window, by_real, records, "scratch", "torch",
                                       spec) == []          # block 2 (the Dense) has no pooling
