"""What a difference looks like, in words a learner can act on.

`explain(divergence, records, previous, pair, spec, m, initial)` looks at the first tensor that
differs, both implementations' values of it, and the step before, and names the pattern:

    a shape that lost an axis      db summed over units and examples to a scalar: () vs (n, 1)
    a transpose                    (in, out) vs (out, in)
    layer settings of two ports    a user's torch model and their Keras model whose norm or dropout
                                   settings differ in meaning (`layer_differences`: momentum, eps,
                                   rate, each as written, with the rule that relates them)
    a constant factor              m (the batch mean taken twice or not at all), 2 (the 1/2 of
                                   squared error), n_L (mean over units and examples vs examples)
    a sign flip                    on an update: the step is added (gradient ascent)
    no update / one step of lag    the parameters did not move; or moved by the previous step's gradient
    Z and A swapped                A_l equals the other side's Z_l: the activation is not applied
    a softmax over the whole batch the columns of A_L do not each sum to 1
    a schedule one step early/late the learning rate equals the other's of the step before or after
    the first layer of the forward pass that differs, everything before it agreeing
    a conv map shifted or cut      Z_l shifted by rows / columns (padding on the other side); its
                                   last rows and columns left at the bias (a window loop one short)
    a conv kernel read otherwise   the input convolved with W_l rotated by 180°, transposed in its
                                   spatial axes, or its (C, kh, kw) entries in another order
    a layout permutation           a Dense after a Flatten reading (H, W, C) where (C, H, W)
                                   belongs; a dW whose columns are the other's so permuted
    a max pooling's routing        dP sent to every tied maximum, or to every cell of the window
    an average pooling's divisor   P_l's border windows scaled by real cells / window cells (the
                                   padding counted in the divisor), or the reverse; the interior
                                   agreeing

Left out: patterns that need more than two steps of history.
"""
import numpy as np

from scratch.conventions import as_convention

from . import names, port_words

TIGHT = 1e-6     # how well a pattern must fit (scale-relative) to be named


def close(a, b, tol=TIGHT):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)))
    return bool(np.all(np.isfinite(a)) and np.all(np.isfinite(b))
                and float(np.max(np.abs(a - b), initial=0)) <= tol * max(scale, 1e-300))


