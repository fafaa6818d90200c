"""Prove a translation: torch's reference with the torch settings and Keras's with the Keras
settings, trained in lockstep from one set of initial weights on the same batches, every tensor
judged at the spec's tolerance (float64: 1e-9), every step.

    proof = prove(translation, data)           # -> Proof: passed, worst relative error, its step

The two references are the harness's two *subjects*, each with its own settings (plan(): pair
kind 'subjects', judged; the same mechanism as `compare check` on a user's torch model and its
Keras port). What each side computes under a rule that makes a tensor mean different things is
left out of the comparison, and said: the momentum buffers of SGD and RMSprop (the harness's
MOMENTUM_FORMS), and the loss, dW and db when torch's coupled weight decay meets Keras's L2
regularizers (Keras's include the penalty; torch adds wd p inside the optimizer). The updated
parameters, Z, A and dZ are always compared.

torch's NAdam keeps mu_product in torch's default dtype (optimizer.py _get_scalar_dtype): the
torch side of a NAdam proof runs with torch.set_default_dtype(torch.float64), and its printed code
says so.

Left out: which rule caused a failure (the translation names the rules that are not exact; the
proof measures their sum).
"""
import contextlib
from dataclasses import dataclass, field

import numpy as np

from scratch.conventions import TORCH

from . import names, registry
from .check import TOLERANCES
from .harness import lockstep

PAIR = "torch~keras"        # the pair torch <-> keras; any other: pair_key(translation)


def pair_key(translation):
    """The harness's key of the two subjects' pair, in FRAMEWORKS' order: 'torch~jax', 'keras~jax'."""
    a, b = translation.frameworks
    return f"{a}~{b}"


@dataclass
class Proof:
    passed: bool
    steps: int                  # steps run
    rtol: float
    worst_rel: float = 0.0      # the largest relative error of any compared tensor, any step
    worst_step: int = 0
    worst_tensor: str = ""
    first: dict | None = None   # the first tensor above rtol: {step, tensor, max_rel_err}
    problem: str = ""           # an exception, a non-finite value, nothing compared
    clip_acted: int | None = None   # steps in which the clipping changed torch's gradients (None: no clipping)
    not_compared: dict = field(default_factory=dict)   # tensor or group -> why
    raw: dict = field(default_factory=dict)            # the harness's output (runners: the built references)

    def to_dict(self):
        return {"passed": self.passed, "steps": self.steps, "rtol": self.rtol, "worst_rel_err": self.worst_rel,
                "worst_step": self.worst_step, "worst_tensor": self.worst_tensor, "first_above_rtol": self.first,
                "problem": self.problem, "clip_acted_steps": self.clip_acted, "not_compared": self.not_compared}


def dropped(translation):
    """{tensor group: why} a side's records leave out of the comparison under the translation's rules."""
    out = {}
    if any(row.rule == "coupled-decay-is-l2" for row in translation.rows):
        why = "torch's weight decay acts in the optimizer, Keras's L2 in the loss: they differ by design"
        out.update({"loss": why, "dW": why, "db": why})
    if any(row.rule == "amsgrad-corrected-max" for row in translation.rows):
        out["v_max"] = "AMSGrad's maximum: of the raw v in torch and Keras, of the corrected v in optax"
    if any(row.rule == "sgd-dampening" for row in translation.rows):
        out["state"] = ("the learning rate and the momentum buffers: lr (1 - d) carries torch's dampening, "
                        "its buffer holds (1 - d) g where the other's holds g")
    from scratch.conventions import as_convention

    a, b = (as_convention(f) for f in translation.frameworks)
    if translation.specs[translation.source].norm == "batch" and a.running_var_unbiased != b.running_var_unbiased:
        other = b if a.running_var_unbiased else a
        out["var"] = f"the running variance: torch stores the unbiased batch variance, {other.framework} the biased"
    return out


