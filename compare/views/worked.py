"""The worked example by hand: one element of each tensor of step 1, its formula with the recorded
numbers substituted, as the seed textbooks write it,

    Z1[0,0] = W1[0,0]·A0[0,0] + b1[0] = 0.1257·2 + (−0.5357) = −0.2842

then the result the shown arithmetic gives (in float64, from the recorded numbers) checked against
what each implementation recorded. Forward (Z, A of every layer), the loss, backward (dZ, dW, db
from the last layer back) and the update, for unit 0 of each layer and example 0 of the batch
(dW: its element [0, 0]). Every number substituted is the first implementation's recorded one
(scratch's): the inputs and targets of the batch, the parameters it started the step from, the
tensors it computed. A sum of more than MAX_TERMS terms (a 784-pixel input, a batch of 128)
shows its first terms that are not 0 and the others' total, with how many of them are 0, so that
the line still adds up; each number names its element on hover (W1@before[0,152]).

Each line's colour is the judge's band of that tensor at step 1 (compare/engine/judge.band of the
worst judged pair's error); each implementation's recorded value beside it says by how much it
differs from the formula's result, in the same bands.

Every number is a <span class="num"> with data-tensor, data-index and data-value (repr of the
float), and each result a <span class="result">: tests/test_html_worked.py reads them back.

Left out (a sentence says so on the page): layer lists (conv, pool), dropout and normalization;
the losses other than mse and the cross-entropies from logits; a softmax hidden layer's or a
non-fused output's derivative; the update of an optimizer other than SGD (plain or with momentum)
without Nesterov, dampening, weight decay, clipping or a penalty (its formula is shown with the
numbers before and after, not substituted).
"""
import html

import numpy as np
from scratch.activations import activation_table
from scratch.conventions import TORCH
from scratch.losses import loss_divisor

from ..engine import judge

MAX_TERMS = 8
DIGITS = "{:.4g}"
FORMULAS = {"sigmoid": "1 / (1 + e^−{z})", "tanh": "tanh{z}", "relu": "max(0, {z})",
            "linear": "{z}",
            "softplus": "log(1 + e^{z})"}
DERIVATIVES = {"sigmoid": ("A{l}[0,{j}]·(1 − A{l}[0,{j}])", "{v}·(1 − {v})", "A"),
               "tanh": ("(1 − A{l}[0,{j}]²)", "(1 − {v}²)", "A"),
               "relu": ("[Z{l}[0,{j}] > 0]", "[{v} > 0]", "Z"), "linear": ("1", "1", "Z")}
LOSS_WORDS = {"mse": "Σ (a − y)² / {d}",
              "binary_crossentropy": "Σ [max(z, 0) − z y + log(1 + e^−|z|)] / {d}",
              "categorical_crossentropy": "−Σ y log a / {d}   (a = softmax(z))"}


def number(value, tensor, index, cls="num", runner=None):
    """A recorded number as shown (4 significant digits, U+2212 minus), its full value kept; its
    name (W1@before[0,3]) shows on hover."""
    value = float(value)
    text = DIGITS.format(value).replace("-", "−")
    where = ",".join(str(i) for i in index)
    who = f' data-runner="{html.escape(runner)}"' if runner else ""
    return (f'<span class="{cls}"{who} data-tensor="{html.escape(tensor)}" data-index="{where}" '
            f'title="{html.escape(named(tensor, index))}" data-value="{value!r}">{text}</span>')


def signed(value, tensor, index):
    """A term after the first: negative numbers (−0 too) in parentheses, as textbooks write them."""
    shown = number(value, tensor, index)
    return f"({shown})" if np.signbit(float(value)) else shown


def named(tensor, index):
    return f"{tensor}[{','.join(str(i) for i in index)}]" if index else tensor


def shown_number(value):
    return DIGITS.format(value).replace("-", "−")


def written_sum(terms):
    """terms: [(text(first) -> html, value)] in order -> (their sum written out, its value).
    At most MAX_TERMS terms are written: of a longer sum the first MAX_TERMS - 2 that are not 0,
    then the others as one number (so that the line still adds up), with how many of them are 0."""
    total = float(sum(value for _, value in terms))
    if len(terms) <= MAX_TERMS:
        return " + ".join(text(i == 0) for i, (text, _) in enumerate(terms)), total
    picked = [i for i, (_, value) in enumerate(terms) if value != 0][:MAX_TERMS - 2]
    rest = [value for i, (_, value) in enumerate(terms) if i not in picked]
    zeros = sum(1 for value in rest if value == 0)
    parts = [terms[i][0](n == 0) for n, i in enumerate(picked)]
    rest_sum = float(sum(rest))
    what = (f"the other {len(rest)} terms" if picked else f"{len(rest)} terms") + (
        ", all 0" if zeros == len(rest) else f" ({zeros} of them 0)" if zeros else "")
    parts.append(f"[{what}: "
                 f'<span class="rest" data-value="{rest_sum!r}">{shown_number(rest_sum)}</span>]')
    return " + ".join(parts), total