def factor(a, b):
    """c if a = c * b (to TIGHT), else None. a, b: same shape, b not all zero, at least two
    non-zero elements (one number is always some multiple of another)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if np.count_nonzero(b) < 2:
        return None
    bb = float(b @ b)
    if bb == 0 or not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return None
    c = float(a @ b) / bb
    return c if close(a, c * b) else None


def position_factor(c, kind, layer, spec, ours, theirs, what):
    """Words for a conv block's dW or db off by the number of positions of its output map (Ho Wo):
    a mean over the positions where their sum belongs (each position uses the same kernel and
    bias, so each adds to their gradients), or the other way round; None otherwise."""
    opener = next((p for p in spec.network.placed if p.block == layer and p.layer.opens_block), None)
    if kind not in ("dW", "db") or opener is None or opener.layer.kind != "conv2d":
        return None
    _, Ho, Wo = opener.n_out
    for k, words in ((Ho * Wo, "a sum over the positions where a mean belongs"),
                     (1 / (Ho * Wo), "a mean over the positions where their sum belongs")):
        if abs(c - k) <= 1e-6 * max(k, 1.0):
            return (f"a factor of {'' if k > 1 else '1/'}{Ho} x {Wo}, the positions of layer {layer}'s output map: "
                    f"{ours}'s {what} is {theirs}'s times {c:.6g}, {words} (one kernel and one bias serve every "
                    f"position, so each position adds its dZ to their gradients)")
    return None


def name_factor(c, m, n_out, ours, theirs, what):
    """Words for ours = c * theirs."""
    def near(x, y):
        return abs(x - y) <= 1e-6 * max(abs(y), 1.0)
    if near(c, -1):
        return f"the sign is flipped: {ours}'s {what} is minus {theirs}'s"
    if m > 1 and near(c, m):
        return (f"a factor of m = {m}, the batch size: {ours}'s {what} is {m}x {theirs}'s (the mean over "
                f"the batch is not taken: a sum where a mean belongs, or the 1/m left out)")
    if m > 1 and near(c, 1 / m):
        return (f"a factor of 1/m = 1/{m}: {ours}'s {what} is {theirs}'s divided by the batch size "
                f"(the mean over the batch is taken twice)")
    if near(c, 2):
        return f"a factor of 2: {ours}'s {what} is twice {theirs}'s (the 1/2 of squared error: d/da (a - y)^2 = 2 (a - y))"
    if near(c, 0.5):
        return f"a factor of 1/2: {ours}'s {what} is half {theirs}'s (the 1/2 of squared error: d/da (a - y)^2 = 2 (a - y))"
    if n_out > 1 and near(c, n_out):
        return (f"a factor of n_L = {n_out}, the number of output units: {ours} averages over the examples, "
                f"{theirs} over units and examples")
    if n_out > 1 and near(c, 1 / n_out):
        return (f"a factor of 1/n_L = 1/{n_out}, the number of output units: {ours} averages over units and "
                f"examples, {theirs} over the examples only")
    if near(c, 0):
        return f"{ours}'s {what} is zero where {theirs}'s is not"
    return f"a constant factor: {ours}'s {what} is {c:.6g} x {theirs}'s"


def shape_words(name, a_shape, b_shape, ours, theirs):
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) == 2 and a_shape[::-1] == b_shape:
        return f"a transpose: {ours} has {name} as {a_shape}, {theirs} as {b_shape}"
    for small, big, who in ((a_shape, b_shape, ours), (b_shape, a_shape, theirs)):
        if np.prod(small, dtype=int) == 1 and np.prod(big, dtype=int) > 1:
            how = ("summed over units and examples to a scalar (sum over the examples only: axis=1, keepdims=True)"
                   if names.parse(name).kind == "db" else "reduced to a single number")
            return f"a lost axis: {who}'s {name} is {small}, {how}; the other's is {big}"
        if len(small) < len(big) and np.prod(small, dtype=int) == np.prod(big, dtype=int):
            return f"a lost axis: {who}'s {name} is {small} where the other's is {big} (keepdims)"
    if np.prod(a_shape, dtype=int) == np.prod(b_shape, dtype=int):
        return f"the same numbers of elements in another shape: {a_shape} vs {b_shape}"
    return f"the shapes differ: {ours} {a_shape}, {theirs} {b_shape}"


def explain(divergence, records, previous, pair, spec, m, initial=None, X=None):
    """-> one or two sentences saying what the difference looks like, or '' when no pattern fits.
    X: the step's inputs (m, n_0) rows, for a first layer's patterns (a flipped conv kernel)."""
    name, ours, theirs = divergence["tensor"], divergence["ours"], divergence["theirs"]
    if divergence.get("precision"):                # a float32 tensor in a float64 run (judge.lower_precision)
        words = precision_words(divergence["precision"], divergence["max_rel_err"])
        if divergence["precision"]["explained"]:
            return words
        rest = explain({**divergence, "precision": None}, records, previous, pair, spec, m, initial, X)
        return "; ".join(w for w in (words, rest) if w)
    if name == "accuracy":
        return "every tensor agrees, but the batch accuracy does not (an argmax tie, or the accuracy computed differently)"
    a, b = records[ours][name], records[theirs][name]
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:                # a bias gradient summed over too few axes: port_words
        network = getattr(spec, "network", None)
        return (port_words.summed_words(name, a.shape, b.shape, ours, theirs, network, m)
                or shape_words(name, a.shape, b.shape, ours, theirs))
    if name == "lr":
        return lr_words(divergence["step"], float(a), float(b), previous, ours, theirs)
    words = layer_words(name, pair, records, ours, theirs)     # a block whose layer settings differ
    if words:
        c = factor(a, b) if np.any(b) else None
        if c is not None and abs(c - 1) > 1e-6:
            words.append(f"{ours}'s {name} is {c:.6g} x {theirs}'s")
        return "; ".join(words)
    L, n_out = spec.n_layers, spec.sizes[-1]
    parsed = names.parse(name)
    kind = "state" if parsed.state else parsed.kind
    layer = divergence.get("layer")
    words = []
    if kind in ("Z", "A") and layer:
        words.append(f"layer {layer} is the first where the forward pass differs "
                     f"({before_agrees(earlier_forward(kind, layer), records, ours, theirs)})")
        words += forward_words(kind, layer, a, records, previous, initial, ours, theirs, spec)
        if kind == "Z":
            words += flipped_kernel_words(layer, a, records, previous, initial, ours, theirs, spec, X)
            words += conv_zoo_words(kind, layer, a, records, previous, initial, ours, theirs, spec,
                                    X)
        other = records[theirs].get(f"{'Z' if kind == 'A' else 'A'}{layer}")
        if other is not None and close(a, other):
            words.append(f"{ours}'s {name} equals {theirs}'s {'Z' if kind == 'A' else 'A'}{layer}: Z and A swapped, "
                         f"or the activation not applied")
        if kind == "A" and layer == L and spec.activations[-1] == "softmax" and a.ndim == 2:
            sums = a.sum(axis=0)
            if not np.allclose(sums, 1) and np.isclose(a.sum(), 1):
                words.append(f"the columns of {ours}'s {name} do not each sum to 1 (they sum to {sums.min():.3g}.."
                             f"{sums.max():.3g}) but the whole matrix does: softmax normalised over the whole batch, "
                             f"not per example")
    if kind == "P" and layer:
        found = pool_divisor_words(layer, a, b, records, ours, theirs, spec)
        if found:
            return "; ".join(words + found)
    if parsed.is_param:
        before = before_value(name, ours, previous, initial)
        if before is not None and before.shape == a.shape:
            d_ours, d_theirs = a - before, b - before
            if not np.any(d_ours) and np.any(d_theirs):
                words.append(f"{ours} did not update {name} (it is unchanged from the step before)")
            elif np.any(d_theirs):
                c = factor(d_ours, d_theirs)
                if c is not None and abs(c + 1) <= 1e-6:
                    words.append(f"the update is added, not subtracted: {ours} moved {name} by minus what {theirs} "
                                 f"did (gradient ascent)")
                elif c is not None:
                    words.append("the update of " + name + ": " + name_factor(c, m, n_out, ours, theirs, "step"))
                elif previous is not None and name in previous.get(theirs, {}):
                    last = before_value(name, theirs, previous, None)
                    d_prev = previous[theirs][name] - (last if last is not None else 0)
                    if last is not None and close(d_ours, d_prev):
                        words.append(f"one step of lag: {ours}'s update of {name} equals {theirs}'s update of the "
                                     f"previous step (the update used the previous step's gradient)")
        return "; ".join(words)
    if not words or kind not in ("Z", "A"):
        c = factor(a, b) if np.any(b) else None
        if c is not None and abs(c - 1) <= 1e-6:          # the same numbers but for the last digits
            words.append(f"{ours}'s and {theirs}'s {name} agree to {abs(c - 1):.1g} overall: a few elements "
                         f"differ in their last digits: rounding amplified, most likely (tiny values from a cancellation, "
                         f"e.g. 1 - a² of a saturated unit; a smaller learning rate keeps units out of saturation)")
        elif c is not None:
            words.append(position_factor(c, kind, layer, spec, ours, theirs, name)
                         or name_factor(c, m, n_out, ours, theirs, name))
        elif kind in ("dZ", "dW", "db", "loss"):
            unseen = not_compared_words(premises(kind, layer, spec), records, ours, theirs)
            layout = layout_words(name, a, b, ours, theirs, spec) if kind == "dW" else []
            words += layout or (unseen_words(kind, layer, unseen, spec) if unseen
                                else backward_words(kind, layer, a, records, ours, theirs, spec))
        if previous is not None and name in previous.get(theirs, {}) and close(a, previous[theirs][name]):
            words.append(f"one step of lag: {ours}'s {name} equals {theirs}'s {name} of the previous step")
    return "; ".join(words)


def precision_words(precision, max_rel):
    """'your dW1 is float32 in a float64 run: ...', and whether its rounding explains the difference."""
    p = precision
    what = (f"your {p['word']} holds {p['dtype']} numbers in a {p['run_dtype']} array (computed in {p['dtype']}, "
            f"then cast)" if p["cast"] else f"your {p['word']} is {p['dtype']} in a {p['run_dtype']} run")
    if p["explained"]:
        return (f"{what}: a difference of {max_rel:.2g} is within what {p['dtype']} rounding explains "
                f"({p['bound']:.1g}), not a formula: compute and hand back {p['run_dtype']} arrays")
    return (f"{what}, but a difference of {max_rel:.2g} is more than {p['dtype']} rounding explains "
            f"({p['bound']:.1g}): a formula differs too")


def lr_words(step, a, b, previous, ours, theirs):
    """The learning rate for the next step differs: the schedule. One step early or late when one
    side's rate is the other's of the step before (a boundary taken as b vs b - 1)."""
    words = [f"the learning rate after step {step} differs ({ours} {a:.6g}, {theirs} {b:.6g}): the schedules "
             f"disagree, everything else of the step agreeing"]
    before = {k: float(np.asarray(previous[k]["lr"])) for k in (ours, theirs)
              if previous is not None and "lr" in previous.get(k, {})}
    if ours in before and close(b, before[ours]) and not close(a, before[ours]):
        words.append(f"{theirs} still uses the rate {ours} used before: its schedule changes one step later "
                     f"(a milestone m is decayed from step m in torch's MultiStepLR; Keras's "
                     f"PiecewiseConstantDecay switches after its boundary b: b = m - 1)")
    elif theirs in before and close(a, before[theirs]) and not close(b, before[theirs]):
        words.append(f"{ours} still uses the rate {theirs} used before: its schedule changes one step later "
                     f"(a milestone m is decayed from step m in torch's MultiStepLR; Keras's "
                     f"PiecewiseConstantDecay switches after its boundary b: b = m - 1)")
    return "; ".join(words)


def before_value(name, key, previous, initial):
    """A parameter's value at the start of the step: the previous step's record, or the initial ones."""
    if previous is not None:
        value = previous.get(key, {}).get(name)
        return None if value is None else np.asarray(value, dtype=np.float64)
    if initial is not None:
        parsed = names.parse(name)
        W, b = initial[parsed.layer - 1]
        return np.asarray(W if parsed.kind == "W" else b, dtype=np.float64)
    return None


def forward_words(kind, layer, a, records, previous, initial, ours, theirs, spec):
    """Z_l or A_l differs, everything before agrees: which input or which function."""
    other = records[theirs]
    g = spec.activations[layer - 1]
    if kind == "A" and f"Z{layer}" in records[ours] and close(records[ours][f"Z{layer}"], other.get(f"Z{layer}", np.nan)):
        return [f"Z{layer} agrees but A{layer} does not: the activation {g} itself is computed differently "
                f"(check its formula)"]
    if kind == "Z" and layer > 1 and f"Z{layer - 1}" in other:
        W, b = (before_value(f"W{layer}", theirs, previous, initial), before_value(f"b{layer}", theirs, previous, initial))
        Z_prev = np.asarray(other[f"Z{layer - 1}"], dtype=np.float64)
        if W is not None and b is not None and W.shape[1] == Z_prev.shape[0] and close(a, W @ Z_prev + b):
            return [f"layer {layer} was fed Z{layer - 1} instead of A{layer - 1}: the activation of layer {layer - 1} "
                    f"is computed but not passed on"]
    return []


def flipped_kernel_words(layer, a, records, previous, initial, ours, theirs, spec, X):
    """Z_l of a Conv2D block equals the other side's input convolved with the kernel rotated by
    180 degrees: a learner's convolution where torch and Keras compute a cross-correlation."""
    placed = spec.network.placed
    opener = next((p for p in placed if p.block == layer and p.layer.opens_block), None)
    if opener is None or opener.layer.kind != "conv2d":
        return []
    W, b = before_value(f"W{layer}", theirs, previous, initial), before_value(f"b{layer}", theirs, previous, initial)
    if opener.index == 0:
        inputs = None if X is None else np.asarray(X, dtype=np.float64).T
    else:
        before = placed[opener.index - 1]
        inputs = records[theirs].get(before.name(before.layer.role)) if before.layer.role else None
    if W is None or inputs is None or np.ndim(W) != 4:
        return []
    from scratch import conv, image_layers                  # the scratch arithmetic, the kernel turned
    _, strides, dilation, padding = opener.layer.geometry(opener.n_in)
    turned, _ = conv.conv2d_forward(image_layers.images(np.asarray(inputs, dtype=np.float64), opener.n_in),
                                    np.asarray(W)[:, :, ::-1, ::-1], None if b is None else np.asarray(b)[:, 0],
                                    strides, padding, dilation)
    if image_layers.columns(turned).shape == a.shape and close(a, image_layers.columns(turned)):
        return [f"{ours}'s Z{layer} is the input convolved with W{layer} rotated by 180°: a convolution (the kernel "
                f"flipped), where torch and Keras compute a cross-correlation (no flip)"]
    return []


