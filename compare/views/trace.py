"""`python -m compare trace RECIPE [--step N] [--example I] [--full]`: one training step as a
worked example. For each layer in order Z, then A; the loss; dZ, dW, db from the last layer
back; then the updated parameters. Every tensor shows its values once (the first
implementation's, scratch's) and beside them the largest |difference| of each other
implementation from them, or 'identical'; a column vector is written as one row, marked ᵀ.
Large tensors are summarised (shape, corner, norm). --full prints every implementation's values
side by side, large tensors whole. `--json PATH` writes every implementation's numbers.

Optimizer state (momentum buffers, moment estimates) follows the update, named as in scratch
(W1.momentum, W1.m, ...); Keras's SGD buffer is -lr times torch's (see compare/conventions.py).
Left out: steps other than the one asked for (the JSON report of a normal run has every step's errors).
"""
import numpy as np

from ..engine.errors import InputError
from ..engine import names as tensor_names

SMALL = 24          # tensors with at most this many elements are printed whole
CORNER = 3


def formula(name, spec):
    """The textbook line that computes a tensor of the scratch code."""
    L = spec.n_layers
    if "." in name:
        param, state = name.split(".")
        return f"{name}: the optimizer's {STATE_WORDS.get(state, state)} for {param}, after the step"
    if name == "loss":
        penalty = " + l2 Σ W²" * bool(spec.l2) + " + l1 Σ |W|" * bool(spec.l1)
        return f"L = {spec.loss}(A{L}, Y){penalty}   ({spec.reduction} over the batch)"
    if name == "lr":
        return lr_formula(spec)
    parsed = tensor_names.parse(name)
    kind, l = parsed.kind, parsed.layer
    g = spec.activations[l - 1]
    normed = getattr(spec, "norm", None) and l < L            # scratch/layers.py: after a hidden Dense
    over = "the batch, per unit" if getattr(spec, "norm", None) == "batch" else "the units, per example"
    dropped = f" ⊙ mask{l}/(1 − p)" if getattr(spec, "dropout", 0) and l < L else ""
    return {
        "Z": f"Z{l} = W{l} · A{l - 1} + b{l}",
        "A": f"A{l} = {g}({'N' if normed else 'Z'}{l}){dropped}",
        "N": f"N{l} = γ{l} (Z{l} − μ) / √(σ² + ε) + β{l}   (μ, σ² over {over})",
        "dN": f"dN{l} = (W{l + 1}ᵀ · dZ{l + 1}) ⊙ {g}'(N{l})",
        "gamma": update_formula(f"gamma{l}", spec),
        "beta": update_formula(f"beta{l}", spec),
        "dgamma": f"dgamma{l} = Σ dN{l} ⊙ (Z{l} − μ)/√(σ² + ε)",
        "dbeta": f"dbeta{l} = Σ dN{l}",
        "mean": f"mean{l}: the running mean of Z{l} (torch: (1 − m) r + m μ; Keras: m r + (1 − m) μ)",
        "var": f"var{l}: the running variance of Z{l} (torch stores the unbiased batch variance, Keras the biased)",
        "dZ": (f"dZ{l} = dL/dZ{l}" + ("  = (A - Y) / divisor" if spec.loss != "mse" else "  = dL/dA ⊙ g'(Z)")
               if l == L else f"dZ{l} = (W{l + 1}ᵀ · dZ{l + 1}) ⊙ {g}'(Z{l})"),
        "dW": f"dW{l} = dZ{l} · A{l - 1}ᵀ" + f" + 2 l2 W{l}" * bool(spec.l2) + f" + l1 sign(W{l})" * bool(spec.l1),
        "db": f"db{l} = Σ over examples of dZ{l}",
        "W": update_formula(f"W{l}", spec),
        "b": update_formula(f"b{l}", spec),
    }.get(kind, name)


