"""The layer kinds other than Dense and Activation in Flax (nnx) and JAX: batch norm, layer norm,
dropout with the harness's mask, convolution, max / average / global average pooling, Flatten.

Read it beside reference/keras_mlp.py's builders (batch_norm, layer_norm, conv2d, pool2d, ...):
each kind's `jax(ctx)` (compare/engine/layers.py, image_layers.py) calls one builder here, which
returns a reference.jax_mlp.Part. Shapes are JAX's, as Keras's: rows (m, n), images NHWC
(m, H, W, C), a conv kernel (kh, kw, C, F). Every convention below was read in the installed
sources (flax 0.12.8, jax 0.10.2):

    nnx.BatchNorm   flax/nnx/nn/normalization.py BatchNorm.__call__: statistics over every axis
                    but the last (NHWC: per channel over N, H, W); _compute_stats with
                    use_fast_variance=True (its default): var = max(0, E[x^2] - E[x]^2);
                    running = momentum running + (1 - momentum) batch (Keras's meaning), the batch
                    variance biased; _normalize: (x - mean) * (rsqrt(var + eps) * scale) + bias.
                    Its running mean and var are created float32 whatever param_dtype says (the
                    constructor's jnp.zeros(.., jnp.float32)), and stay float32 in a float64 run
                    (self.mean[...] = .. is Variable.set_value at an index: the float32 array's
                    .at[...].set; measured). A Flax user's float64 run thus keeps them in float32
                    (the rule batchnorm-float32-running-stats); here they are set in the run's
                    dtype before the first step (0 and 1, exact in both), so that the reference
                    compares at the run's precision.
    nnx.LayerNorm   the same _compute_stats (fast variance) over the last axis; epsilon 1e-6.
    nnx.Dropout     flax/nnx/nn/stochastic.py Dropout.__call__: keep_prob = 1.0 - rate,
                    lax.select(mask, inputs / keep_prob, 0): divides (scratch: Convention.
                    dropout_divides). It draws its own mask from an Rngs stream; the harness's
                    mask is given here instead (USER-WRITTEN, as keras_mlp.SharedMaskDropout).
    nnx.Conv        flax/nnx/nn/linear.py Conv.__call__ -> lax.conv_general_dilated, NHWC, kernel
                    (kh, kw, in, out); padding 'VALID', 'SAME' or explicit ((top, bottom),
                    (left, right)) pairs, taken as they are (no ZeroPadding layer needed). 'SAME' is
                    TensorFlow's rule, the odd one after: jax/_src/lax/convolution.py ->
                    lax.padtype_to_pads (pad = max((ceil(n / s) - 1) s + (k - 1) d + 1 - n, 0),
                    before = pad // 2).
    pooling         flax/linen/pooling.py (nnx re-exports max_pool, avg_pool): pool() is
                    lax.reduce_window over the window, its padding 'VALID', 'SAME' (padtype_to_pads)
                    or explicit pairs, padded with the reduction's init value: -inf for max_pool,
                    0 for avg_pool; avg_pool divides by the whole window (count_include_pad=True,
                    its default) or by the pooled ones (False: the real cells).
                    Max pooling's gradient (reduce_window max's JVP, jax/_src/lax/
                    windowed_reductions.py _reduce_window_chooser_jvp_rule -> _select_and_gather_add
                    with select_prim ge, transposed to select_and_scatter_add): the FIRST maximum of
                    a window in scan order (measured, tests/test_jax_layers.py; scratch:
                    Convention.maxpool_grad_to_first_max).
    global average  jnp.mean over H and W: (m, H, W, C) -> (m, C) (USER-WRITTEN: Flax has no layer).
    Flatten         A.reshape(m, -1) on NHWC: H.W.C order, as Keras's (convert.py orders the next
                    Dense's kernel rows by Convention.channels_last).
L1/L2 cover a Conv's kernel as a Dense's (its bias with spec.regularize_biases): `penalized`.

Left out: ceil_mode (Flax's pooling has none: image_layers.Pool2D.unavailable), LayerNorm on images,
nnx.Dropout's broadcast_dims (SpatialDropout2D's mask (m, 1, 1, C) broadcasts the same way).
"""
import jax.numpy as jnp
from flax import nnx

from .jax_mlp import Part, dtype_of


def channels(n):
    return n[0] if isinstance(n, tuple) else n


class BatchNormPart(Part):
    """nnx.BatchNorm: the batch's statistics in training (and the running ones moved), the running
    ones in evaluation (use_running_average = not training)."""

    def apply(self, module, A, masks, training):
        return module(A, use_running_average=not training)


