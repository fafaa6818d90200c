"""scratch/conv.py and scratch/pool.py (issue 20, part 1), in float64:
- the naive loop convolution and the im2col one agree to 1e-15 of the largest output (not bit for bit:
  np.sum over a window and BLAS's dot add the same products in different orders); chunking the
  im2col by examples changes no bit of out and dx, and dw only by the order of its sum (to 1e-14);
- every backward against central differences (h = 1e-6, relative error < 1e-7 of the largest element);
- torch.nn.functional (conv2d, max_pool2d, avg_pool2d, batch_norm, dropout2d) forward and autograd
  backward to 1e-12 of the largest value; TensorFlow (tf.nn.conv2d, max_pool2d, avg_pool2d, channels
  last) likewise, through tf.GradientTape;
- max-pool ties: each framework's gradient equals scratch's under its convention's rule BIT FOR BIT,
  overlapping windows included; TF's 'same' stride-2 padding puts the odd row at the bottom;
- the new Convention attributes read back from the frameworks."""
import dataclasses
import inspect
import itertools

import numpy as np
import pytest

from scratch import conv, pool
from scratch.conventions import KERAS, TORCH

torch = pytest.importorskip("torch")
F = torch.nn.functional


# --- helpers -------------------------------------------------------------------------------------

def rel_error(x, y):
    """max |x - y| / max(|x| + |y|): relative to the largest gradient element. (cs231n's element by
    element form, max |x - y| / max(1e-8, |x| + |y|), measures ~2e-7 here on elements near 0, where
    only the rounding of the outputs is left: ~1e-16 |out| / h per output, whatever the backward.)"""
    return np.max(np.abs(x - y)) / max(np.max(np.abs(x) + np.abs(y)), 1e-300)


def close(ours, theirs, tol=1e-12):
    """max |ours - theirs| <= tol * max |theirs| (relative to the largest value), shapes equal."""
    assert ours.shape == theirs.shape
    scale = max(np.max(np.abs(theirs)), 1e-300)
    assert np.max(np.abs(ours - theirs)) <= tol * scale, np.max(np.abs(ours - theirs)) / scale


def central(f, X, R, h=1e-6):
    """d sum(f(X) R) / dX by central differences, f array-valued. As cs231n's
    eval_numerical_gradient_array: sum((f(X + h) - f(X - h)) R) / 2h, the outputs subtracted before
    the sum, so the outputs a step does not move cancel exactly instead of rounding the sum."""
    grad = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[i] += h
        down[i] -= h
        grad[i] = np.sum((f(up) - f(down)) * R) / (2 * h)
    return grad


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def torch_grads(fn, inputs, R):
    """fn(*tensors) -> out; d sum(out R) / d each input, by torch's autograd."""
    ts = [t(a) for a in inputs]
    out = fn(*ts)
    (out * torch.tensor(R)).sum().backward()
    return out.detach().numpy(), [a.grad.numpy() for a in ts]


def torch_pad(x, padding):
    """F.pad takes (left, right, top, bottom)."""
    top, bottom, left, right = padding
    return F.pad(x, (left, right, top, bottom))


RNG = np.random.default_rng(20)
SIZES = [(7, 6), (6, 9)]                  # odd and even rows and columns


def conv_padding(mode, hw, stride, dilation):
    if mode == "valid":
        return conv.VALID
    if mode == "same":                    # TensorFlow's rule: any stride (Keras's convention)
        return conv.same_padding_2d(hw, (3, 3), stride, dilation, KERAS)
    return (1, 0, 2, 1)                   # explicit, asymmetric


CONV_GRID = list(itertools.product(SIZES, [1, 2], ["valid", "same", "explicit"], [1, 2], [True, False]))


def conv_case(hw, s, mode, d, bias):
    x, w = RNG.normal(size=(2, 3, *hw)), RNG.normal(size=(4, 3, 3, 3))
    b = RNG.normal(size=4) if bias else None
    return x, w, b, (s, s), conv_padding(mode, hw, (s, s), (d, d)), (d, d)


# --- naive == vectorised; chunking changes no bit -------------------------------------------------

