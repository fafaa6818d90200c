"""Conv-network settings in one framework's words, translated into the other's, and proven by
running the layers of both on one random input in float64 (issue 20, part 6).

    t = translate_layer(LayerSettings("conv", "keras", padding="same", stride=(2, 2)))
    proof = prove_layer(t)      # max |torch - keras|: the output, dX, each parameter's gradient

A Translation holds both sides as code (statements that define `layers`, a list applied in order;
the proof executes exactly that text) and its Rows. Kinds as compare/engine/translate.py's:
'exact' (the same arithmetic up to rounding: each distance <= ROUNDING), 'closest' (the nearest
form; the distance is measured), with an `exact` alternative proven beside it where one exists.

The rules (each cites the source it was verified in; docs/conventions.md):
  'same' padding     TensorFlow: ceil(n / s) outputs, total = (ceil(n / s) - 1) s + k - n, before
                     total // 2, the odd one after (scratch/conv.py same_padding). torch's
                     padding='same' splits d (k - 1) the same way but refuses stride > 1
                     (torch/nn/modules/conv.py:117, 143-155): a port pads by hand, nn.ZeroPad2d
                     ((left, right, top, bottom)); torch's padding=p is symmetric ->
                     keras.layers.ZeroPadding2D + 'valid' ('same' itself where it coincides).
  Flatten order      torch flattens C.H.W, Keras H.W.C: the first Dense's rows are permuted
                     (compare/engine/convert.py flatten_order), or Permute((3, 1, 2)) before Keras's
                     Flatten / x.permute(0, 2, 3, 1) before torch's.
  BatchNorm          BatchNorm2d(momentum=m, eps) = BatchNormalization(axis=-1, momentum=1 - m,
                     epsilon) (torch/nn/modules/batchnorm.py; keras/src/layers/normalization/
                     batch_normalization.py:386-390); the running variance: torch unbiased, Keras
                     biased (measured, not judged).
  pooling            torch pads max pooling with -inf and ceil_mode lets the last window hang over
                     the bottom/right (scratch/pool.py pool_geometry); Keras has no ceil_mode: its
                     'same' where the windows coincide, else ZeroPadding2D + 'valid' (zero padding
                     equals -inf padding only where every window holds a value >= 0: after ReLU),
                     and the exact form keras.ops.pad(-inf). Average pooling divides by the counted
                     cells (count_include_pad; scratch/pool.py window_counts): exact forms divide a
                     zero-padded average by the average of a mask of the counted cells.

Left out: dilation, groups, padding modes other than zeros/-inf, 1-D and 3-D layers.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from scratch import pool as scratch_pool
from scratch.conv import same_padding
from scratch.conventions import KERAS, TORCH

from .convert import flatten_order
from .errors import InputError

ROUNDING = 1e-14            # 'exact': max |torch - keras| <= ROUNDING x max |value|, each tensor:
                            # sums of up to ~100 terms added in another order differ by a few n
                            # eps (eps 2.2e-16); measured 0 to 1.9e-15 (tests/test_cnn_teaching.py)
LAYERS = ("conv", "max_pool", "avg_pool", "flatten", "batchnorm")


@dataclass(frozen=True)
class LayerSettings:
    layer: str                          # one of LAYERS
    source: str                         # 'torch' | 'keras': whose words the settings are in
    padding: object = "valid"           # 'valid' | 'same' | (ph, pw) (torch's symmetric padding)
    kernel: tuple = (3, 3)              # conv kernel, or pooling window
    stride: tuple | None = None         # None: (1, 1) for conv, the window for pooling
    shape: tuple = (3, 8, 8)            # the input image (C, H, W)
    filters: int = 4                    # conv's output channels
    units: int = 5                      # the Dense after a Flatten
    ceil_mode: bool = False             # torch pooling only
    count_include_pad: bool = True      # torch average pooling only (torch's default)
    momentum: float | None = None       # BatchNorm, in the source's words (None: its default)
    eps: float | None = None            # BatchNorm (None: the source's default)
    examples: int = 2
    seed: int = 0

    @property
    def strides(self):
        return self.stride or (self.kernel if self.layer.endswith("pool") else (1, 1))


@dataclass
class Form:
    """One way to write the layer on each side, and what is claimed of it."""
    rule: str
    kind: str                           # exact | closest | mistake (a usual wrong port, measured)
    torch: list                         # statements defining `layers` (torch, nn, F, math in scope)
    keras: list                         # statements defining `layers` (keras, np in scope)
    why: str = ""
    params: dict = field(default_factory=dict)   # torch name -> (its shape, Keras's name,
                                                  #   torch's layout -> Keras's, Keras's -> torch's)
    nonneg: bool = False                # also measured on |input| (after a ReLU)
    states: tuple = ()                  # BatchNorm: the running statistics compared after the step


@dataclass
class Translation:
    settings: LayerSettings
    source_words: str                   # the layer as the source writes it
    forms: list                         # [Form]: the translation first, then an exact alternative
    notes: list                         # the rule spelled out with this input's numbers

    @property
    def target(self):
        return "keras" if self.settings.source == "torch" else "torch"


def check(s):
    """The settings must be ones the source framework has: InputError (exit 2) otherwise."""
    C, H, W = s.shape
    if min(s.kernel) < 1 or min(s.strides) < 1 or min(s.shape) < 1:
        raise InputError("--kernel, --stride and --input-shape take positive integers")
    if s.source == "keras" and not isinstance(s.padding, str):
        raise InputError(f"Keras's padding is 'valid' or 'same', not {s.padding!r}: an explicit "
                         "padding is torch's (--from torch)")
    if s.source == "keras" and (s.ceil_mode or not s.count_include_pad):
        raise InputError("Keras's pooling has no ceil_mode or count_include_pad: torch settings "
                         "(--from torch)")
    if s.source == "torch" and s.padding == "same" and s.layer.endswith("pool"):
        raise InputError("torch's pooling has no padding='same': give --padding P (or --from "
                         "keras)")
    if s.source == "torch" and s.layer == "conv" and s.padding == "same" and max(s.strides) > 1:
        raise InputError("torch's Conv2d refuses padding='same' with stride > 1 (torch/nn/modules/"
                         "conv.py:117): give --padding P, or --from keras")
    p = pads(s)
    if s.layer.endswith("pool") and max(p) * 2 > min(s.kernel):
        raise InputError(f"torch's pooling padding must be at most half the window {s.kernel}, "
                         f"got {p}")
    if H + p[0] + p[1] < s.kernel[0] or W + p[2] + p[3] < s.kernel[1]:
        raise InputError(f"the window {s.kernel} is larger than the padded input {H}x{W}")


def pads(s):
    """(top, bottom, left, right) the source's padding means for this input (TensorFlow's rule for
    'same': scratch/conv.py same_padding)."""
    if s.padding == "valid":
        return 0, 0, 0, 0
    if s.padding == "same":
        rows = same_padding(s.shape[1], s.kernel[0], s.strides[0], 1, KERAS)
        cols = same_padding(s.shape[2], s.kernel[1], s.strides[1], 1, KERAS)
        return (*rows, *cols)
    ph, pw = s.padding
    return ph, ph, pw, pw


def tup(values):
    return "(" + ", ".join(str(v) for v in values) + ")"


def keras_pad(p):
    """(top, bottom, left, right) -> ZeroPadding2D's ((top, bottom), (left, right))."""
    return f"(({p[0]}, {p[1]}), ({p[2]}, {p[3]}))"