UPDATES = {   # optimizer -> (torch's update of p from g, Keras's where it differs); scratch/optimizers.py
    "rmsprop": ("s ← ρ s + (1 − ρ) g²,  {p} ← {p} − lr · g / (√s + ε)", "ε inside the root: g / √(s + ε)"),
    "adam": ("m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,  {p} ← {p} − lr · m̂ / (√v̂ + ε)",
             "{p} ← {p} − lr √(1 − β2ᵗ)/(1 − β1ᵗ) · m / (√v + ε)"),
    "nadam": ("μ_t = β1 (1 − ½·0.96^(ψ t)),  m, v as adam,  {p} ← {p} − lr [(1 − μ_t) g / (1 − Πμ) + "
              "μ_{{t+1}} m / (1 − Πμ μ_{{t+1}})] / (√v̂ + ε)", "μ_t = β1 (1 − ½·0.96^t)"),
    "adamax": ("m ← β1 m + (1 − β1) g,  u ← max(β2 u, |g| + ε),  {p} ← {p} − lr/(1 − β1ᵗ) · m / u",
               "u ← max(β2 u, |g|),  divide by (u + ε)"),
    "adagrad": ("s ← s + g² (s₀ = 0),  {p} ← {p} − lr · g / (√s + ε)", "s₀ = 0.1, g / √(s + ε)"),
    "adadelta": ("s ← ρ s + (1 − ρ) g²,  Δ = √(d + ε)/√(s + ε) · g,  d ← ρ d + (1 − ρ) Δ²,  {p} ← {p} − lr Δ", ""),
    "lion": ("{p} ← {p} − lr · sign(β1 m + (1 − β1) g),  m ← β2 m + (1 − β2) g", ""),
}
UPDATES["adamw"] = ("{p} ← {p} (1 − lr·wd),  then " + UPDATES["adam"][0], "{p} ← {p} − {p}·wd·lr,  then " + UPDATES["adam"][1])


def update_formula(p, spec):
    """The optimizer's update of parameter p, written out (torch's form; Keras's where it differs),
    after the rules that change g first (weight decay, clipping)."""
    rules, g = [], f"d{p}"            # g: what the optimizer is given (torch clips, then adds wd p)
    for clip, words in (("clip_norm", "min(1, c / (‖all gradients‖ + 1e-6))  (Keras: no 1e-6)"),
                        ("clip_norm_per_tensor", "min(1, c / ‖g‖)  (torch: + 1e-6)")):
        if getattr(spec, clip) is not None:
            rules.append(f"g ← {g} · {words.replace('g‖', f'{g}‖')}")
            g = "g"
    if spec.clip_value is not None:
        rules.append(f"g ← clip({g}, −c, c)")
        g = "g"
    if spec.weight_decay and spec.optimizer != "adamw":
        if spec.decay == "coupled":
            rules.append(f"g ← {g} + wd·{p}")
            g = "g"
        else:
            rules.append(f"{p} ← {p} − lr·wd·{p}")
    if spec.optimizer == "sgd" and not spec.momentum:
        update = f"{p} ← {p} − lr · {g}   (sgd, lr {spec.lr:g})"
    elif spec.optimizer == "sgd":
        step = f"({g} + μ v)" if spec.nesterov else "v"
        fresh = f"(1 − {spec.dampening:g}) {g}" if spec.dampening else g
        update = (f"v ← μ v + {fresh},  {p} ← {p} − lr · {step}   (lr {spec.lr:g}, μ {spec.momentum:g}; "
                  f"Keras keeps v ← μ v − lr {g} instead)")
    else:
        torch_form, keras_form = UPDATES[spec.optimizer]
        update = torch_form.format(p=p).replace(" g", f" {g}")
        update += f"   ({spec.optimizer}, lr {spec.lr:g}" + (f"; Keras: {keras_form.format(p=p)})" if keras_form else ")")
    return ";  ".join(rules + [update])


def lr_formula(spec):
    """The learning rate after the step: the schedule's next value."""
    h = spec.schedule_hyper()
    words = {"exponential": f"lr ← lr · {h.get('gamma')}",
             "step": f"lr ← lr · {h.get('gamma')} at steps {h.get('milestones')} (Keras: boundaries m − 1)",
             "cosine": f"lr = η_min + (lr₀ − η_min)(1 + cos(π t / {h.get('t_max')}))/2",
             "plateau": f"lr ← lr · {h.get('gamma')} after {h.get('patience')} bad steps"}.get(spec.schedule, "lr")
    return f"lr: the learning rate the next step uses ({spec.schedule} schedule every {spec.schedule_every}): {words}"