@pytest.mark.parametrize("hw, s, mode, d, bias", CONV_GRID)
def test_naive_and_im2col_convolutions_agree(hw, s, mode, d, bias):
    x, w, b, stride, padding, dilation = conv_case(hw, s, mode, d, bias)
    naive, naive_cache = conv.conv2d_forward_naive(x, w, b, stride, padding, dilation)
    fast, cache = conv.conv2d_forward(x, w, b, stride, padding, dilation)
    close(fast, naive, 1e-15)
    dout = RNG.normal(size=fast.shape)                       # either cache serves conv2d_backward
    for ours, theirs in zip(conv.conv2d_backward(dout, naive_cache), conv.conv2d_backward(dout, cache)):
        assert (ours is None and theirs is None) or np.array_equal(ours, theirs)


def test_chunking_the_columns_changes_no_bit_but_the_order_of_dws_sum():
    """out and dx are the same sums whatever the chunk (bit for bit); dw adds its N Ho Wo products
    one product per chunk, then the chunks: the same terms regrouped, so it moves by rounding only
    (measured <= 1.3e-15 of the largest over 20 draws; asserted 1e-14). Not asking for dx (the
    first layer's) changes nothing else."""
    x, w, b = RNG.normal(size=(5, 3, 8, 7)), RNG.normal(size=(4, 3, 3, 2)), RNG.normal(size=4)
    args = (x, w, b, (2, 1), (1, 2, 0, 1), (1, 2))
    whole, cache = conv.conv2d_forward(*args)                        # one chunk under COLUMN_BYTES
    dout = RNG.normal(size=whole.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache)
    one_example = 3 * 3 * 2 * whole.shape[2] * whole.shape[3] * 8
    for chunk_bytes in (1, one_example * 2, one_example * 3 + 5):   # 1, 2, 3 examples a chunk
        out, cache = conv.conv2d_forward(*args, chunk_bytes=chunk_bytes)
        assert np.array_equal(out, whole), chunk_bytes
        dx_c, dw_c, db_c = conv.conv2d_backward(dout, cache)
        assert np.array_equal(dx_c, dx) and np.array_equal(db_c, db), chunk_bytes
        close(dw_c, dw, 1e-14)
        no_dx = conv.conv2d_backward(dout, cache, need_dx=False)
        assert no_dx[0] is None and np.array_equal(no_dx[1], dw_c) and np.array_equal(no_dx[2], db_c)
    assert len(conv.chunks(5, one_example, one_example * 2)) == 3 and conv.COLUMN_BYTES == 64 * 2**20


# --- finite differences ---------------------------------------------------------------------------

@pytest.mark.parametrize("s, mode, d", [(1, "same", 1), (2, "explicit", 1), (2, "same", 2)])
def test_conv_backward_matches_central_differences(s, mode, d):
    x, w, b, stride, padding, dilation = conv_case((5, 6), s, mode, d, True)
    out, cache = conv.conv2d_forward(x, w, b, stride, padding, dilation)
    R = RNG.normal(size=out.shape)

    def forward(x=x, w=w, b=b):
        return conv.conv2d_forward(x, w, b, stride, padding, dilation)[0]
    dx, dw, db = conv.conv2d_backward(R, cache)
    assert rel_error(dx, central(lambda v: forward(x=v), x, R)) < 1e-7
    assert rel_error(dw, central(lambda v: forward(w=v), w, R)) < 1e-7
    assert rel_error(db, central(lambda v: forward(b=v), b, R)) < 1e-7


POOLS = [((2, 2), (2, 2), (0, 0, 0, 0), False), ((3, 3), (1, 1), (1, 1, 1, 1), False),
         ((3, 2), (2, 1), (1, 0, 1, 0), True), ((3, 3), (2, 2), (1, 1, 1, 1), True)]


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", POOLS)
def test_pool_backwards_match_central_differences(kernel, stride, padding, ceil_mode):
    x = RNG.permutation(np.arange(2 * 2 * 5 * 6, dtype=float)).reshape(2, 2, 5, 6) / 7   # no ties
    cases = [(pool.max_pool2d_forward, pool.max_pool2d_backward, {})]
    cases += [(pool.avg_pool2d_forward, pool.avg_pool2d_backward, {"count_include_pad": c}) for c in (True, False)]
    for forward, backward, options in cases:
        out, cache = forward(x, kernel, stride, padding, ceil_mode, **options)
        R = RNG.normal(size=out.shape)
        numeric = central(lambda v: forward(v, kernel, stride, padding, ceil_mode, **options)[0], x, R)
        assert rel_error(backward(R, cache), numeric) < 1e-7, (forward.__name__, options)