def backward_words(kind, layer, a, records, ours, theirs, spec):
    """A gradient differs while what it is computed from agrees: which step of backprop."""
    other, L = records[theirs], spec.n_layers
    if kind == "loss":
        return ["the forward pass agrees but the loss does not: the loss formula or its reduction (mean or sum) differs"]
    if kind == "dZ" and layer == L:
        return [f"the forward pass and the loss agree but dZ{L} does not: the derivative of the loss or of the "
                f"output activation ({spec.activations[-1]}) is wrong"]
    pooling = next((p.layer for p in spec.network.placed if p.block == layer and p.layer.role == "P"), None)
    if kind == "dZ" and pooling is not None and f"dP{layer}" in other and f"dP{layer}" in records[ours] \
            and close(records[ours][f"dP{layer}"], other[f"dP{layer}"]):
        g = spec.activations[layer - 1]
        rule = ("each window's dP to its maximum alone" if pooling.kind == "max_pool2d"
                else "each window's dP divided by its size to every cell")
        words = [f"dP{layer} agrees but dZ{layer} does not: the step back through block {layer}'s pooling and "
                 f"{g}, dZ{layer} = {g}'(Z{layer}) ⊙ (dP{layer} routed back through the pooling: {rule}), is wrong"]
        return words + pool_route_words(layer, records, ours, theirs, spec)
    if kind == "dZ":
        return [f"dZ{layer + 1} agrees but dZ{layer} does not: the step back through layer {layer}, "
                f"dZ{layer} = (W{layer + 1}ᵀ · dZ{layer + 1}) ⊙ {spec.activations[layer - 1]}'(Z{layer}), is wrong "
                f"(the derivative {spec.activations[layer - 1]}' or the product)"]
    if kind == "dW" and f"dZ{layer}" in other:
        dZ = np.asarray(other[f"dZ{layer}"], dtype=np.float64)
        candidates = {f"A{layer - 1}": other.get(f"A{layer - 1}"), f"A{layer}": other.get(f"A{layer}"),
                      f"Z{layer - 1}": other.get(f"Z{layer - 1}"), f"Z{layer}": other.get(f"Z{layer}")}
        for label, X in candidates.items():
            if label == f"A{layer - 1}" or X is None:
                continue
            X = np.asarray(X, dtype=np.float64)
            if X.ndim == 2 and dZ.shape[1] == X.shape[1] and (dZ @ X.T).shape == a.shape and close(a, dZ @ X.T):
                return [f"dW{layer} = dZ{layer} · {label}ᵀ, where A{layer - 1} (the input of layer {layer}) belongs"]
        return [f"dZ{layer} agrees but dW{layer} does not: dW{layer} = dZ{layer} · A{layer - 1}ᵀ is computed differently"]
    if kind == "db":
        return [f"dZ{layer} agrees but db{layer} does not: db{layer} is the sum of dZ{layer} over the examples (axis=1)"]
    return []