@contextlib.contextmanager
def torch_default_float64(on):
    """torch.set_default_dtype(torch.float64) inside, the previous default after (on=False: nothing)."""
    if not on:
        yield
        return
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class Side:
    """A reference implementation whose records leave out the groups in `drop`; counts the steps in
    which its spec's clipping acts on its gradients (torch's: what clip_grad_*_ sees)."""

    def __init__(self, implementation, spec, drop, float64_default):
        self.implementation, self.spec, self.drop, self.float64_default = implementation, spec, drop, float64_default
        self.clip_acted = 0

    def step(self, X, Y):
        with torch_default_float64(self.float64_default):
            record = self.implementation.step(X, Y)
        grads = [np.asarray(v) for n, v in record.items() if n != "loss" and names.group(n) in ("dW", "db")]
        self.clip_acted += clip_acts(self.spec, grads)
        return {n: v for n, v in record.items()
                if names.group(n) not in self.drop and n.partition(".")[2] not in self.drop}

    def predict(self, X):
        return self.implementation.predict(X)


def clip_acts(spec, grads):
    """1 if the spec's clipping changes these gradients (torch's clip_grad_norm_, which adds its
    clip_norm_eps to the norm), else 0."""
    eps = TORCH.clip_norm_eps
    if spec.clip_norm is not None:
        return int(np.sqrt(sum(float(np.sum(g * g)) for g in grads)) + eps > spec.clip_norm)
    if spec.clip_norm_per_tensor is not None:
        return int(any(np.sqrt(float(np.sum(g * g))) + eps > spec.clip_norm_per_tensor for g in grads))
    if spec.clip_value is not None:
        return int(any(np.max(np.abs(g)) > spec.clip_value for g in grads))
    return 0


def entry(framework, translation, sides):
    """A registry Entry that builds `framework`'s reference with its side of the translation."""
    reference = registry.require(framework)
    spec, drop = translation.specs[framework], dropped(translation)
    float64_default = framework == "torch" and spec.optimizer == "nadam"

    def build(run_spec, params, convention):
        sides[framework] = Side(reference.builder()(run_spec, params, framework), run_spec, drop, float64_default)
        return sides[framework]

    settings = {k: v for k, v in vars(spec).items() if v is not None and k != "fixed_params"}
    return registry.Entry(framework, (framework,), build=build, settings=settings,
                          description=f"reference/{framework}_mlp.py with the {framework} side of the translation")


def prove(translation, data, on_step=None):
    """Run both sides in lockstep for the spec's steps. -> Proof"""
    sides, key = {}, pair_key(translation)
    first, second = translation.frameworks
    torch_spec = translation.specs[first]            # the first side's spec sets the run (steps, dtype)
    subjects = [entry(first, translation, sides), entry(second, translation, sides)]
    raw = lockstep(torch_spec, data, subjects, [], on_step=on_step, cross=False, subjects_are_references=True)
    rtol = TOLERANCES[torch_spec.dtype]
    proof = Proof(False, len(raw["steps"]), rtol, raw=raw)
    proof.not_compared = {**dropped(translation), **raw["not_compared"].get(key, {})}
    for result in raw["steps"]:
        rel = result.max_rel.get(key, 0.0)
        if rel > proof.worst_rel or proof.worst_step == 0:
            proof.worst_rel, proof.worst_step, proof.worst_tensor = rel, result.step, result.worst_tensor.get(key, "")
    d = raw["first_divergence"]
    if d:
        proof.first = {"step": d["step"], "tensor": d["tensor"], "max_rel_err": d["max_rel_err"]}
    if raw.get("error"):
        e = raw["error"]
        proof.problem = f"{e['framework']} raised at step {e['step']}: {e['exception']}"
    elif raw["first_nonfinite"]:
        n = raw["first_nonfinite"]
        proof.problem = f"a non-finite value at step {n['step']} in {n['framework']}: {n['tensor']}"
    elif raw.get("interrupted"):
        proof.problem = "interrupted"
    elif not raw["judged_checked"]:
        proof.problem = "nothing was compared"
    if any(getattr(torch_spec, n) is not None for n in ("clip_norm", "clip_norm_per_tensor", "clip_value")):
        proof.clip_acted = sides[first].clip_acted if first in sides else None
    proof.passed = not proof.problem and d is None and proof.steps == torch_spec.steps
    return proof