def factors(*numbers):
    """A product term of written_sum: numbers [(value, tensor, index)] joined by '·'."""
    def text(first):
        return "·".join((number if first and n == 0 else signed)(*f) for n, f in enumerate(numbers))
    value = 1.0
    for f in numbers:
        value *= float(f[0])
    return text, value


def products(a_name, a, a_index, b_name, b, b_index, count):
    """-> (the sum's text 'x·y + (u)·v + ...', its value): Σ_k a[a_index(k)] b[b_index(k)]."""
    return written_sum([factors((a[a_index(k)], a_name, a_index(k)),
                                (b[b_index(k)], b_name, b_index(k))) for k in range(count)])


class Lines:
    """The worked lines, each checked against the recorded tensors and coloured by the judge."""

    def __init__(self, report, kept):
        self.keys = report.raw["keys"]
        self.records = kept["records"]
        self.rtol = report.summary["rtol"]
        self.dtype = report.config.get("dtype", "float64")
        self.judged = report.summary["judged_pairs"]
        self.errors = report.raw.get("first_step_errors", {})
        self.out = []

    def tensor_band(self, tensor):
        """The judge's band of a tensor at step 1: its worst judged pair's."""
        bands = [judge.band(e.max_rel if e.passed(np.inf) else np.inf, self.rtol, self.dtype)
                 for pair, errors in self.errors.items() if pair in self.judged
                 for e in errors if e.name == tensor]
        return max(bands, key=judge.BANDS.index) if bands else "unjudged"

    def line(self, tensor, index, formula, substituted, result, sign="="):
        """Append 'tensor[index] = formula = substituted = result', then what each
        implementation recorded."""
        checks = []
        for key in self.keys:
            recorded = np.asarray(self.records[key].get(tensor, np.nan), dtype=np.float64)
            if recorded.shape and len(index) != recorded.ndim:
                continue
            value = float(recorded[index]) if recorded.ndim else float(recorded)
            largest = float(np.max(np.abs(recorded))) if recorded.size else 0.0
            scale = max(largest, abs(result), 1e-300)
            difference = abs(value - result)
            mark = judge.band(difference / scale, self.rtol, self.dtype)
            said = "✓" if mark != "beyond" else f"✗ differs by {difference:.2g}"
            checks.append(f'<span class="check {mark}" data-runner="{html.escape(key)}">'
                          f'{html.escape(key)} '
                          f'{number(value, tensor, index, "recorded", key)} {said}</span>')
        band = self.tensor_band(tensor)
        shown_result = number(result, tensor, index, "result")
        self.out.append(f'<div class="by-hand {band}" data-tensor="{html.escape(tensor)}" '
                        f'data-band="{band}"><code>{html.escape(named(tensor, index))} {sign} '
                        f'{formula} = {substituted} = {shown_result}'
                        f'</code><br><small>recorded: {" ".join(checks)}</small></div>')

    def heading(self, text):
        self.out.append(f"<h4>{html.escape(text)}</h4>")


def applies(spec):
    """Whether the by-hand lines cover this spec (a Dense shorthand without dropout or norm)."""
    return (spec.layers is None and not getattr(spec, "norm", None)
            and not any(getattr(spec, "dropout_rates", ()) or ()))