# --- what a diagnosis may rest on: only tensors that were compared ----------------------------

def compared(name, records, ours, theirs):
    """Whether both sides gave `name` (so the harness compared it; in compute order before the
    first divergence, that means it agreed)."""
    return name in records[ours] and name in records[theirs]


def missing_from(name, records, ours, theirs):
    """Whose code does not return `name`: 'your code' for a user's, else the runner's."""
    who = ours if name not in records[ours] else theirs
    return "your code" if who.split("@")[0].split("/")[0] not in ("scratch", "torch", "keras") else who


def not_compared_words(needed, records, ours, theirs):
    """'dZ2 was not compared (your code does not return it)' for each needed tensor one side
    does not give, grouped by who; '' when every one was compared."""
    by_who = {}
    for name in needed:
        if not compared(name, records, ours, theirs):
            by_who.setdefault(missing_from(name, records, ours, theirs), []).append(name)
    parts = []
    for who, found in by_who.items():
        verb = "was" if len(found) == 1 else "were"
        parts.append(f"{', '.join(found)} {verb} not compared ({who} does not return {'it' if len(found) == 1 else 'them'})")
    return "; ".join(parts)


def earlier_forward(kind, layer):
    """The forward tensors computed before Z_l or A_l."""
    names_ = [f"{k}{l}" for l in range(1, layer) for k in ("Z", "A")]
    return names_ + ([f"Z{layer}"] if kind == "A" else [])


def before_agrees(earlier, records, ours, theirs):
    """'everything before it agrees', or which of it agrees and which was not compared."""
    seen = [n for n in earlier if compared(n, records, ours, theirs)]
    unseen = not_compared_words(earlier, records, ours, theirs)
    if not unseen:
        return "everything before it agrees"
    return (f"{', '.join(seen)} {'agrees' if len(seen) == 1 else 'agree'}; " if seen else "") + unseen


def premises(kind, layer, spec):
    """The tensors a backward diagnosis says agree: the forward pass (its output) for the loss,
    the loss for dZ_L, dZ_{l+1} for dZ_l, dZ_l for dW_l and db_l."""
    L = spec.n_layers
    if kind == "loss":
        return [f"A{L}"]
    if kind == "dZ":
        return [f"A{L}", "loss"] if layer == L else [f"dZ{layer + 1}"]
    return [f"dZ{layer}"]


def unseen_words(kind, layer, unseen, spec):
    """A backward tensor differs but what it is computed from was not compared: say so, and where
    the difference can be (there, or in this step of backprop)."""
    L = spec.n_layers
    where = {                                   # formatted for `kind` only: the loss has no layer (None)
        "loss": lambda: "the forward pass or the loss formula",
        "dZ": lambda: (f"the derivative of the loss or of the output activation ({spec.activations[-1]})"
                       if layer == L else f"dZ{layer + 1}, or the step back through layer {layer}, dZ{layer} = "
                                          f"(W{layer + 1}ᵀ · dZ{layer + 1}) ⊙ {spec.activations[layer - 1]}'(Z{layer})"),
        "dW": lambda: f"dZ{layer} (the derivative of the loss or of an activation), or dW{layer} = dZ{layer} · "
                      f"A{layer - 1}ᵀ itself",
        "db": lambda: f"dZ{layer} (the derivative of the loss or of an activation), or db{layer} = the sum of "
                      f"dZ{layer} over the examples",
    }[kind]()
    name = "the loss" if kind == "loss" else f"{kind}{layer}"
    return [f"{unseen}: {name} differs, and the difference may be in {where}"]


# --- two ports of one network (a user's torch model and their Keras model): layer settings ----
# Each setting is read in the words it was written in (compare/engine/layers.py `written_in`), so a
# message prints what the user wrote (Keras momentum=0.1, not 0.9 nor 0.09999999999999998), and
# compared in one meaning. SHOWS_IN: the first tensor of the block a setting changes.

SHOWS_IN = {"eps": "N", "momentum": "mean", "rate": "A", "slope": "A", "name": "A", "padding": "Z"}
KIND_WORDS = {"batch_norm": "batch norm", "layer_norm": "layer norm", "dropout": "dropout", "activation": "activation",
              "dense": "Dense"}
ROLE_WORDS = {"Z": "the Dense or Conv2D output", "N": "the normalized output", "A": "the output", "mean": "the running mean",
              "var": "the running variance"}


def written(value):
    """A setting as the user wrote it: 0.1, 1e-05 (repr of the float given, never a derived one)."""
    return repr(float(value)) if isinstance(value, float) else repr(value)


def derived(value):
    """A number the tool works out (1 - 0.1), printed short: 0.9, not 0.9."""
    return f"{float(value):.6g}"


def norm_setting(layer, convention, name):
    """(the value as written or None, the convention it is written in, its value in torch's meaning)."""
    value = getattr(layer, name)
    written_in = layer.written_in or convention
    effective = layer.settings(convention)[name]               # `convention`'s meaning, defaults resolved
    if name == "momentum" and convention != "torch":
        effective = 1.0 - effective
    return value, written_in, effective


def momentum_words(a, b):
    """Why two batch norm momenta differ in meaning: a, b = (written, written_in, torch meaning)."""
    (va, ca, ea), (vb, cb, eb) = a, b
    shown = [f"{written(v) if v is not None else derived(e if c == 'torch' else 1 - e) + ' (default)'} ({c})"
             for v, c, e in (a, b)]
    line = f"momentum {shown[0]} vs {shown[1]}"
    if "torch" in (ca, cb) and {ca, cb} & {"keras", "jax"}:     # Keras's and Flax's: the old average's
        t, k = (a, b) if ca == "torch" else (b, a)
        t_value = t[0] if t[0] is not None else t[2]
        k_value = k[0] if k[0] is not None else 1 - k[2]
        other = {"keras": "Keras", "jax": "Flax"}[k[1]]
        return (f"{line}: torch momentum {derived(t_value)} weights the new batch; {other} "
                f"momentum {derived(k_value)} weights the old one: {other}'s "
                f"{derived(1 - t_value)} is torch's {derived(t_value)}")
    return f"{line} (both in {ca}'s meaning)"


def eps_words(a, b):
    (va, ca, ea), (vb, cb, eb) = a, b
    defaults = " (torch's default is 1e-5, Keras's 1e-3)" if ca != cb else ""
    return f"eps {derived(ea)} ({ca}) vs {derived(eb)} ({cb}){defaults}"


