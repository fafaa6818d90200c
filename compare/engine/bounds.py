"""The magnitudes that produced a tensor: what a near-zero tensor's error is measured against.

check.py measures a tensor's error against its own scale, max|x|. That is the rounding bound of
a tensor whose terms do not cancel as a whole: a sum of products rounds by at most about
K * 2^-53 * sum_k |a_k| |b_k|, and without cancellation sum_k |a_k| |b_k| is of the order of
|sum_k a_k b_k| itself. When a whole tensor is the small difference of large terms, its rounding
error is still that of the terms, not of the difference: a network that memorises its batch
has A_L = 1 - 1e-12 for Y = 1, so dZ_L = (A_L - Y) / m carries an absolute error of about
2^-53 * (|A_L| + |Y|) / m, 1e-4 of its own value, and every gradient, optimizer state and
update that is computed from it inherits that error. The same holds for the loss (a log of a
probability next to 1 rounds by about 2^-53 absolute, and log-sum-exp by 2^-53 * |z|), and for
the sums over the batch at a stationary point (dW = sum_j dZ_j A_j^T cancels across examples).

The rule: a tensor's allowed absolute error is rtol times the larger of its own scale and P,
the magnitude of the terms that produced it, propagated through the step the way the standard
first-order error bound is (|fl(a op b) - a op b| <~ eps * (|a| + |b|) for a sum, and the error
of an input carried through |f'|):

    Z_l      |W_l| |A_{l-1}| + |b_l|                  (W_l, b_l at the start of the step; A_0 = X)
    A_l      |g'(Z_l)| P(Z_l) + |A_l|                  (an elementwise activation g)
    loss     per example (1 + sum_k |Y_k|) (1 + max_k max(|Z_L,k|, |A_L,k|)), the largest
             (a mean) or summed (reduction 'sum'): the log-sum-exp, log and square terms
    dZ_L     c (|A_L| + |Y|), where dZ_L = c (A_L - Y): the cross-entropies fused with their
             sigmoid or softmax (c = 1 / divisor), read from probabilities, and mse
             (c = 2 |g'(Z_L)| / divisor); other losses: |dZ_L| (no allowance)
    dZ_l     (|W_{l+1}|^T P(dZ_{l+1})) |g'(Z_l)| / (1 - dropout rate)  (block l: Dense, an elementwise
             g, then dropout; another block, a norm in it, gets none)
    dW_l     P(dZ_l) |A_{l-1}|^T (+ 2 l2 |W_l| + l1)
    db_l     sum over the batch of P(dZ_l)   (P(dZ_l) unknown, a norm after the Dense: |dZ_l|, the
             sum's own terms: a bias before batch norm has db_l = 0 but for rounding)
    W_l, b_l |before| + k |after - before|, k = P(gradient) / max|gradient| (>= 1): an update
             inherits its gradient's amplification (SGD's is linear in it; Adam's m / sqrt(v)
             carries m's relative error)
    W_l.<s>  |the state before| + 2 k |the state| (a state of squares doubles a relative error)
    lr       the spec's initial rate (a schedule recomputes the rate from it)

P is taken elementwise from the pair's own records (a name either side gives; the smaller
magnitude where both do, so a side wrong by a large factor cannot widen its own allowance) and
reduced to its largest element, as the tensor's own scale is: the judgement stays tensor-level. Where a tensor's
production is not known here (a normalization layer's tensors and what is computed through one, a
softmax hidden layer, the pointwise losses other than mse, running statistics, the accuracy), or
an input to it is missing, P is its own scale: no allowance, the plain rule.

What it keeps: P >= the tensor's own scale in every case, so no tensor is judged more loosely
than its terms' rounding allows; a tensor that is small because its terms are small (small
inputs, a small learning rate) has P of its own size, and a factor of m in it fails as before.
What it gives up: a tensor below rtol * P carries no information at that tolerance (a loss of
1e-12 next to terms of 1 can be wrong by a factor of 8 and pass that step); such a formula error
shows in the steps before training drove the values there. P is computed only for a tensor near
or past the tolerance by the plain rule (near_zero, REVIEW), so a run that agrees costs nothing more.

Float32 convolutions and pooling: a tensor of a block that holds one is also held to B, the
rounding bound of the sums that produced it carried through the step from their accumulation
lengths (k k C for a conv output, m Ho Wo for its dW and db, F k k / s^2 for its dX), wherever B is
the tighter (compare/engine/bounds32.py, accumulation_bounds below; docs/judgement.md).

Left out: the drift of two trajectories (Adam carries a tiny gradient's rounding into the
parameters amplified by up to lr / eps; over many steps that can exceed the tolerance, and it is
reported at the first forward tensor it reaches); normalization layers (see above).
"""
import numpy as np