def by_hand_html(report, spec):
    """The by-hand lines of step 1 as HTML, or a sentence saying why there are none."""
    kept = report.raw.get("kept") if getattr(report, "raw", None) else None
    if not kept:
        return ""
    if not applies(spec):
        return ("<p>The by-hand lines cover Dense networks without dropout or normalization; "
                "this run's tensors are in the tables below.</p>")
    key = report.raw["keys"][0]
    rec = {n: np.asarray(v, dtype=np.float64) for n, v in kept["records"][key].items()}
    before = {n: np.asarray(v, dtype=np.float64) for n, v in kept["before"][key].items()}
    A0, Y = np.asarray(kept["X"], dtype=np.float64).T, np.asarray(kept["Y"], dtype=np.float64).T
    L, m, j = spec.n_layers, A0.shape[1], 0
    table = activation_table(TORCH, getattr(spec, "slope", None))
    lines = Lines(report, kept)
    A = {0: A0}
    intro = (f"<p>By hand: unit 0 of each layer, example 0 of the batch of {m} (one example per "
             f"column), each number {html.escape(key)}'s recorded one, shown to 4 digits; the "
             f"result is the shown "
             f"arithmetic in float64, checked against what each implementation recorded "
             f"(✓: within rounding or the tolerance of the formula's result).</p>")
    lines.heading("forward")
    for l in range(1, L + 1):
        W, b, g = before[f"W{l}"], before[f"b{l}"], spec.activations[l - 1]
        sums, total = products(f"W{l}@before", W, lambda k: (0, k),
                               f"A{l - 1}", A[l - 1], lambda k: (k, j), W.shape[1])
        lines.line(f"Z{l}", (0, j), f"Σₖ W{l}[0,k]·A{l - 1}[k,{j}] + b{l}[0]",
                   f"{sums} + {signed(b[0, 0], f'b{l}@before', (0, 0))}", total + float(b[0, 0]))
        Z = rec[f"Z{l}"]
        z = number(Z[0, j], f"Z{l}", (0, j))
        if g == "softmax":
            column = Z[:, j]
            result = float(np.exp(column[0] - column.max()) / np.sum(np.exp(column - column.max())))
            lines.line(f"A{l}", (0, j), f"e^Z{l}[0,{j}] / Σᵢ e^Z{l}[i,{j}]",
                       f"e^{z} / Σᵢ e^Z{l}[i,{j}]", result)
        else:
            result = float(table[g][0](Z[0:1, j:j + 1])[0, 0])
            z = f"({z})" if g in ("sigmoid", "tanh", "softplus") else z
            lines.line(f"A{l}", (0, j), f"{g}(Z{l}[0,{j}])",
                       FORMULAS.get(g, g + "({z})").format(z=z), result)
        A[l] = rec[f"A{l}"]
    loss_line(lines, spec, rec, Y, L, m)
    lines.heading("backward")
    for l in range(L, 0, -1):
        dz_line(lines, spec, rec, before, Y, l, L, j, table)
        dZ = rec[f"dZ{l}"]
        sums, total = products(f"dZ{l}", dZ, lambda i: (0, i),
                               f"A{l - 1}", A[l - 1], lambda i: (0, i), m)
        if spec.l1 or spec.l2:
            lines.heading(f"dW{l} adds the penalty's gradient (l2 2W, l1 sign W): "
                          "not written out here")
        else:
            lines.line(f"dW{l}", (0, 0), f"Σⱼ dZ{l}[0,j]·A{l - 1}[0,j]", sums, total)
        terms, total = written_sum([factors((dZ[0, i], f"dZ{l}", (0, i))) for i in range(m)])
        lines.line(f"db{l}", (0, 0), f"Σⱼ dZ{l}[0,j]", terms, total)
    update_lines(lines, spec, rec, before, L)
    return intro + "\n".join(lines.out)


def loss_line(lines, spec, rec, Y, L, m):
    """L = the loss of the batch, its terms written out (mse, the cross-entropies from logits)."""
    lines.heading("loss")
    n = Y.shape[0]
    d = loss_divisor(spec.loss, spec.reduction, TORCH, n, m)
    plain = spec.loss in LOSS_WORDS and not spec.probabilities and not spec.label_smoothing
    if not plain or spec.l1 or spec.l2:
        lines.heading(f"loss {spec.loss}: the formula is in the table below (not written out for "
                      f"this loss's options)")
        return
    A, Z = rec[f"A{L}"], rec[f"Z{L}"]
    cells = [(i, j) for j in range(m) for i in range(n)]
    if spec.loss == "mse":
        terms = [((lambda first, c=c: f"({number(A[c], f'A{L}', c)} − {number(Y[c], 'Y', c)})²"),
                  float((A[c] - Y[c]) ** 2)) for c in cells]
    elif spec.loss == "binary_crossentropy":
        terms = [((lambda first, c=c: f"[max({number(Z[c], f'Z{L}', c)}, 0) − "
                   f"{signed(Z[c], f'Z{L}', c)}·{number(Y[c], 'Y', c)} + "
                   f"log(1 + e^−|{number(Z[c], f'Z{L}', c)}|)]"),
                  float(max(Z[c], 0) - Z[c] * Y[c] + np.log1p(np.exp(-abs(Z[c]))))) for c in cells]
    else:                                  # −Σ y log a: only the cells whose target is not 0
        terms = [((lambda first, c=c: f"{number(Y[c], 'Y', c)}·log {number(A[c], f'A{L}', c)}"),
                  float(Y[c] * np.log(A[c]))) for c in cells if Y[c] != 0]
    text, total = written_sum(terms)
    sign = "−" if spec.loss == "categorical_crossentropy" else ""
    result = -total / d if sign else total / d
    lines.line("loss", (), LOSS_WORDS[spec.loss].format(d=f"{d:g}"), f"{sign}({text}) / {d:g}",
               result)