def gelu_words(la, lb, ca, cb):
    """The rule behind gelu vs gelu_tanh when one side's framework approximates by default (JAX:
    Convention.gelu_approximate_by_default, jax.nn.gelu(approximate=True)), else ''."""
    if {la.name, lb.name} != {"gelu", "gelu_tanh"}:
        return ""
    tanh_side = ca if la.name == "gelu_tanh" else cb
    if not as_convention(tanh_side, default="torch").gelu_approximate_by_default:
        return ""
    return (f" ({tanh_side}'s gelu is the tanh approximation by default: jax.nn.gelu(x) is "
            f"approximate=True; torch's nn.GELU() is exact: write jax.nn.gelu(x, "
            f"approximate=False))")


def layer_differences(network_a, convention_a, network_b, convention_b):
    """{'setting-block<l>-<kind>-<setting>': one line} for every layer setting two implementations'
    layer lists hold differently in meaning (their specs' networks, each run in its convention:
    'torch' or 'keras'; another convention reads as torch's). The line names the layer (its kind and
    block), both settings as written, and the rule that relates them."""
    ca = as_convention(convention_a, default="torch").name      # a Convention or its name; 'own' reads as torch
    cb = as_convention(convention_b, default="torch").name
    placed_a, placed_b = network_a.placed, network_b.placed
    kinds = [type(p.layer) for p in placed_a] == [type(p.layer) for p in placed_b]
    if not kinds or network_a.n_in != network_b.n_in:
        return {"setting-layers": f"the layer lists differ: {network_a.describe()} vs {network_b.describe()}"}
    out = {}
    for pa, pb in zip(placed_a, placed_b):
        la, lb, kind = pa.layer, pb.layer, pa.layer.kind
        opener = next(p.layer for p in placed_a if p.block == pa.block and p.layer.opens_block)
        where = f"the {KIND_WORDS.get(kind, kind)} after {type(opener).__name__} {pa.block}"
        key = f"setting-block{pa.block}-{kind}-"
        for name in ("momentum", "eps"):
            if not hasattr(la, name) or name not in la.settings(ca):
                continue
            a, b = norm_setting(la, ca, name), norm_setting(lb, cb, name)
            if abs(a[2] - b[2]) > 1e-12 * max(abs(a[2]), abs(b[2]), 1e-300):
                words = momentum_words(a, b) if name == "momentum" else eps_words(a, b)
                out[key + name] = f"{where}: {words}"
        if kind == "dropout" and la.rate != lb.rate:
            out[key + "rate"] = (f"{where}: rate {written(la.rate)} ({ca}) vs {written(lb.rate)} ({cb}): torch's "
                                 f"Dropout(p) and Keras's Dropout(rate) both take the rate DROPPED, not the keep "
                                 f"probability: Keras's Dropout({written(la.rate)}) is torch's Dropout({written(la.rate)})"
                                 + (f" (with one mask, the kept units are scaled by 1/(1 - rate): "
                                    f"{derived(1 / (1 - la.rate))} vs {derived(1 / (1 - lb.rate))})"
                                    if max(la.rate, lb.rate) < 1 else ""))
        if kind == "activation" and (la.name, la.slope) != (lb.name, lb.slope):
            out[key + "name"] = (f"{where}: {la.describe()} ({ca}) vs {lb.describe()} ({cb})"
                                 + gelu_words(la, lb, ca, cb))
        if kind == "dense" and (la.units, la.bias, la.frozen) != (lb.units, lb.bias, lb.frozen):
            out[key + "frozen"] = (f"{where.replace('the Dense after Dense', 'Dense')}: {la.describe()} frozen "
                                   f"{sorted(la.frozen) or 'none'} ({ca}) vs {lb.describe()} frozen "
                                   f"{sorted(lb.frozen) or 'none'} ({cb})")
    return out


def layer_words(name, pair, records, ours, theirs):
    """The words for a divergence in a block whose layer settings differ between the pair's two sides
    (their 'setting-block<l>-...' reasons): which tensor it is, what agrees before it, and which
    setting shows in which tensor. [] when no setting of that block differs."""
    parsed = names.parse(name)
    if parsed.layer is None or not parsed.is_forward:
        return []
    prefix = f"setting-block{parsed.layer}-"
    found = {key[len(prefix):].rsplit("-", 1)[-1]: key for key in pair.reasons if key.startswith(prefix)}
    if not found:
        return []
    shows = ", ".join(f"{setting} in {SHOWS_IN.get(setting, 'A')}{parsed.layer}" for setting in found)
    before = [n for n in (f"Z{parsed.layer}", f"N{parsed.layer}") if n != name and n in records[ours]
              and n in records[theirs] and names.parse(n).order(1) < parsed.order(1)]
    agrees = f"{', '.join(before)} {'agrees' if len(before) == 1 else 'agree'}, " if before else ""
    return [f"{name} ({ROLE_WORDS.get(parsed.kind, parsed.kind)} of block {parsed.layer}) differs: {agrees}"
            f"the settings of this block differ, each named below ({shows})"]


# --- convolutions: shifted maps, turned kernels, permuted orders (the CNN bug zoo) ---------
# Each recogniser is tested directly on made-up arrays (tests/test_diagnose_conv.py) and through
# the zoo's CNN entries (compare/data/bugs.py). The ones that recompute a layer use `correlate`,
# their own few lines, not scratch/conv.py: a run under --inject-bug may have patched that.

def correlate(x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1)):
    """out[n, f, i, j] = sum_{c,u,v} x_pad[n, c, i sh + u dh, j sw + v dw] w[f, c, u, v] + b[f]:
    x (N, C, H, W), w (F, C, kh, kw), padding (top, bottom, left, right) -> (N, F, Ho, Wo)."""
    top, bottom, left, right = padding
    x = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    w = np.asarray(w, dtype=np.float64)
    (F, C, kh, kw), (sh, sw), (dh, dw) = w.shape, stride, dilation
    Ho, Wo = (x.shape[2] - (kh - 1) * dh - 1) // sh + 1, (x.shape[3] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((x.shape[0], F, Ho, Wo))
    for u in range(kh):
        for v in range(kw):                       # tap (u, v) of every window at once
            rows = slice(u * dh, u * dh + (Ho - 1) * sh + 1, sh)
            cols = slice(v * dw, v * dw + (Wo - 1) * sw + 1, sw)
            out += np.einsum("nchw,fc->nfhw", x[:, :, rows, cols], w[:, :, u, v])
    return out if b is None else out + np.asarray(b, dtype=np.float64).reshape(1, -1, 1, 1)


def steps_words(n, one, many):
    """(1, 'row', 'rows') -> 'one row'; (2, ...) -> 'two rows'."""
    return f"{['no', 'one', 'two', 'three'][n] if n < 4 else n} {one if n == 1 else many}"


def last_words(n, one, many):
    """'the last row', 'the last two rows', '' for none."""
    if n == 0:
        return ""
    return f"the last {one}" if n == 1 else f"the last {steps_words(n, one, many)}"