def test_global_pool_flatten_and_channel_batchnorm_backwards_match_central_differences():
    x = RNG.normal(size=(3, 2, 4, 5)) * 2 + 1
    out, shape = pool.global_avg_pool2d_forward(x)
    R = RNG.normal(size=out.shape)
    numeric = central(lambda v: pool.global_avg_pool2d_forward(v)[0], x, R)
    assert rel_error(pool.global_avg_pool2d_backward(R, shape), numeric) < 1e-7
    gamma, beta = RNG.normal(size=2), RNG.normal(size=2)
    y, cache = conv.batchnorm2d_forward(x, gamma, beta, 1e-3)
    R = RNG.normal(size=y.shape)

    def forward(x=x, g=gamma, b=beta):
        return conv.batchnorm2d_forward(x, g, b, 1e-3)[0]
    dx, dgamma, dbeta = conv.batchnorm2d_backward(R, cache)
    assert rel_error(dx, central(lambda v: forward(x=v), x, R)) < 1e-7
    assert rel_error(dgamma, central(lambda v: forward(g=v), gamma, R)) < 1e-7
    assert rel_error(dbeta, central(lambda v: forward(b=v), beta, R)) < 1e-7


# --- torch.nn.functional, forward and autograd backward ---------------------------------------------

@pytest.mark.parametrize("hw, s, mode, d, bias", CONV_GRID)
def test_conv_is_torchs(hw, s, mode, d, bias):
    x, w, b, stride, padding, dilation = conv_case(hw, s, mode, d, bias)
    out, cache = conv.conv2d_forward(x, w, b, stride, padding, dilation)
    R = RNG.normal(size=out.shape)
    inputs = [x, w] + ([b] if bias else [])
    top, bottom, left, right = padding
    if mode == "same" and s == 1:                     # torch's own 'same' (stride 1 only)
        def fn(x, w, b=None):
            return F.conv2d(x, w, b, stride, "same", dilation)
    elif top == bottom and left == right:             # torch's own symmetric padding
        def fn(x, w, b=None):
            return F.conv2d(x, w, b, stride, (top, left), dilation)
    else:                                             # asymmetric: F.pad, then no padding
        def fn(x, w, b=None):
            return F.conv2d(torch_pad(x, padding), w, b, stride, 0, dilation)
    ref, grads = torch_grads(fn, inputs, R)
    close(out, ref)
    for ours, theirs in zip(conv.conv2d_backward(R, cache), grads):
        close(ours, theirs)


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (2, 1, 1), (3, 2, 1), (3, 1, 0), (3, 3, 1)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pools_are_torchs(hw, k, s, p, ceil_mode):
    x = RNG.normal(size=(2, 3, *hw))
    padding = (p, p, p, p)
    out, cache = pool.max_pool2d_forward(x, (k, k), (s, s), padding, ceil_mode, TORCH)
    R = RNG.normal(size=out.shape)
    ref, (dx,) = torch_grads(lambda x: F.max_pool2d(x, k, s, p, ceil_mode=ceil_mode), [x], R)
    close(out, ref)
    close(pool.max_pool2d_backward(R, cache), dx)
    for count_include_pad in (True, False):
        out, cache = pool.avg_pool2d_forward(x, (k, k), (s, s), padding, ceil_mode, count_include_pad)
        ref, (dx,) = torch_grads(lambda x: F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad), [x], R)
        close(out, ref)
        close(pool.avg_pool2d_backward(R, cache), dx)
    out, shape = pool.global_avg_pool2d_forward(x)
    R = RNG.normal(size=out.shape)
    ref, (dx,) = torch_grads(lambda x: F.adaptive_avg_pool2d(x, 1), [x], R)
    close(out, ref)
    close(pool.global_avg_pool2d_backward(R, shape), dx)