def matrix_text(array, full):
    """A small matrix as aligned rows of numbers; a large one as shape, corner and norms."""
    array = np.atleast_2d(np.asarray(array, dtype=np.float64))
    if array.ndim > 2:                                   # a conv kernel (F, C, kh, kw): one row per filter
        shape = array.shape
        return f"shape {shape}, one row per filter:\n" + matrix_text(array.reshape(shape[0], -1), full)
    if full or array.size <= SMALL:
        return "\n".join(" ".join(f"{v:13.7g}" for v in row) for row in array)
    corner = array[:CORNER, :CORNER]
    lines = [" ".join(f"{v:13.7g}" for v in row) + "  ..." for row in corner]
    return (f"shape {array.shape}, corner:\n" + "\n".join(lines) +
            f"\n|x|max {np.abs(array).max():.6g}, norm {np.linalg.norm(array):.6g}")


def aligned(rows, headers):
    """Rows of (label, multi-line matrix text, note) as three columns, every matrix line in place."""
    label_w = max(len(str(r[0])) for r in rows + [headers]) + 2
    value_w = max(len(line) for r in rows + [headers] for line in str(r[1]).splitlines() or [""]) + 2
    out = [f"{headers[0]:{label_w}}{headers[1]:{value_w}}{headers[2]}".rstrip()]
    for label, text, note in rows:
        for i, line in enumerate(str(text).splitlines() or [""]):
            out.append((f"{label if i == 0 else '':{label_w}}{line:{value_w}}{note if i == 0 else ''}").rstrip())
    return "\n".join(out)


def select_example(name, array, example):
    """Z, A and dZ keep one column per example: --example I shows column I only."""
    if example is None or (name != "A0" and tensor_names.parse(name).kind not in ("Z", "A", "dZ")):
        return array
    if example >= array.shape[1]:
        raise InputError(f"--example {example} is outside the batch of {array.shape[1]}")
    return array[:, example:example + 1]


def trace_rows(kept, spec, keys, example, full):
    """-> [(name, formula, {runner: text}, {pair: max abs diff})] in compute order, and the numbers."""
    records = kept["records"]
    names = [n for n in tensor_names.ordered(records[keys[0]], spec.n_layers) if all(n in records[k] for k in keys)]
    numbers, rows = {}, []
    for name in names:
        values = {k: select_example(name, np.asarray(records[k][name]), example) for k in keys}
        numbers[name] = values
        diffs = {}
        for ours, theirs in (("scratch", "torch"), ("scratch@keras", "keras")):
            if ours in values and theirs in values and np.shape(values[ours]) == np.shape(values[theirs]):
                diffs[theirs] = f"vs {ours}: {np.max(np.abs(np.asarray(values[theirs]) - values[ours]), initial=0):.1e}"
        rows.append((name, formula(name, spec), {k: matrix_text(v, full) for k, v in values.items()}, diffs))
    return rows, numbers



STATE_WORDS = {"momentum": "momentum buffer v", "square_avg": "running average of squared gradients",
               "m": "first-moment estimate m", "v": "second-moment estimate v"}


def section_of(name):
    """'dW2' -> 'backward', 'W1.m' -> 'optimizer state': the part of the step a tensor belongs to."""
    return tensor_names.parse(name).section


PARTNERS = {"torch": "scratch", "keras": "scratch@keras"}     # what each reference is judged against
WIDTH = 100


def one_line(array):
    """A row, a column or a single number as one line ('[1  2  3]ᵀ' for a column), else None."""
    array = np.atleast_2d(np.asarray(array, dtype=np.float64))
    if array.size == 1:
        return f"{array.item():.7g}"
    if min(array.shape) == 1 and array.size <= SMALL:
        text = "[" + "  ".join(f"{v:.7g}" for v in array.ravel()) + "]"
        return text + ("ᵀ" if array.shape[1] == 1 else "")
    return None