def batch_norm(layer, ctx):
    """nnx.BatchNorm over the last axis (units, or an image's channels of NHWC) with the layer's
    settings in Flax's meaning (momentum the old average's weight, as Keras's), dtype and
    param_dtype the run's; use_fast_variance as Flax defaults it (True)."""
    s, dtype, n = layer.settings("jax"), dtype_of(ctx), channels(ctx.n_in)
    norm = nnx.BatchNorm(n, momentum=s["momentum"], epsilon=s["eps"], dtype=dtype,
                         param_dtype=dtype, rngs=nnx.Rngs(0))
    norm.mean.set_value(jnp.zeros((n,), dtype))         # float32 as built: the run's dtype instead
    norm.var.set_value(jnp.ones((n,), dtype))
    part = BatchNormPart(norm, {"gamma": "scale", "beta": "bias"}, {"mean": "mean", "var": "var"})
    part.load(ctx.initial)
    return part


def layer_norm(layer, ctx):
    """nnx.LayerNorm over the units with the layer's epsilon (Flax's 1e-6 unset), fast variance."""
    dtype = dtype_of(ctx)
    norm = nnx.LayerNorm(ctx.n_in, epsilon=layer.settings("jax")["eps"], dtype=dtype,
                         param_dtype=dtype, rngs=nnx.Rngs(0))
    part = Part(norm, {"gamma": "scale", "beta": "bias"})
    part.load(ctx.initial)
    return part


class SharedMaskDropout(Part):
    """Dropout with the harness's mask for its block (JAX layout: (m, n), (m, H, W, C), or
    SpatialDropout2D's (m, 1, 1, C) broadcast over H and W), by nnx.Dropout's own rule:
    where(mask, A / keep_prob, 0), keep_prob = 1.0 - rate. Nothing in evaluation or at rate 0.
    USER-WRITTEN: nnx.Dropout draws its mask from an Rngs stream and takes none from outside."""

    def __init__(self, rate, block):
        super().__init__()
        self.rate, self.block = rate, block

    def __call__(self, params, state, A, masks, training):
        if not training or not self.rate:
            return A, {}
        keep_prob = 1.0 - self.rate
        return jnp.where(masks[self.block] > 0, A / keep_prob, jnp.zeros_like(A)), {}


def dropout(layer, ctx):
    return SharedMaskDropout(float(layer.rate), ctx.block)


def conv2d(layer, ctx):
    """nnx.Conv on NHWC images, kernel (kh, kw, C, F), from the harness's W and b; padding 'SAME'
    as Flax's own (TensorFlow's rule), any other padding as explicit (before, after) pairs."""
    kernel, strides, dilation, (top, bottom, left, right) = layer.geometry(ctx.n_in)
    dtype = dtype_of(ctx)
    padding = "SAME" if layer.padding == "same" else ((top, bottom), (left, right))
    # the harness's W given: kernel_init zeros, load() puts W in its place (Flax's default,
    # lecun_normal, would compile a random draw per kernel shape, seconds each, for values unused)
    given = {"kernel_init": nnx.initializers.zeros_init()} if "W" in ctx.initial else {}
    conv = nnx.Conv(ctx.n_in[0], layer.filters, kernel_size=kernel, strides=strides,
                    padding=padding, kernel_dilation=dilation, use_bias=layer.bias, dtype=dtype,
                    param_dtype=dtype, rngs=nnx.Rngs(0), **given)
    params = {"W": "kernel", "b": "bias"} if layer.bias else {"W": "kernel"}
    part = Part(conv, params, penalized=("W", "b") if ctx.spec.regularize_biases else ("W",))
    part.load(ctx.initial)
    return part


def pool2d(layer, ctx):
    """nnx.max_pool / nnx.avg_pool (flax.linen.pooling's) with the layer's window, strides and
    padding: 'SAME' where it is TensorFlow's 'same', else explicit pairs (-inf around a max, zeros
    around an average), the average counting the padding as the layer says (count_include_pad)."""
    kernel, strides, (top, bottom, left, right) = layer.geometry(ctx.n_in)
    padding = "SAME" if layer.padding == "same" else ((top, bottom), (left, right))
    if layer.kind == "max_pool2d":
        return Part(fn=lambda A: nnx.max_pool(A, kernel, strides, padding))
    counts = layer.counts_padding()
    return Part(fn=lambda A: nnx.avg_pool(A, kernel, strides, padding, count_include_pad=counts))


def global_avg_pool2d(layer, ctx):
    """Each channel's mean over H and W: (m, H, W, C) -> (m, C)."""
    return Part(fn=lambda A: jnp.mean(A, axis=(1, 2)))


def flatten(layer, ctx):
    """(m, H, W, C) -> (m, H W C), channels-last order."""
    return Part(fn=lambda A: A.reshape(A.shape[0], -1))