def shift_words(dy, dx):
    """(1, 1) -> 'one row down and one column right'."""
    rows = f"{steps_words(abs(dy), 'row', 'rows')} {'down' if dy > 0 else 'up'}"
    cols = f"{steps_words(abs(dx), 'column', 'columns')} {'right' if dx > 0 else 'left'}"
    return " and ".join(w for w, n in ((rows, dy), (cols, dx)) if n)


def small_shifts(most):
    """Every (dy, dx) within `most` but (0, 0), the smallest first."""
    shifts = [(dy, dx) for dy in range(-most, most + 1) for dx in range(-most, most + 1)]
    return sorted((s for s in shifts if s != (0, 0)), key=lambda s: (abs(s[0]) + abs(s[1]), s))


def spatial_shift(a, b, most=2):
    """(dy, dx) with a[..., y, x] == b[..., y - dy, x - dx] wherever both exist (a shifted dy rows
    down, dx columns right), the smallest shift that fits within `most` and leaves at least half
    of each axis overlapping; None when none does (or a equals b unshifted). a, b: (..., H, W)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2 or close(a, b):
        return None
    H, W = a.shape[-2:]
    for dy, dx in small_shifts(most):
        if 2 * abs(dy) > H or 2 * abs(dx) > W:
            continue
        ours = a[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)]
        theirs = b[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
        if np.any(theirs) and close(ours, theirs):
            return dy, dx
    return None


def edge_difference(a, b):
    """(rows, cols): the fewest last rows and columns of the maps a, b (..., H, W) outside which
    they agree, when that leaves most of the map; None when they agree or differ inside too."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2 or close(a, b):
        return None
    H, W = a.shape[-2:]
    edges = [(r, c) for r in range(H // 2) for c in range(W // 2) if (r, c) != (0, 0)]
    for r, c in sorted(edges, key=lambda e: (e[0] + e[1], e)):
        if close(a[..., :H - r, :W - c], b[..., :H - r, :W - c]):
            return r, c
    return None


def kernel_turns(w):
    """[(words, the kernel turned)] for a conv kernel w (F, C, kh, kw): the ways a learner's code
    reads it differently from what it holds (each one a different kernel than w)."""
    w = np.asarray(w, dtype=np.float64)
    F, C, kh, kw = w.shape
    turns = [("rotated by 180°", w[:, :, ::-1, ::-1]), ("flipped upside down", w[:, :, ::-1, :]),
             ("flipped left to right", w[:, :, :, ::-1])]
    if kh == kw:
        turns.append(("transposed in its spatial axes (kh <-> kw)", w.transpose(0, 1, 3, 2)))
    if C > 1:
        turns += [("'s entries in (kh, kw, C) order read as (C, kh, kw)",
                   w.transpose(0, 2, 3, 1).reshape(w.shape)),
                  ("'s entries in (C, kh, kw) order read as (kh, kw, C)",
                   w.reshape(F, kh, kw, C).transpose(0, 3, 1, 2))]
    if C > 1 and F > 1:
        turns += [("'s (F, C) axes read in the wrong order, as (C, F, kh, kw)",
                   w.reshape(C, F, kh, kw).transpose(1, 0, 2, 3)),
                  ("'s (F, C) axes read in the wrong order, transposed and then reshaped",
                   w.transpose(1, 0, 2, 3).reshape(w.shape))]
    return [(words, turned) for words, turned in turns if not close(turned, w)]


KERNEL_WHY = {         # what each turn of kernel_turns means in a learner's im2col code
    "transposed in its spatial axes (kh <-> kw)":
        ": im2col's taps and the kernel's flattening disagree on the order of rows and columns "
        "(u kw + v vs v kh + u)",
    "'s entries in (kh, kw, C) order read as (C, kh, kw)":
        ": the kernel flattened channels-last (Keras's kernel layout) against im2col columns in "
        "(C, kh, kw) order, a permutation of each filter's C kh kw entries",
    "'s entries in (C, kh, kw) order read as (kh, kw, C)":
        ": im2col columns in (kh, kw, C) order against a kernel flattened (C, kh, kw), a "
        "permutation of each filter's C kh kw entries",
    "'s (F, C) axes read in the wrong order, as (C, F, kh, kw)":
        ": the kernel's buffer read in-channels first (as Keras's (kh, kw, in, out) or torch's "
        "ConvTranspose2d weight), where torch's Conv2d weight is (out, in, kh, kw)",
    "'s (F, C) axes read in the wrong order, transposed and then reshaped":
        ": W.transpose(1, 0, 2, 3).reshape(F, C, kh, kw), the (C, F, kh, kw) numbers put back "
        "in (F, C, kh, kw)'s shape without undoing the transpose",
}


def kernel_turn(a, b):
    """The words of the turn t with a == t(b) (a, b conv kernels (F, C, kh, kw)), or None."""
    if np.ndim(a) != 4 or np.shape(a) != np.shape(b):
        return None
    return next((words for words, turned in kernel_turns(b) if close(a, turned)), None)


def kernel_phrase(name, words):
    """'W1 rotated by 180°', "W2's entries in ..." (the possessive ones join without a space)."""
    return f"{name}{words}" if words.startswith("'s") else f"{name} {words}"


def layout_orders(shape):
    """[(from, to, perm)] for an image shape (C, H, W): flat[perm] lists the C.H.W-ordered
    numbers in the order `to` (e.g. (H, W, C), Keras's Flatten)."""
    C, H, W = shape
    grid = np.arange(C * H * W).reshape(C, H, W)
    orders = [("(C, H, W)", "(H, W, C)", grid.transpose(1, 2, 0).ravel()),
              ("(C, H, W)", "(W, H, C)", grid.transpose(2, 1, 0).ravel()),
              ("(C, H, W)", "(C, W, H)", grid.transpose(0, 2, 1).ravel())]
    orders.append(("(H, W, C)", "(C, H, W)", np.argsort(orders[0][2])))
    return [(a, b, perm) for a, b, perm in orders if np.any(perm != np.arange(perm.size))]


def row_permutation(a, b):
    """perm with a == b[perm] (the rows of b reordered), or None; a, b 2-D of one shape, rows of
    b distinct. Each row is keyed by its product with one random vector; a's keys find b's."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or len(b) < 2 or close(a, b):
        return None
    r = np.random.default_rng(0).standard_normal(b.shape[1])
    key, wanted = b @ r, a @ r
    order = np.argsort(key)
    ranked = key[order]
    after = np.clip(np.searchsorted(ranked, wanted), 1, len(b) - 1)   # the nearest key, either side
    before_is_nearer = np.abs(wanted - ranked[after - 1]) <= np.abs(ranked[after] - wanted)
    found = order[np.where(before_is_nearer, after - 1, after)]
    return found if close(a, b[found]) else None


def order_words(perm, shape):
    """'(C, H, W) -> (H, W, C)' when perm is one of layout_orders(shape), else None."""
    return next((f"{src} -> {dst}" for src, dst, p in layout_orders(shape)
                 if p.size == np.size(perm) and np.all(p == perm)), None)


def conv_zoo_words(kind, layer, a, records, previous, initial, ours, theirs, spec, X):
    """Z_l of a Conv2D block (everything before agreeing): the map shifted, its last rows and
    columns left at the bias, the input convolved with a turned kernel or padded on the other
    side; or Z_l of a Dense after a Flatten: the flattened image read in another order."""
    placed = spec.network.placed
    opener = next((p for p in placed if p.block == layer and p.layer.opens_block), None)
    if kind != "Z" or opener is None:
        return []
    W = before_value(f"W{layer}", theirs, previous, initial)
    b = before_value(f"b{layer}", theirs, previous, initial)
    if opener.layer.kind == "dense":
        return flatten_order_words(layer, opener, a, records, W, b, ours, theirs, placed)
    if opener.layer.kind != "conv2d" or W is None or np.ndim(W) != 4:
        return []
    F, Ho, Wo = opener.n_out
    maps = np.asarray(a, dtype=np.float64).T.reshape(-1, F, Ho, Wo)
    other = np.asarray(records[theirs][f"Z{layer}"], dtype=np.float64).T.reshape(maps.shape)
    shift = spatial_shift(maps, other)
    words = [f"{ours}'s Z{layer} is {theirs}'s shifted by {shift_words(*shift)} (on the positions "
             f"both have)"] if shift else []
    edge = None if shift else edge_difference(maps, other)
    if edge:
        words.append(edge_words(layer, edge, maps, b))
    inputs = conv_input(opener, records[theirs], placed, X)
    if inputs is None:
        return words
    _, strides, dilation, padding = opener.layer.geometry(opener.n_in)
    x = np.asarray(inputs, dtype=np.float64).T.reshape(-1, *opener.n_in)
    bias = None if b is None else np.asarray(b)[:, 0]
    for turn, turned in kernel_turns(W):             # rotated by 180°: flipped_kernel_words
        if turn != "rotated by 180°" and close(maps, correlate(x, turned, bias, strides, padding,
                                                                dilation)):
            return words + [f"{ours}'s Z{layer} is the input convolved with "
                            f"{kernel_phrase(f'W{layer}', turn)}{KERNEL_WHY.get(turn, '')}"]
    top, bottom, left, right = padding
    for dy, dx in small_shifts(2):
        moved = (top + dy, bottom - dy, left + dx, right - dx)
        if min(moved) >= 0 and close(maps, correlate(x, W, bias, strides, moved, dilation)):
            rule = (" (TensorFlow's 'same' puts the odd extra row and column at the bottom and "
                    "right)" if opener.layer.padding == "same" else "")
            return words + [f"{ours}'s Z{layer} is the input shifted by {shift_words(dy, dx)} "
                            f"before the convolution: padded (top, bottom, left, right) = {moved} "
                            f"where {padding} belongs{rule}"]
    return words


def edge_words(layer, edge, maps, b):
    """The last rows and columns of Z_l's map differ, the rest agrees: left at the bias (no window
    computed there: the loop stops one short), or otherwise different."""
    (r, c), (F, Ho, Wo) = edge, maps.shape[1:]
    rows, cols = last_words(r, "row", "rows"), last_words(c, "column", "columns")
    part = " and ".join(w for w in (rows, cols) if w)
    bias = 0.0 if b is None else np.asarray(b, dtype=np.float64).reshape(1, F, 1, 1)
    rims = [maps[:, :, Ho - r:, :] - bias, maps[:, :, :, Wo - c:] - bias]
    if all(close(rim, np.zeros_like(rim)) for rim in rims if rim.size):
        return (f"{part} of Z{layer}'s output map hold b{layer} alone (no window was computed "
                f"there), the rest agreeing: the loop over the windows stops one short, "
                f"range(0, H + 2p - k, s) where range(0, H + 2p - k + 1, s) belongs "
                f"(Ho = (H + 2p - k) // s + 1: the + 1 left out)")
    return (f"{part} of Z{layer}'s output map differ, the rest agrees: the windows at the bottom "
            f"and right edge (the padding there, or how many windows fit)")


def conv_input(opener, record, placed, X):
    """What a conv layer read, as columns: the step's input for the first layer, else the record
    of the layer before it (None when that was not recorded)."""
    if opener.index == 0:
        return None if X is None else np.asarray(X, dtype=np.float64).T
    before = placed[opener.index - 1]
    return record.get(before.name(before.layer.role)) if before.layer.role else None


def flatten_order_words(layer, opener, a, records, W, b, ours, theirs, placed):
    """Z_l of a Dense whose input is a Flatten of an image: the flattened numbers in another order
    (Keras's H.W.C where the weights expect torch's C.H.W)."""
    if opener.index < 2 or placed[opener.index - 1].layer.kind != "flatten" or W is None \
            or b is None:
        return []
    flat, before = placed[opener.index - 1], placed[opener.index - 2]
    name = before.name(before.layer.role) if before.layer.role else None
    inputs = records[theirs].get(name) if name else None
    if inputs is None or len(flat.n_in) != 3:
        return []
    inputs = np.asarray(inputs, dtype=np.float64)
    for src, dst, perm in layout_orders(flat.n_in):
        if W.shape[1] == perm.size and close(a, W @ inputs[perm] + b):
            return [f"{ours}'s Z{layer} is W{layer} applied to the flattened {name} in {dst} order "
                    f"where {src} belongs: the Flatten before Dense {layer} hands on {dst} "
                    f"(Keras's Flatten is (H, W, C)) while W{layer}'s columns expect {src}; "
                    f"equivalently W{layer}'s columns permuted {src} -> {dst}"]
    return []


def layout_words(name, a, b, ours, theirs, spec):
    """A kernel (W, dW) turned, or a 2-D tensor whose rows or columns are the other's in another
    layout order (a Dense after a Flatten): words, or []."""
    words = kernel_turn(a, b)
    if words:
        return [f"{ours}'s {kernel_phrase(name, words)} of {theirs}'s: the kernel read in another "
                f"order"]
    if np.ndim(a) != 2:
        return []
    shapes = [p.n_in for p in spec.network.placed if p.layer.kind == "flatten" and len(p.n_in) == 3]
    for axis, a_, b_ in (("rows", a, b), ("columns", np.transpose(a), np.transpose(b))):
        perm = row_permutation(a_, b_)
        found = [order_words(perm, s) for s in shapes] if perm is not None else []
        order = next((o for o in found if o), None)
        if order:
            return [f"{ours}'s {name} is {theirs}'s with its {axis} permuted {order}: a flattened "
                    f"image read in another order"]
    return []


def pool_route_words(layer, records, ours, theirs, spec):
    """dZ_l of a block with max pooling (dP_l and the forward pass agreeing): which routing of dP_l
    back through the windows gives ours' dZ_l: every tied maximum, or every cell of the window.
    The ties are ours' own (exactly equal values there may differ in the last bit on the other
    side), so everything is read from ours' record."""
    placed = spec.network.placed
    pooling = next((p for p in placed if p.block == layer and p.layer.kind == "max_pool2d"), None)
    g = spec.activations[layer - 1]
    if pooling is None or g not in ("relu", "linear"):
        return []
    before, mine = placed[pooling.index - 1], records[ours]
    need = (before.name(before.layer.role), f"dP{layer}", f"Z{layer}", f"dZ{layer}")
    if any(n not in mine for n in need):
        return []
    (kh, kw), (sh, sw) = pooling.layer.window()
    C, H, W = pooling.n_in
    _, Ho, Wo = pooling.n_out
    x = np.asarray(mine[need[0]], dtype=np.float64).T.reshape(-1, C, H, W)
    dP = np.asarray(mine[need[1]], dtype=np.float64).T.reshape(-1, C, Ho, Wo)
    taps = [(slice(u, u + (Ho - 1) * sh + 1, sh), slice(v, v + (Wo - 1) * sw + 1, sw))
            for u in range(kh) for v in range(kw)]
    win = np.stack([x[:, :, rows, cols] for rows, cols in taps], axis=2)   # (m, C, kh kw, Ho, Wo)
    top = win == win.max(axis=2, keepdims=True)
    ties = int(np.sum(top.sum(axis=2) > 1))
    routes = [(top, f"sent to every tied maximum of its window ({ties} of {top[:, :, 0].size} "
                    f"windows hold ties, e.g. a blank background's equal values), where torch and "
                    f"Keras send it to one maximum, the first in scan order"),
              (np.ones_like(top), "sent to every cell of its window, as average pooling would "
                                  "(without its 1/(kh kw))")]
    for mask, words in routes[0 if ties else 1:]:
        dx = np.zeros_like(x)
        for k, (rows, cols) in enumerate(taps):
            dx[:, :, rows, cols] += mask[:, :, k] * dP
        slope = np.asarray(mine[need[2]]) > 0 if g == "relu" else 1.0
        if close(mine[need[3]], dx.reshape(dx.shape[0], -1).T * slope):
            return [f"{ours}'s dZ{layer} is dP{layer} {words}"]
    return []