from scratch.activations import activation_table
from scratch.conventions import TORCH, as_convention
from scratch.losses import FUSED_ACTIVATION, loss_divisor

from . import names

PROPORTIONAL = tuple(FUSED_ACTIVATION) + ("mse",)     # dZ_L = c (A_L - Y) for these losses


def magnitude(value):
    """|value| as float64, or None for what is not an array of real numbers."""
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "fiu":
            return None
        return np.abs(array.astype(np.float64, copy=False))
    except Exception:                                   # noqa: BLE001 - a user's odd value: no allowance
        return None


class Production:
    """P of the tensors of one pair's step (see the module docstring), computed on demand.

    records: the pair's two step records (scratch layout); before: the parameters each side
    started the step from ({name: array}); previous: the two sides' records of the step before
    (None at step 1); X, Y: the batch's inputs and targets in columns (n, m)."""

    def __init__(self, spec, convention, records, before, previous, X, Y):
        self.spec, self.records, self.before, self.previous = spec, records, before, previous or ()
        self.X, self.Y = magnitude(X), magnitude(Y)
        self.convention = as_convention(convention, default=TORCH)      # an implementation's own: torch's
        self.table = activation_table(self.convention, spec.slope)
        self.L, self.cache = spec.n_layers, {}
        self.resynced = False               # the two sides started the step equal (production_of)

    def value(self, name):
        """|name| as either side gives it (the smaller where both do: a side that is wrong by a
        large factor cannot widen its own allowance), or None."""
        found = [magnitude(r[name]) for r in self.records if name in r]
        found = [f for f in found if f is not None]
        if not found:
            return None
        if len(found) == 2 and found[0].shape == found[1].shape:
            return np.minimum(*found)
        return found[0]

    def started(self, name):
        """|name| at the start of the step (the larger of the two sides), or None."""
        found = [magnitude(b[name]) for b in self.before if name in b]
        found = [f for f in found if f is not None]
        if len(found) == 2 and found[0].shape == found[1].shape:
            return np.maximum(*found)
        return found[0] if found else None

    def scale(self, name):
        """max P(name), or None where it is not known (then the tensor's own scale rules)."""
        P = self.P(name)
        if P is None or P.size == 0:
            return None
        top = float(np.max(P))
        return top if np.isfinite(top) else None

    def P(self, name):
        if name not in self.cache:
            try:
                with np.errstate(all="ignore"):
                    self.cache[name] = self.produce(names.parse(name))
            except Exception:                           # noqa: BLE001 - shapes that do not fit: no allowance
                self.cache[name] = None
        return self.cache[name]

    def activation_slope(self, l):
        """|g_l'(Z_l)| for an elementwise activation g_l, else None."""
        g_name = self.spec.activations[l - 1]
        g_grad = self.table.get(g_name, (None, None))[1]
        Z, A = self.records_value(f"Z{l}"), self.records_value(f"A{l}")
        if g_grad is None or Z is None or A is None or not self.plain_block(l):
            return None
        return np.abs(g_grad(Z, A))

    def plain_block(self, l):
        """Whether block l is Dense, activation (then dropout), the shape the allowances above are
        derived for; another (a norm, dropout before the activation, a new kind) gets none."""
        kinds = [p.layer.kind for p in self.spec.network.placed if p.block == l]
        return kinds in (["dense", "activation"], ["dense", "activation", "dropout"])

    def records_value(self, name):
        """name's signed value from the first side that gives it (for g'(Z, A)), or None."""
        for r in self.records:
            if name in r:
                return np.asarray(r[name], dtype=np.float64)
        return None

    def input_of(self, l):
        """|A_{l-1}| (|X| for the first layer)."""
        return self.X if l == 1 else self.value(f"A{l - 1}")

    def produce(self, t):
        kind, l = t.kind, t.layer
        own = self.value(str(t))
        if own is None:
            return None
        if t.state:
            return self.state(t, own)
        if kind == "lr":
            return np.maximum(own, abs(float(self.spec.lr)))
        if kind == "loss":
            return self.loss(own)
        if kind == "Z":
            W, b, A = self.started(f"W{l}"), self.started(f"b{l}"), self.input_of(l)
            if W is None or A is None:
                return None
            return W @ A + (b if b is not None else 0.0)
        if kind == "A":
            slope, PZ = self.activation_slope(l), self.P(f"Z{l}")
            return None if slope is None or PZ is None else slope * PZ + own
        if kind == "dZ":
            return self.output_gradient() if l == self.L else self.hidden_gradient(l)
        if kind in ("dW", "db"):
            PdZ = self.P(f"dZ{l}")
            if PdZ is None and kind == "db":             # dZ_l's production unknown (a norm after the Dense):
                PdZ = self.value(f"dZ{l}")               # the sum's terms, dZ_l as computed
            if PdZ is None:
                return None
            if kind == "db":
                P = PdZ.sum(axis=1, keepdims=True)
                return P + self.penalty(f"b{l}") if self.spec.regularize_biases else P
            A = self.input_of(l)
            return None if A is None else PdZ @ A.T + self.penalty(f"W{l}")
        if kind in ("W", "b"):
            start = self.started(str(t))
            if start is None or start.shape != own.shape:
                return None
            return start + self.amplification(f"d{t}") * self.update(str(t))
        return None                                     # N, dN, gamma, beta, their gradients, mean, var

    def loss(self, own):
        Y, L = self.Y, self.L
        Z, A = self.value(f"Z{L}"), self.value(f"A{L}")
        if Y is None or A is None or A.shape != Y.shape:
            return None
        top = np.maximum(A, Z) if Z is not None and Z.shape == A.shape else A
        per_example = (1.0 + Y.sum(axis=0)) * (1.0 + top.max(axis=0))
        return np.array(per_example.sum() if self.spec.reduction == "sum" else per_example.max())

    def output_gradient(self):
        spec, L, Y = self.spec, self.L, self.Y
        A = self.value(f"A{L}")
        if spec.loss not in PROPORTIONAL or Y is None or A is None or A.shape != Y.shape:
            return None
        n, m = A.shape
        c = 1.0 / loss_divisor(spec.loss, spec.reduction, self.convention, n, m)
        if spec.loss == "mse":
            slope = self.activation_slope(L)
            if slope is None:
                return None
            c = 2.0 * c * slope
        return c * (A + Y)

    def hidden_gradient(self, l):
        W, PdZ, slope = self.started(f"W{l + 1}"), self.P(f"dZ{l + 1}"), self.activation_slope(l)
        if W is None or PdZ is None or slope is None:
            return None
        rate = self.spec.dropout_rates[l - 1] if l - 1 < len(self.spec.dropout_rates) else 0.0
        return (W.T @ PdZ) * slope / (1.0 - rate)

    def penalty(self, param):
        """The L1/L2 penalty's terms in a parameter's gradient."""
        if not (self.spec.l1 or self.spec.l2):
            return 0.0
        start = self.started(param)
        return 0.0 if start is None else 2.0 * abs(self.spec.l2) * start + abs(self.spec.l1)

    def amplification(self, gradient):
        """k = max P(gradient) / max|gradient| (>= 1): how much larger its terms are than itself."""
        own, P = self.value(gradient), self.P(gradient)
        if own is None or P is None or own.size == 0:
            return 1.0
        top = float(own.max())
        return max(1.0, float(P.max()) / top) if top > 0 else 1.0

    def update(self, name):
        """|after - before| of a parameter, the smaller of the two sides' where both give it."""
        moves = [np.abs(np.asarray(r[name], dtype=np.float64) - np.asarray(b[name], dtype=np.float64))
                 for r, b in zip(self.records, self.before) if name in r and name in b]
        moves = [m for m in moves if m.shape == moves[0].shape]
        return np.minimum.reduce(moves)

    def state(self, t, own):
        """An optimizer state of a parameter: its value before the step plus twice its gradient's
        amplification times its value now."""
        earlier = [magnitude(r[str(t)]) for r in self.previous if str(t) in r]
        earlier = [e for e in earlier if e is not None and e.shape == own.shape]
        start = np.maximum.reduce(earlier) if earlier else 0.0
        return start + 2.0 * self.amplification(f"d{t.param}") * own