def torch_pad(p):
    """(top, bottom, left, right) -> nn.ZeroPad2d's / F.pad's (left, right, top, bottom)."""
    return tup((p[2], p[3], p[0], p[1]))


def translate_layer(s):
    """-> Translation of the layer `s` describes, into the other framework's layers."""
    check(s)
    rules = {"conv": conv, "max_pool": pool, "avg_pool": pool, "flatten": flatten,
             "batchnorm": batchnorm}
    return rules[s.layer](s)


# ----- the rules ---------------------------------------------------------------------------------

def conv_params(s):
    """Conv weight (F, C, kh, kw) <-> Keras kernel (kh, kw, C, F); bias the same."""
    return {"weight": ((s.filters, s.shape[0], *s.kernel), "kernel",
                       lambda w: w.transpose(2, 3, 1, 0), lambda k: k.transpose(3, 2, 0, 1)),
            "bias": ((s.filters,), "bias", None, None)}


def conv(s):
    C, (kh, kw), st, p = s.shape[0], s.kernel, s.strides, pads(s)
    k_conv = f"keras.layers.Conv2D({s.filters}, {tup(s.kernel)}, strides={tup(st)}, padding="
    t_conv = f"nn.Conv2d({C}, {s.filters}, {tup(s.kernel)}, stride={tup(st)}, padding="
    symmetric = p[0] == p[1] and p[2] == p[3]
    notes = ["torch's weight (out, in, kh, kw) = Keras's kernel (kh, kw, in, out)"
             ".transpose(3, 2, 0, 1)"]
    if s.source == "keras":
        words = f"Conv2D({s.filters}, {tup(s.kernel)}, strides={tup(st)}, padding={s.padding!r})"
        if s.padding == "same":
            notes.append(same_note(s, p))
        if s.padding == "valid" or symmetric:
            t, rule = [f"layers = [{t_conv}{tup((p[0], p[2]))})]"], "symmetric-padding"
        elif max(st) == 1:                    # torch splits d (k - 1) as TF does (conv.py:150-155)
            t, rule = [f"layers = [{t_conv}'same')]"], "same-stride-1"
        else:
            t = ["layers = [", f"    nn.ZeroPad2d({torch_pad(p)}),  # (left, right, top, bottom)",
                 f"    {t_conv}0),", "]"]
            rule = "same-strided-padding"
            notes.append("torch's padding= is the same on both sides and its padding='same' "
                         "refuses stride > 1: the port pads by hand")
        k = [f"layers = [{k_conv}{s.padding!r})]"]
    else:
        words = (f"Conv2d({C}, {s.filters}, {tup(s.kernel)}, stride={tup(st)}, "
                 f"padding={s.padding!r})")
        t = [f"layers = [{t_conv}{s.padding!r})]"]
        same = tuple(p) == same_pads(s)
        if s.padding in ("valid", "same") or same:
            word = "valid" if s.padding == "valid" else "same"
            k = [f"layers = [{k_conv}'{word}')]"]
            rule = "same-stride-1" if word == "same" else "symmetric-padding"
            if same and s.padding != "same":
                notes.append(f"padding={s.padding!r} is what Keras's 'same' pads here: "
                             f"{same_note(s, p)}")
        else:
            k = ["layers = [", f"    keras.layers.ZeroPadding2D({keras_pad(p)}),",
                 f"    {k_conv}'valid'),", "]"]
            rule = "symmetric-padding"
            notes.append(f"Keras's 'same' would pad {same_pads(s)} (top, bottom, left, right): not "
                         f"torch's {p}")
    forms = [Form(rule, "exact", t, k, params=conv_params(s))]
    if s.source == "keras" and not symmetric:     # the usual port: padding k // 2 on both sides
        half = (kh // 2, kw // 2)
        usual = [f"layers = [{t_conv}{tup(half)})]"]
        if conv_output(s, (half[0], half[0], half[1], half[1])) == conv_output(s, p):
            forms.append(Form(rule, "mistake", usual, k, f"padding={tup(half)} on both sides",
                              params=conv_params(s)))
    return Translation(s, words, forms, notes)


def conv_output(s, p):
    return tuple((n + a + b - k) // st + 1 for n, a, b, k, st in
                 zip(s.shape[1:], p[::2], p[1::2], s.kernel, s.strides))


def same_pads(s):
    """What Keras's 'same' pads this input: (top, bottom, left, right)."""
    return (*same_padding(s.shape[1], s.kernel[0], s.strides[0], 1, KERAS),
            *same_padding(s.shape[2], s.kernel[1], s.strides[1], 1, KERAS))


def same_outputs(s):
    """Keras's 'same' output size: ceil(n / s) per axis."""
    return tuple(math.ceil(n / d) for n, d in zip(s.shape[1:], s.strides))


def same_note(s, p):
    """TensorFlow's 'same' arithmetic for this input, rows (and columns where they differ)."""
    def axis(n, k, st, before, after):
        out = math.ceil(n / st)
        return (f"{n} -> ceil({n}/{st}) = {out} outputs, pad ({out} - 1) {st} + {k} - {n} = "
                f"{before + after}: {before} before, {after} after")
    rows = axis(s.shape[1], s.kernel[0], s.strides[0], p[0], p[1])
    cols = axis(s.shape[2], s.kernel[1], s.strides[1], p[2], p[3])
    return f"'same' (TensorFlow's rule): rows {rows}" + (
        "" if cols == rows else f"; columns {cols}")


def pool(s):
    """torch -> Keras: 'same' where its windows are torch's, else zero padding (closest for max, and
    for an average whose divisor is not k k) with the exact form beside it; Keras -> torch: the
    exact form (-inf padding for max, ceil_mode=True where it coincides, the mask for average)."""
    is_max, (kh, kw), st = s.layer == "max_pool", s.kernel, s.strides
    k_class = "MaxPooling2D" if is_max else "AveragePooling2D"
    t_class = "MaxPool2d" if is_max else "AvgPool2d"
    C, H, W = s.shape
    if s.source == "torch":
        p = pads(s)
        (Ho, Wo), full = scratch_pool.pool_geometry((H, W), s.kernel, st, p, s.ceil_mode)
        extra = dict(ceil_mode=s.ceil_mode) if s.ceil_mode else {}
        if not is_max and not s.count_include_pad:
            extra["count_include_pad"] = False
        args = "".join(f", {k}={v!r}" for k, v in extra.items())
        words = f"{t_class}({tup(s.kernel)}, stride={tup(st)}, padding={tup((p[0], p[2]))}{args})"
        t = [f"layers = [nn.{words}]"]
        same = full == same_pads(s) and (Ho, Wo) == same_outputs(s)
        counts_all = is_max or (s.count_include_pad and full == p)   # the divisor: kh kw everywhere
        padded = [f"    keras.layers.ZeroPadding2D({keras_pad(full)}),"] if any(full) else []
        valid = f"    keras.layers.{k_class}({tup(s.kernel)}, {tup(st)}, 'valid'),"
        zero = ["layers = ["] + padded + [valid, "]"]
        notes = [f"torch's windows: {Ho} x {Wo}, reaching {full} (top, bottom, left, right) past "
                 "the input" + (" (ceil_mode's overhang included)" if s.ceil_mode else "")]
        if same and (is_max or not s.count_include_pad or not any(full)):
            notes.append("Keras's 'same' pads exactly these windows, and ignores its padding as "
                         "torch does here")
            k = [f"layers = [keras.layers.{k_class}({tup(s.kernel)}, {tup(st)}, 'same')]"]
            return Translation(s, words, [Form("pool-same-coincides", "exact", t, k)], notes)
        if not any(full) or (counts_all and not is_max):
            return Translation(s, words, [Form("pool-zero-padding", "exact", t, zero)], notes)
        why = ("zero padding is torch's -inf padding only where a window holds a value >= 0 "
               "(after ReLU)" if is_max else
               f"Keras's valid average divides by {kh * kw}, torch by the counted cells")
        closest = Form("pool-ceil-mode" if s.ceil_mode else "pool-padding", "closest", t, zero, why,
                       nonneg=is_max)
        exact = Form("pool-exact-form", "exact", t, exact_keras_pool(s, p, full))
        return Translation(s, words, [closest, exact], notes)
    p = pads(s)
    (Ho, Wo), _ = scratch_pool.pool_geometry((H, W), s.kernel, st, (0, 0, 0, 0), True)
    words = f"{k_class}({tup(s.kernel)}, {tup(st)}, padding={s.padding!r})"
    k = [f"layers = [keras.layers.{words}]"]
    notes = [same_note(s, p)] if s.padding == "same" else []
    if not any(p):
        t = [f"layers = [nn.{t_class}({tup(s.kernel)}, stride={tup(st)})]"]
    elif p[0] == 0 and p[2] == 0 and (Ho, Wo) == same_outputs(s):
        notes.append("torch's ceil_mode windows are these: the padding is all after, and not "
                     "counted")
        t = [f"layers = [nn.{t_class}({tup(s.kernel)}, stride={tup(st)}, ceil_mode=True)]"]
    elif not is_max and p[0] == p[1] and p[2] == p[3]:
        t = [f"layers = [nn.AvgPool2d({tup(s.kernel)}, stride={tup(st)}, "
             f"padding={tup((p[0], p[2]))}, count_include_pad=False)]"]
    elif is_max:
        t = ["layers = [",
             f"    nn.ConstantPad2d({torch_pad(p)}, -math.inf),  # (left, right, top, bottom)",
             f"    nn.MaxPool2d({tup(s.kernel)}, stride={tup(st)}),", "]"]
    else:
        mask = f"F.pad(torch.ones(1, 1, {H}, {W}), {torch_pad(p)})"
        t = [f"pool = nn.AvgPool2d({tup(s.kernel)}, stride={tup(st)})",
             f"count = pool({mask})  # the counted cells of each window / (kh kw)",
             f"layers = [lambda x: pool(F.pad(x, {torch_pad(p)})) / count]"]
        notes.append("Keras's 'same' average leaves its padding out of the divisor: the average "
                     "of a mask of the input's cells is that divisor / (kh kw)")
    return Translation(s, words, [Form("pool-same-padding", "exact", t, k)], notes)


def exact_keras_pool(s, p, full):
    """Keras code equal to torch's pooling: -inf padding for max; for average the zero-padded
    average divided by the average of a mask of the counted cells."""
    k_args = f"{tup(s.kernel)}, {tup(s.strides)}, 'valid'"
    spec = f"[[0, 0], [{full[0]}, {full[1]}], [{full[2]}, {full[3]}], [0, 0]]"
    if s.layer == "max_pool":
        return [f"pad = lambda x: keras.ops.pad(x, {spec}, constant_values=-np.inf)",
                f"layers = [pad, keras.layers.MaxPooling2D({k_args})]"]
    C, H, W = s.shape
    inside = (H + p[0] + p[1], W + p[2] + p[3]) if s.count_include_pad else (H, W)
    before = (0, 0) if s.count_include_pad else (p[0], p[2])
    after = (H + full[0] + full[1] - before[0] - inside[0],
             W + full[2] + full[3] - before[1] - inside[1])
    m_spec = f"[[0, 0], [{before[0]}, {after[0]}], [{before[1]}, {after[1]}], [0, 0]]"
    return [f"pool = keras.layers.AveragePooling2D({k_args})",
            f"mask = keras.ops.pad(keras.ops.ones((1, {inside[0]}, {inside[1]}, 1)), {m_spec})",
            "count = pool(mask)  # the counted cells of each window / (kh kw)",
            f"layers = [lambda x: pool(keras.ops.pad(x, {spec})) / count]"]


def flatten(s):
    """A Flatten and the Dense after it: the rows of the Dense follow the source's Flatten order."""
    C, H, W = s.shape
    n, u = C * H * W, s.units
    order = flatten_order(KERAS, s.shape)       # order[i]: the C.H.W index of Keras's i-th number
    inverse = np.argsort(order)
    dense = {"weight": ((u, n), "kernel", lambda w: w[:, order].T, lambda k: k.T[:, inverse]),
             "bias": ((u,), "bias", None, None)}
    plain = {"weight": ((u, n), "kernel", lambda w: w.T, lambda k: k.T),
             "bias": ((u,), "bias", None, None)}
    t_flat = f"layers = [nn.Flatten(), nn.Linear({n}, {u})]"
    k_flat = f"layers = [keras.layers.Flatten(), keras.layers.Dense({u})]"
    t_perm = f"layers = [lambda x: x.permute(0, 2, 3, 1).flatten(1), nn.Linear({n}, {u})]"
    k_perm = (f"layers = [keras.layers.Permute((3, 1, 2)), keras.layers.Flatten(), "
              f"keras.layers.Dense({u})]")
    perm = "np.arange({}).reshape({}, {}, {}).transpose(1, 2, 0).ravel()".format(n, C, H, W)
    notes = [f"perm = {perm} = {order[:6].tolist()}...: Keras's i-th flattened number is torch's "
             "perm[i]"]
    if s.source == "torch":
        words = "nn.Flatten() (C.H.W order), then nn.Linear"
        notes.append("Flatten + Dense: kernel = weight.T[perm]; Permute + Flatten + Dense: "
                     "kernel = weight.T")
        forms = [Form("flatten-order-rows", "exact", [t_flat], [k_flat], params=dense),
                 Form("flatten-order-permute", "exact", [t_flat], [k_perm], params=plain),
                 Form("flatten-order-rows", "mistake", [t_flat], [k_flat],
                      "kernel = weight.T, rows not permuted", params=plain)]
    else:
        words = "keras.layers.Flatten() (H.W.C order), then keras.layers.Dense"
        notes.append("Flatten + Linear: weight = kernel.T[:, argsort(perm)]; permute + flatten + "
                     "Linear: weight = kernel.T")
        forms = [Form("flatten-order-rows", "exact", [t_flat], [k_flat], params=dense),
                 Form("flatten-order-permute", "exact", [t_perm], [k_flat], params=plain),
                 Form("flatten-order-rows", "mistake", [t_flat], [k_flat],
                      "weight = kernel.T, columns not permuted", params=plain)]
    return Translation(s, words, forms, notes)


def batchnorm(s):
    """BatchNorm over channels: torch's momentum is the new batch's weight, Keras's the old
    average's (batch_normalization.py:386-390: moving * momentum + batch * (1 - momentum))."""
    from .translate import complement
    from scratch.conventions import NORM_DEFAULTS

    C = s.shape[0]
    defaults = NORM_DEFAULTS[s.source]["batch"]
    m = s.momentum if s.momentum is not None else defaults["momentum"]
    eps = s.eps if s.eps is not None else defaults["eps"]
    torch_m, keras_m = (m, complement(m)) if s.source == "torch" else (complement(m), m)
    t = [f"layers = [nn.BatchNorm2d({C}, momentum={torch_m!r}, eps={eps!r})]"]
    k = [f"layers = [keras.layers.BatchNormalization(axis=-1, momentum={keras_m!r}, "
         f"epsilon={eps!r})]"]
    words = t[0][10:-1] if s.source == "torch" else k[0][10:-1]
    params = {"weight": ((C,), "gamma", None, None), "bias": ((C,), "beta", None, None)}
    N, (_, H, W) = s.examples, s.shape
    notes = [f"statistics per channel over N, H, W ({N} x {H} x {W} = {N * H * W} values); "
             f"momentum {torch_m!r} in torch is {keras_m!r} in Keras",
             f"the running variance: torch stores the unbiased batch variance (x {N * H * W}/"
             f"{N * H * W - 1}), Keras the biased: measured, not judged"]
    states = (("running_mean", "moving_mean", True), ("running_var", "moving_variance", False))
    form = Form("batchnorm-channels", "exact", t, k, params=params, states=states)
    return Translation(s, words, [form], notes)


# ----- the proof: both sides' layers, as printed, on one random input ---------------------------

@dataclass
class FormProof:
    form: Form
    distances: dict                     # 'output', 'dX', 'dweight', ... -> (shape,
                                        #   max |torch - keras|, max |torch's value|)
    after_relu: float | None = None     # the output's distance on |input| (form.nonneg)
    states: dict = field(default_factory=dict)   # running statistic -> max |torch - keras|
    negative: float | None = None       # ... and on -|input|: every padded window below zero

    @property
    def worst(self):
        """The largest distance relative to its tensor's largest |value| (1 where that is 0)."""
        return max(d / (scale or 1.0) for _, d, scale in self.distances.values())

    @property
    def passed(self):
        return self.worst <= ROUNDING


def prove_layer(translation):
    """-> [FormProof], one per form: torch's and Keras's layers run on the same random input (and
    a random upstream gradient G: loss = sum(y G)) in float64, parameters copied across layouts."""
    s = translation.settings
    rng = np.random.default_rng(s.seed)
    x = rng.uniform(-1, 1, (s.examples, *s.shape))
    proofs = []
    for form in translation.forms:
        values = {name: rng.uniform(-1, 1, spec[0]) for name, spec in form.params.items()}
        G = rng.uniform(-1, 1, run_torch(form, x, values)[0].shape)     # the upstream gradient
        t, k = run_torch(form, x, values, G), run_keras(form, x, values, G)
        pairs = {"output": (t[0], k[0]), "dX": (t[1], k[1])}
        pairs.update({"d" + name: (t[2][name], k[2][name]) for name in form.params})
        distances = {name: (a.shape, distance(a, b), float(np.max(np.abs(a), initial=0.0)))
                     for name, (a, b) in pairs.items()}
        states = {name: distance(t[3][name], k[3][name]) for name, *_ in form.states}
        after = negative = None
        if form.nonneg:                                  # inputs >= 0: what a ReLU hands on
            outputs = [(run_torch(form, v, values)[0], run_keras(form, v, values)[0])
                       for v in (np.abs(x), -np.abs(x))]
            after, negative = (distance(t_y, k_y) for t_y, k_y in outputs)
        proofs.append(FormProof(form, distances, after, states, negative))
    return proofs


def distance(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: torch {a.shape}, keras {b.shape}")
    return float(np.max(np.abs(a - b), initial=0.0))


def nhwc(a):
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def nchw(a):
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


def run_torch(form, x, values, G=None):
    """-> (y, dX, {name: gradient}, {state: value}) in torch's layouts (G None: y only)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        scope = {"torch": torch, "nn": nn, "F": F, "math": math, "np": np}
        exec("\n".join(form.torch), scope)
        layers = scope["layers"]
        holder = next((m for m in layers if isinstance(m, nn.Module) and hasattr(m, "weight")),
                      None)
        with torch.no_grad():
            for name, value in values.items():
                getattr(holder, name).copy_(torch.from_numpy(value))
        X = torch.tensor(x, requires_grad=True)
        y = X
        for layer in layers:
            y = layer(y)
        if G is None:
            return (y.detach().numpy(),)
        (y * torch.from_numpy(G)).sum().backward()
        grads = {name: getattr(holder, name).grad.numpy() for name in values}
        states = {name: getattr(holder, name).detach().numpy() for name, *_ in form.states}
        return y.detach().numpy(), X.grad.numpy(), grads, states
    finally:
        torch.set_default_dtype(before)


def run_keras(form, x, values, G=None):
    """The Keras side, its results converted to torch's layouts (NHWC -> NCHW, kernels)."""
    import keras
    import tensorflow as tf

    from reference.keras_mlp import float_type

    with float_type("float64"):
        scope = {"keras": keras, "np": np, "math": math}
        exec("\n".join(form.keras), scope)
        layers = scope["layers"]

        def apply(X, training):
            for layer in layers:
                normalizes = isinstance(layer, keras.layers.BatchNormalization)
                X = layer(X, training=training) if normalizes else layer(X)
            return X

        X = tf.Variable(nhwc(x))
        apply(X, False)                                  # builds the layers; no statistic moves
        holder = next((l for l in layers if isinstance(l, keras.layers.Layer) and l.weights), None)
        for name, (_, keras_name, to_keras, _) in form.params.items():
            value = values[name] if to_keras is None else to_keras(values[name])
            getattr(holder, keras_name).assign(value)
        with tf.GradientTape() as tape:
            y = apply(X, True)
            loss = None if G is None else tf.reduce_sum(y * nhwc(G))
        if G is None:
            return (nchw(y.numpy()),)
        variables = [getattr(holder, spec[1]) for spec in form.params.values()]
        dX, *dparams = tape.gradient(loss, [X] + variables)
        grads = {}
        for (name, (_, _, _, to_torch)), g in zip(form.params.items(), dparams):
            grads[name] = g.numpy() if to_torch is None else to_torch(g.numpy())
        states = {name: getattr(holder, keras_name).numpy() for name, keras_name, _ in form.states}
        return nchw(y.numpy()), nchw(dX.numpy()), grads, states