def test_channel_batchnorm_is_torchs_with_its_running_statistics():
    x = RNG.normal(size=(4, 3, 5, 6)) * 3 + 2
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    mean0, var0 = RNG.normal(size=3), RNG.random(3) + 0.5
    y, cache = conv.batchnorm2d_forward(x, gamma, beta, 1e-5)
    R = RNG.normal(size=y.shape)
    tmean, tvar = torch.tensor(mean0), torch.tensor(var0)
    ref, grads = torch_grads(lambda x, g, b: F.batch_norm(x, tmean, tvar, g, b, training=True, momentum=0.1,
                                                          eps=1e-5), [x, gamma, beta], R)
    close(y, ref)
    for ours, theirs in zip(conv.batchnorm2d_backward(R, cache), grads):
        close(ours, theirs)
    mean, var = conv.batchnorm2d_running_update(mean0, var0, cache, 0.1, TORCH)     # count N H W = 120
    close(mean, tmean.numpy())
    close(var, tvar.numpy())
    x2 = RNG.normal(size=(2, 3, 5, 6))
    ref = F.batch_norm(torch.tensor(x2), tmean, tvar, torch.tensor(gamma), torch.tensor(beta), training=False,
                       eps=1e-5).numpy()
    close(conv.batchnorm2d_inference(x2, gamma, beta, 1e-5, mean, var), ref)


def test_spatial_dropout_is_torchs_with_its_own_mask():
    x = RNG.normal(size=(6, 5, 3, 4))
    out = F.dropout2d(torch.tensor(x), p=0.3, training=True).numpy()
    mask = (out[:, :, 0, 0] != 0).astype(float)                       # torch's mask read back, per channel
    assert 0 < mask.sum() < mask.size
    assert np.array_equal(out, conv.spatial_dropout_forward(x, mask, 0.3))
    dy = RNG.normal(size=x.shape)
    assert np.array_equal(conv.spatial_dropout_backward(dy, mask, 0.3), dy * (mask[:, :, None, None] / 0.7))


def test_spatial_dropout_is_keras_with_its_own_mask(tf):
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(6, 5, 3, 4))
    out = nchw(keras.layers.SpatialDropout2D(0.3, dtype="float64")(nhwc(x), training=True).numpy())
    mask = (out[:, :, 0, 0] != 0).astype(float)
    assert 0 < mask.sum() < mask.size and np.array_equal(out, conv.spatial_dropout_forward(x, mask, 0.3))


# --- max-pool ties: each framework's own rule, bit for bit -----------------------------------------

TIES = [((2, 2), (2, 2), 0), ((3, 3), (1, 1), 1), ((3, 3), (2, 2), 1), ((2, 2), (1, 1), 0)]


def tied_input():
    """Values 0, 1, 2 only: most windows hold several maxima; one channel all equal."""
    x = RNG.integers(0, 3, size=(2, 2, 6, 7)).astype(float)
    x[1, 1] = 1.0
    return x


def last_max(convention):
    return dataclasses.replace(convention, name=f"{convention.name}-last", maxpool_grad_to_first_max=False)


@pytest.mark.parametrize("kernel, stride, p", TIES)
@pytest.mark.parametrize("memory_format", ["contiguous_format", "channels_last"])
def test_maxpool_ties_follow_torchs_rule_exactly(kernel, stride, p, memory_format):
    """dout of small integers: the sums of overlapping windows are exact in any order, so the
    comparison can be bit for bit. channels_last runs aten's other (channels-last) CPU kernel."""
    x = tied_input()
    out, cache = pool.max_pool2d_forward(x, kernel, stride, (p, p, p, p), False, TORCH)
    dout = RNG.integers(1, 5, size=out.shape).astype(float)
    layout = getattr(torch, memory_format)
    ref, (dx,) = torch_grads(lambda x: F.max_pool2d(x.contiguous(memory_format=layout), kernel, stride, p),
                             [x], dout)
    assert np.array_equal(out, ref) and np.array_equal(pool.max_pool2d_backward(dout, cache), dx)
    _, other = pool.max_pool2d_forward(x, kernel, stride, (p, p, p, p), False, last_max(TORCH))
    assert not np.array_equal(pool.max_pool2d_backward(dout, other), dx)     # the rule is what decides


def test_a_window_of_equal_values_sends_its_gradient_to_the_first():
    x = np.ones((1, 1, 2, 2))
    _, (dx,) = torch_grads(lambda x: F.max_pool2d(x, 2), [x], np.ones((1, 1, 1, 1)))
    assert TORCH.maxpool_grad_to_first_max and dx.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]


# --- the new Convention attributes against the frameworks -----------------------------------------