def dz_line(lines, spec, rec, before, Y, l, L, j, table):
    """dZ_l[0, j]: the output layer's from the loss, a hidden layer's from the layer above."""
    g = spec.activations[l - 1]
    Z, A = rec[f"Z{l}"], rec[f"A{l}"]
    m = Z.shape[1]
    d = loss_divisor(spec.loss, spec.reduction, TORCH, Z.shape[0], m)
    a, y = number(A[0, j], f"A{l}", (0, j)), number(Y[0, j], "Y", (0, j)) if l == L else ""
    if l == L and spec.loss in ("binary_crossentropy", "categorical_crossentropy") \
            and not spec.probabilities and not spec.label_smoothing:
        lines.line(f"dZ{l}", (0, j), f"(A{l}[0,{j}] − Y[0,{j}]) / {d:g}",
                   f"({a} − {y}) / {d:g}",
                   float((A[0, j] - Y[0, j]) / d))
        return
    if g not in DERIVATIVES or (l == L and spec.loss != "mse"):
        lines.heading(f"dZ{l}: {g}'s derivative with loss {spec.loss} is not written out here")
        return
    words, substituted, reads = DERIVATIVES[g]
    derivative = float(table[g][1](Z[0:1, j:j + 1], A[0:1, j:j + 1])[0, 0])
    at = signed(A[0, j], f"A{l}", (0, j)) if reads == "A" else signed(Z[0, j], f"Z{l}", (0, j))
    slope, words = substituted.format(v=at), words.format(l=l, j=j)   # g'(Z) as textbooks write it
    if l == L:
        upstream, text = 2 * (A[0, j] - Y[0, j]) / d, f"2 ({a} − {y}) / {d:g}"
        formula = f"2 (A{l}[0,{j}] − Y[0,{j}]) / {d:g} · {words}"
    else:
        W, dZ = before[f"W{l + 1}"], rec[f"dZ{l + 1}"]
        text, upstream = products(f"W{l + 1}@before", W, lambda k: (k, 0),
                                  f"dZ{l + 1}", dZ, lambda k: (k, j), W.shape[0])
        text = f"({text})"
        formula = f"(Σₖ W{l + 1}[k,0]·dZ{l + 1}[k,{j}]) · {words}"
    lines.line(f"dZ{l}", (0, j), formula, f"{text} · {slope}", float(upstream) * derivative)


def update_lines(lines, spec, rec, before, L):
    """W_l[0,0] and b_l[0] after step 1: plain SGD and SGD with momentum (the buffer starts at 0,
    so v = μ·0 + g) substituted; any other rule named, with the numbers before and after."""
    from .trace import update_formula

    lines.heading("update")
    sgd = (spec.optimizer == "sgd" and not spec.nesterov and not spec.dampening
           and not spec.weight_decay and not spec.l1 and not spec.l2 and spec.clip_norm is None
           and spec.clip_norm_per_tensor is None and spec.clip_value is None)
    for l in range(1, L + 1):
        for p in (f"W{l}", f"b{l}"):
            old, grad = before[p][0, 0], rec[f"d{p}"][0, 0]
            start, gradient = number(old, p + "@before", (0, 0)), signed(grad, "d" + p, (0, 0))
            if sgd and not spec.momentum:
                lines.line(p, (0, 0), f"{p}[0,0] − lr·d{p}[0,0]",
                           f"{start} − {spec.lr:g}·{gradient}", float(old - spec.lr * grad),
                           sign="←")
            elif sgd:
                lines.line(p, (0, 0), f"{p}[0,0] − lr·(μ·v + d{p}[0,0])   (v: the momentum "
                           f"buffer, 0 before step 1)",
                           f"{start} − {spec.lr:g}·({spec.momentum:g}·0 + {gradient})",
                           float(old - spec.lr * (spec.momentum * 0.0 + grad)), sign="←")
            else:
                lines.heading(f"{update_formula(p, spec)}: from {DIGITS.format(float(old))} with "
                              f"gradient {DIGITS.format(float(grad))} to "
                              f"{DIGITS.format(float(rec[p][0, 0]))} "
                              f"(recorded; not substituted for this optimizer)")