def value_lines(array, full=False):
    """The lines that show a tensor: one line when it is a vector (wrapped to fit WIDTH), else
    matrix_text's."""
    line = one_line(array)
    if line is not None and not full:
        return fit(line, WIDTH - 8)
    return matrix_text(array, full).splitlines()


def fit(text, width=WIDTH, indent=""):
    """A line broken between words (two-space gaps of a vector first) to at most `width` columns."""
    import textwrap

    if len(text) <= width:
        return [text]
    words = text.split("  ") if "  " in text else text.split(" ")
    gap = "  " if "  " in text else " "
    out, current = [], ""
    for word in words:
        if current and len(current) + len(gap) + len(word) > width:
            out.append(current)
            current = indent + word
        else:
            current = f"{current}{gap}{word}" if current else word
    out.append(current)
    if max(len(line) for line in out) <= width:
        return out
    return [piece for line in out for piece in textwrap.wrap(line, width, subsequent_indent=indent)]


def difference_note(values, keys):
    """'identical', or 'torch 4.4e-16, scratch@keras identical, keras 4.4e-16': each other
    implementation's largest |difference| from the first's values (and from its partner's, when
    that is not the first and the two differ)."""
    first = np.asarray(values[keys[0]], dtype=np.float64)

    def diff(a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return f"shape {a.shape} vs {b.shape}"
        d = np.max(np.abs(a - b), initial=0.0)
        return "identical" if d == 0 else f"{d:.1e}"

    parts = {}
    for k in keys[1:]:
        parts[k] = diff(values[k], first)
        partner = PARTNERS.get(k)
        if partner in values and partner != keys[0] and diff(values[partner], first) != "identical":
            parts[k] += f" (vs {partner} {diff(values[k], values[partner])})"
    if all(v == "identical" for v in parts.values()):
        return "identical in the others" if parts else ""
    return "Δ " + ", ".join(f"{k} {v}" for k, v in parts.items())


def with_note(lines, note, indent="    "):
    """Value lines indented, the note beside the first when it fits in WIDTH, else below."""
    out = [indent + line for line in lines]
    if not note:
        return out
    if len(out) and len(out[0]) + 3 + len(note) <= WIDTH:
        out[0] += "   " + note
    else:
        out.append(indent + note)
    return out


def print_trace(recipe, spec, kept, keys, step, example, full):
    X = kept["X"]
    print(f"worked example: recipe {recipe.name}, step {step}, batch of {len(X)}"
          + (f", example {example}" if example is not None else "") + f", {spec.dtype}")
    if not full and len(keys) > 1:
        print(f"values: {keys[0]}'s; beside them the largest |difference| of {', '.join(keys[1:])} "
              "(--full: all)")
    print("inputs A0 (one example per column):")
    print("\n".join(with_note(value_lines(select_example("A0", X.T, example), full), "")))
    print("targets Y:")
    print("\n".join(with_note(value_lines(select_example("A0", kept["Y"].T, example), full), "")))
    before = kept["before"][keys[0]]
    print("parameters at the start of the step (" + keys[0] + "):")
    for name, value in before.items():
        lines = value_lines(value, full)
        if len(lines) == 1:
            print(f"    {name} = {lines[0]}")
        elif len(lines) > 1 and lines[0].startswith("["):                # a wrapped vector
            print(f"    {name} =")
            print("\n".join("      " + line for line in lines))
        else:
            print(f"    {name} =")
            print("\n".join(with_note(lines, "", "      ")))
    rows, numbers = trace_rows(kept, spec, keys, example, full)
    section = None
    for name, text, cells, diffs in rows:
        title = section_of(name)
        if title != section:
            print(f"=== {title} ===")
            section = title
        print("\n".join(fit(text, WIDTH, "    ")))
        if full:
            table = [[k, cells[k], diffs.get(k, "")] for k in keys]
            print(aligned(table, ["", "values", "max |difference|"]))
        else:
            print("\n".join(with_note(value_lines(numbers[name][keys[0]]), difference_note(numbers[name], keys))))
    from .trace_conv import conv_example
    lines = conv_example(spec, kept, keys, example)
    if lines:
        print("\n".join(lines))
    return numbers