def test_torch_side_of_the_new_convention_attributes():
    with pytest.raises(ValueError, match="not supported for strided"):
        torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="same' with stride 2"):
        conv.same_padding(6, 3, 2, 1, TORCH)
    assert conv.same_padding(6, 3, 1, 2, TORCH) == (2, 2) and conv.same_padding(6, 4, 1, 1, TORCH) == (1, 2)
    assert torch.nn.Conv2d(1, 1, (3, 4), padding="same")._reversed_padding_repeated_twice == [1, 2, 1, 1]
    assert torch.nn.AvgPool2d(2).count_include_pad == TORCH.avgpool_counts_padding
    assert "ceil_mode" in inspect.signature(torch.nn.MaxPool2d).parameters and TORCH.pool_ceil_mode_available
    x = RNG.normal(size=(2, 3, 2, 4))
    with pytest.raises(ValueError, match="Keras pooling has no ceil_mode"):
        pool.max_pool2d_forward(x, (2, 2), (2, 2), ceil_mode=True, convention=KERAS)


# --- TensorFlow / Keras, channels last ------------------------------------------------------------

@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def nhwc(a):
    return a.transpose(0, 2, 3, 1)


def nchw(a):
    return a.transpose(0, 3, 1, 2)


def tf_grads(tf, fn, inputs, R):
    """fn(*tensors) -> out (channels last); d sum(out R) / d each input, by tf.GradientTape."""
    ts = [tf.constant(a, dtype=tf.float64) for a in inputs]
    with tf.GradientTape() as tape:
        for a in ts:
            tape.watch(a)
        out = fn(*ts)
        loss = tf.reduce_sum(out * tf.constant(R))
    return out.numpy(), [g.numpy() for g in tape.gradient(loss, ts)]


def tf_conv(tf, stride, mode, dilation):
    def fn(x, k, b):
        # tf.nn.convolution: a dilated one through space_to_batch (Conv2D's CPU backward has no dilation)
        return tf.nn.convolution(x, k, strides=stride, padding=mode.upper(), dilations=dilation) + b
    return fn


TF_CONV_GRID = [(hw, s, mode, d) for hw in SIZES for s in (1, 2) for mode in ("valid", "same") for d in (1, 2)
                if s == 1 or d == 1]                                   # TF's CPU conv: no stride and dilation both


@pytest.mark.parametrize("hw, s, mode, d", TF_CONV_GRID)
def test_conv_is_tensorflows_channels_last(tf, hw, s, mode, d):
    x, w, b, stride, padding, dilation = conv_case(hw, s, mode, d, True)
    out, cache = conv.conv2d_forward(x, w, b, stride, padding, dilation)
    R = RNG.normal(size=out.shape)
    kernel = w.transpose(2, 3, 1, 0)                                   # (kh, kw, C, F)
    ref, (dx, dk, db) = tf_grads(tf, tf_conv(tf, stride, mode, dilation), [nhwc(x), kernel, b], nhwc(R))
    close(out, nchw(ref))
    ours = conv.conv2d_backward(R, cache)
    close(ours[0], nchw(dx))
    close(ours[1], dk.transpose(3, 2, 0, 1))
    close(ours[2], db)


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("k, s", [(2, 2), (3, 2), (3, 1), (2, 1)])
@pytest.mark.parametrize("mode", ["valid", "same"])
def test_pools_are_tensorflows_channels_last(tf, hw, k, s, mode):
    x = RNG.normal(size=(2, 3, *hw))
    padding = conv.same_padding_2d(hw, (k, k), (s, s), (1, 1), KERAS) if mode == "same" else conv.VALID
    for forward, backward, tf_pool in ((pool.max_pool2d_forward, pool.max_pool2d_backward, tf.nn.max_pool2d),
                                       (pool.avg_pool2d_forward, pool.avg_pool2d_backward, tf.nn.avg_pool2d)):
        out, cache = forward(x, (k, k), (s, s), padding, convention=KERAS)   # Keras: the average of real cells
        R = RNG.normal(size=out.shape)
        ref, (dx,) = tf_grads(tf, lambda x: tf_pool(x, k, s, mode.upper()), [nhwc(x)], nhwc(R))
        close(out, nchw(ref))
        close(backward(R, cache), nchw(dx))