# P is looked at for a tensor whose plain error is above REVIEW * rtol: in float64 three orders
# below the tolerance (an agreeing run's errors sit near 1e-13 and cost nothing), so the worst
# errors reported are measured the same way as the verdict; in float32 only for a tensor that
# fails (each resynced step's errors sit within an order or two of the tolerance by design).
REVIEW = {"float64": 1e-3, "float32": 1.0}


def near_zero(errors, rtol, production, dtype="float64"):
    """Measure the tensors near or past the tolerance against P as well: a TensorError whose P is
    larger than its own scale has its max_rel measured against P (P kept in `produced`), so every
    later use of max_rel (the verdict, the worst errors, the report) sees the same judgement.
    In float32 the tensors of a convolution's or a pooling's block are also held to B, their
    rounding bound from the accumulation lengths (compare/engine/bounds32.py), where B is the
    tighter: measured against B / rtol, they pass exactly when max_abs <= B.
    production: a callable giving the step's Production, called only when a tensor needs it."""
    built, review = None, rtol * REVIEW.get(dtype, 1.0)
    for e in errors:
        if not (e.finite and e.shape_ok) or e.max_rel <= review or e.name == "accuracy":
            continue
        if built is None:
            built = production()
        P = built.scale(e.name)
        own = e.max_abs / e.max_rel if e.max_rel > 0 else 0.0
        if P is not None and P > own:
            e.max_rel, e.produced = e.max_abs / P, P
    if dtype == "float32":
        try:
            accumulation_bounds(errors, rtol, built or production())
        except Exception:                               # noqa: BLE001 - records that do not fit: the plain rule
            pass
    return errors


