"""BatchNorm's running variance across conventions: the rule by which a judged pair of a torch run
and a Keras run compares var_l.

Both start at 1 and, each training step, fold in the batch's variance s² of every unit (m examples;
on images every channel, m H W numbers: m is that count below):

    torch   running_var     = (1 - μ) running_var + μ · s² · m / (m - 1)     μ: torch's momentum
    Keras   moving_variance = ρ moving_variance + (1 - ρ) · s²               ρ: Keras's momentum

torch folds in the UNBIASED variance, Keras the biased one (scratch/conventions.py
'batchnorm-running-variance'), so the two running variances are never equal, whatever the settings,
and comparing them as they are would fail every correct port. Each implies the batch variance it
folded in this step:

    s² = (var_t - (1 - μ) var_{t-1}) · (m - 1) / (m · μ)       from torch's
    s² = (var_t - ρ · var_{t-1}) / (1 - ρ)                     from Keras's

(var_{t-1}: the side's own record of the step before, 1 at the first step), and those must agree
to the pair's tolerance like any tensor. So var_l of such a pair is compared as that s² (the error
keeps the name var_l); it is never dropped, and never held to a wider tolerance. A side whose
momentum is 0 folds in nothing (s² unknown): its var is compared as it is. Pairs of one convention
(scratch@keras vs Keras, a user's torch model vs torch) compare var as it is.

Left out: a side restarted from another's state between two steps (a float32 resync: only
references are resynced, and a reference~reference pair of two conventions is never judged).
"""
import numpy as np

from scratch.conventions import as_convention

from .check import cmp
from .conventions import is_convention
from .layers import BatchNorm
from . import names


def differ_in_variance(convention_a, convention_b):
    """Whether two sides' conventions (both scratch/conventions.py's) store different running variances."""
    if not (is_convention(convention_a) and is_convention(convention_b)):
        return False
    return as_convention(convention_a).running_var_unbiased != as_convention(convention_b).running_var_unbiased


def folded(var, before, momentum, convention, m):
    """The batch variance (n, 1) a running variance implies it folded in, by the convention's rules
    (norm_momentum_weights_new, running_var_unbiased); None at a momentum that folds in nothing (or a
    batch of 1, where torch's unbiased variance is undefined)."""
    convention = as_convention(convention)
    var, before = np.asarray(var, dtype=np.float64), np.asarray(before, dtype=np.float64)
    keep, new = (1.0 - momentum, momentum) if convention.norm_momentum_weights_new else (momentum, 1.0 - momentum)
    if not new or convention.running_var_unbiased and m < 2:
        return None
    if convention.running_var_unbiased:
        return (var - keep * before) * (m - 1) / (m * new)
    return (var - keep * before) / new


def momenta(spec, convention):
    """{block: the BatchNorm's momentum in `convention`'s own meaning} of a runner's network."""
    return {p.block: p.layer.settings(convention)["momentum"] for p in spec.network.of_kind(BatchNorm)}


def positions(spec, block):
    """How many numbers of each example a block's BatchNorm averages per channel: H W on images
    (BatchNorm2d's statistics are over N, H and W: its unbiased variance takes m H W - 1), 1 on
    units."""
    shape = next((p.n_in for p in spec.network.of_kind(BatchNorm) if p.block == block), None)
    return int(np.prod(shape[1:])) if isinstance(shape, tuple) else 1


def rejudge(errors, pair, runners, records, previous):
    """The pair's [TensorError] with each var_l compared by the rule above when the pair is judged
    and its two sides follow torch's and Keras's conventions; the list as it is otherwise."""
    ours, theirs = runners[pair.ours], runners[pair.theirs]
    if not pair.judged or not differ_in_variance(ours.convention, theirs.convention):
        return errors
    out = []
    for error in errors:
        parsed = names.parse(error.name) if error.name not in ("accuracy",) else None
        if parsed is None or parsed.kind != "var" or not error.shape_ok:
            out.append(error)
            continue
        implied = []
        for runner, key in ((ours, pair.ours), (theirs, pair.theirs)):
            record = records[key]
            m = int(np.shape(record[f"Z{parsed.layer}"])[1]) if f"Z{parsed.layer}" in record else 0
            m *= positions(runner.spec, parsed.layer)      # a channel's numbers: m H W on images
            before = (previous or {}).get(key, {}).get(error.name)
            before = np.ones(np.shape(record[error.name])) if before is None else before
            momentum = momenta(runner.spec, runner.convention).get(parsed.layer)
            implied.append(None if momentum is None else
                           folded(record[error.name], before, momentum, runner.convention, m))
        if any(value is None for value in implied):
            out.append(error)
            continue
        out.append(cmp(error.name, implied[0], implied[1]))
    return out