@pytest.mark.parametrize("kernel, stride, p", TIES)
@pytest.mark.parametrize("mode", ["valid", "same"])
def test_maxpool_ties_follow_tensorflows_rule_exactly(tf, kernel, stride, p, mode):
    x = tied_input()
    padding = conv.same_padding_2d(x.shape[2:], kernel, stride, (1, 1), KERAS) if mode == "same" else conv.VALID
    out, cache = pool.max_pool2d_forward(x, kernel, stride, padding, False, KERAS)
    dout = RNG.integers(1, 5, size=out.shape).astype(float)
    ref, (dx,) = tf_grads(tf, lambda x: tf.nn.max_pool2d(x, kernel, stride, mode.upper()), [nhwc(x)], nhwc(dout))
    assert np.array_equal(out, nchw(ref)) and np.array_equal(pool.max_pool2d_backward(dout, cache), nchw(dx))
    _, other = pool.max_pool2d_forward(x, kernel, stride, padding, False, last_max(KERAS))
    assert not np.array_equal(pool.max_pool2d_backward(dout, other), nchw(dx))


@pytest.mark.parametrize("size", [6, 7, 8, 9])
@pytest.mark.parametrize("k", [2, 3])
def test_tensorflows_same_stride_2_puts_the_odd_row_at_the_bottom(tf, size, k):
    x, w = RNG.normal(size=(1, 2, size, size)), RNG.normal(size=(3, 2, k, k))
    before, after = conv.same_padding(size, k, 2, 1, KERAS)
    total = max((-(-size // 2) - 1) * 2 + k - size, 0)
    assert (before, after) == (total // 2, total - total // 2) and after >= before
    out, _ = conv.conv2d_forward(x, w, None, (2, 2), (before, after, before, after))
    ref = tf.nn.conv2d(nhwc(x), w.transpose(2, 3, 1, 0), strides=2, padding="SAME").numpy()
    assert out.shape == nchw(ref).shape == (1, 3, -(-size // 2), -(-size // 2))
    close(out, nchw(ref))
    if total % 2:                              # a port that pads symmetrically shifts the output
        shifted, _ = conv.conv2d_forward(x, w, None, (2, 2), (after, before, after, before))
        assert not np.allclose(shifted, out)


def test_keras_side_of_the_new_convention_attributes(tf):
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(2, 3, 2, 4))
    assert "ceil_mode" not in inspect.signature(keras.layers.MaxPooling2D).parameters
    assert not KERAS.pool_ceil_mode_available
    same = keras.layers.AveragePooling2D(2, padding="same", dtype="float64")(nhwc(np.ones((1, 1, 3, 3)))).numpy()
    assert not KERAS.avgpool_counts_padding and np.array_equal(same, np.ones((1, 2, 2, 1)))  # 1, not 1/2, 1/4
    w = RNG.normal(size=(3, 2, 3, 3))
    layer = keras.layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False, dtype="float64")
    layer.build((None, 6, 6, 2))
    layer.set_weights([w.transpose(2, 3, 1, 0)])
    x = RNG.normal(size=(1, 2, 6, 6))
    ours, _ = conv.conv2d_forward(x, w, None, (2, 2), conv.same_padding_2d((6, 6), (3, 3), (2, 2), (1, 1), KERAS))
    assert KERAS.same_padding_strided
    close(ours, nchw(layer(nhwc(x)).numpy()))


def test_channel_batchnorm_is_keras_with_its_moving_statistics(tf):
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(4, 3, 5, 6)) * 3 + 2
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    layer = keras.layers.BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-3, dtype="float64")
    layer.build((None, 5, 6, 3))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y, cache = conv.batchnorm2d_forward(x, gamma, beta, 1e-3)
    R = RNG.normal(size=y.shape)
    xt = tf.constant(nhwc(x))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = layer(xt, training=True)
        loss = tf.reduce_sum(out * tf.constant(nhwc(R)))
    dx, dgamma, dbeta = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    close(y, nchw(out.numpy()))
    for ours, theirs in zip(conv.batchnorm2d_backward(R, cache), (nchw(dx.numpy()), dgamma.numpy(), dbeta.numpy())):
        close(ours, theirs)
    mean, var = conv.batchnorm2d_running_update(np.zeros(3), np.ones(3), cache, 0.9, KERAS)  # biased variance
    close(mean, layer.moving_mean.numpy())
    close(var, layer.moving_variance.numpy())
    x2 = RNG.normal(size=(2, 3, 5, 6))
    close(conv.batchnorm2d_inference(x2, gamma, beta, 1e-3, mean, var), nchw(layer(nhwc(x2), training=False).numpy()))