# --- average pooling's divisor: the padding counted, or not --------------------------------
# Where a window overlaps the padding, count_include_pad decides its divisor: the window's cells
# (torch's default) or the real cells alone (Keras's 'same', count_include_pad=False). Counted
# the other way, the border outputs are scaled by real / window (or window / real) and the
# interior, whose windows hold no padding, agrees.

def window_cells(hw, kernel, stride, padding, out_hw, include_pad):
    """(Ho, Wo): the cells of each window that lie in the input (include_pad False) or in the
    input and its padding (True); a ceil-mode overhang beyond the padding is never counted."""
    (H, W), (kh, kw), (sh, sw), (top, bottom, left, right) = hw, kernel, stride, padding
    (Ho, Wo) = out_hw
    rows = (Ho - 1) * sh + kh
    cols = (Wo - 1) * sw + kw
    cells = np.zeros((max(rows, top + H + bottom), max(cols, left + W + right)))
    if include_pad:
        cells[:top + H + bottom, :left + W + right] = 1.0
    else:
        cells[top:top + H, left:left + W] = 1.0
    return sum(cells[u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw]
               for u in range(kh) for v in range(kw))


def divisor_scaling(a, b, real, window):
    """Whether the maps a, b (..., Ho, Wo) differ by the divisor of the border windows alone:
    'counted' when a == b * real / window (a counted the padding where b did not), 'left out'
    when a == b * window / real (the reverse), None otherwise or when no window holds padding.
    real, window: (Ho, Wo) cell counts (window_cells); the interior, real == window, agrees."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    real, window = np.asarray(real, dtype=np.float64), np.asarray(window, dtype=np.float64)
    if a.shape != b.shape or a.shape[-2:] != real.shape or np.all(real == window) \
            or np.any(real == 0) or close(a, b):
        return None
    for how, ratio in (("counted", real / window), ("left out", window / real)):
        if close(a, b * ratio):
            return how
    return None


def fraction_words(real, window, how):
    """'4/9 and 6/9' (counted) or '9/4 and 9/6' (left out): each border window's scale, unreduced,
    the smallest first."""
    pairs = sorted({(int(r), int(w)) for r, w in zip(np.ravel(real), np.ravel(window)) if r != w},
                   key=lambda p: p[0] / p[1])
    parts = [f"{r}/{w}" if how == "counted" else f"{w}/{r}" for r, w in pairs]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def pool_divisor_words(layer, a, b, records, ours, theirs, spec):
    """P_l of an average pooling over padding: the border windows scaled by real / window cells
    (ours counted the padding in the divisor) or window / real (ours left it out), the interior
    agreeing; [] when that is not what the difference is."""
    pooling = next((p for p in spec.network.placed
                    if p.block == layer and p.layer.kind == "avg_pool2d"), None)
    if pooling is None or len(pooling.n_in) != 3:
        return []
    kernel, strides, padding = pooling.layer.geometry(pooling.n_in)
    C, Ho, Wo = pooling.n_out
    cells = [window_cells(pooling.n_in[1:], kernel, strides, padding, (Ho, Wo), include)
             for include in (False, True)]
    maps = [np.asarray(t, dtype=np.float64).T.reshape(-1, C, Ho, Wo) for t in (a, b)]
    how = divisor_scaling(*maps, *cells)
    if how is None:
        return []
    before = before_agrees(earlier_forward("A", layer) + [f"A{layer}"], records, ours, theirs)
    scales = fraction_words(*cells, how)
    cells_in = f"{kernel[0]}x{kernel[1]}"
    if how == "counted":
        rule = (f"{ours} divides each window's sum by its {kernel[0] * kernel[1]} cells, the "
                f"padded ones too, where {theirs} divides by the real cells alone "
                f"(count_include_pad=False; Keras's 'same' average pooling)")
        what = "the padded cells counted in the divisor"
    else:
        rule = (f"{ours} divides each window's sum by its real cells alone, where {theirs} "
                f"divides by the whole {cells_in} window, its padding included "
                f"(count_include_pad=True, torch's default)")
        what = "the padded cells left out of the divisor"
    return [f"P{layer} is the first tensor of block {layer} that differs ({before}); the edge "
            f"windows of P{layer} are scaled by {scales} ({what}), the interior agrees: {rule}"]