def accumulation_bounds(errors, rtol, built):
    """float32: each tensor of an image block (not a max-pool tie's moved gradient) that passes
    the rule above is held to B as well, bounds32's bound from the accumulation lengths, where B
    is the tighter (a tensor past the rule above fails whatever B says, and keeps its message)."""
    from . import bounds32

    blocks = bounds32.image_blocks(built.spec)
    judged = [e for e in errors if e.finite and e.shape_ok and not e.tied and e.name != "accuracy"
              and e.max_rel <= rtol and names.layer(e.name) in blocks]
    if not judged:
        return
    found = bounds32.Float32Bounds(built)
    for e in judged:
        B = found.bound(e.name)
        if B is None or B <= 0:
            continue
        scale = e.produced or (e.max_abs / e.max_rel if e.max_rel > 0 else np.inf)
        if B < rtol * scale:                            # B is the tighter: judged by it
            e.max_rel, e.produced = e.max_abs * rtol / B, B / rtol


def production_of(spec, pair, runners, records, previous, initial, X_rows, Y_columns):
    """The Production of a pair's step, from what the harness holds."""
    from . import convert
    from .judge import before_step

    keys = (pair.ours, pair.theirs)
    before = before_step(previous, records, initial)
    earlier = tuple(previous[k] for k in keys if previous and k in previous)
    built = Production(spec, runners[pair.ours].convention, tuple(records[k] for k in keys),
                       tuple(before.get(k, {}) for k in keys), earlier, convert.rows_to_batch(X_rows),
                       Y_columns)
    # a float32 reference restarts each step from its subject's state (harness.resync): the two
    # sides of such a pair started the step equal, whatever their records of the step before say
    built.resynced = bool(spec.resync_each_step and pair.kind == "subject"
                          and hasattr(runners[pair.theirs].implementation, "resync"))
    return built
