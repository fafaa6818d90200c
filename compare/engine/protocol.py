"""What an implementation is to the harness: every method the lockstep loop calls on one, when,
and with which shapes and layouts. The built-ins (compare/implementations: scratch, torch,
Keras), the adapters' runs (compare/adapters: a user's functions, class, torch module or Keras
model) and anything registered by hand (compare/engine/registry.py) all follow it;
tests/test_protocol.py checks that they do, and that the harness calls nothing it does not name.

    build(spec, params, convention) -> Implementation        registry.Entry.build, once per runner
    Implementation.step(X, Y) -> record                       required, once per step
    Implementation.predict / set_masks / end_epoch / resync / restore    optional

An optional method is asked for with hasattr before each use: an implementation without it is
simply not asked (no test accuracy without predict, no dropout without set_masks, ...). Each
method's docstring below says when the harness calls it.

Layouts: the batch is handed as the frameworks hold it, one example per ROW; everything handed
back, and every mask, is in the scratch layout, one example per COLUMN, W (n_l, n_{l-1}),
b (n_l, 1) (compare/engine/convert.py does the layout changes; compare/engine/names.py names the
tensors; compare/engine/layers.py says which layers give which). A user's implementation is
called through guard.Guarded (its own copies of every input, checked after each call; real
numbers only), a built-in in the worker process through worker.RemoteImplementation: both answer
hasattr exactly as the implementation does.

Left out: how a user's code becomes an implementation (compare/adapters), the harness's side
(compare/engine/harness.py, lanes.py). A `missing` attribute ({tensor: why not given}) that some
adapters' runs set is read by nothing: the report's reasons for a tensor not compared are the
harness's own (judge.not_compared: which side gives it).
"""
from typing import Any, Protocol, runtime_checkable

import numpy as np


class Builder(Protocol):
    """registry.Entry.build: called once per runner, before the first step (the worker process
    builds its runners the same way)."""

    def __call__(self, spec: Any, params: list, convention: str) -> "Implementation":
        """spec: compare.Spec (the network as a layer list, spec.network; loss, optimizer, dtype ...),
        with the runner's own settings applied. params: [(W1, b1), ..., (WL, bL)], W_l (n_l, n_{l-1}),
        b_l (n_l, 1), NumPy in spec.dtype: this runner's own copy of the one set of initial
        weights every implementation starts from. convention: the conventions to follow where
        frameworks differ ('torch' or 'keras'; one of the entry's `conventions`)."""


@runtime_checkable
class Stepping(Protocol):
    """The one method every implementation has (`REQUIRED`)."""

    def step(self, X: np.ndarray, Y: np.ndarray) -> dict:
        """One training step on the batch, once per step, in step order.
        X (m, n_0), Y (m, n_L): the batch, one example per ROW; read, never changed (shared with
        the other implementations). -> {tensor name: array} in the scratch layout, any subset of
        the names of compare/engine/names.py (Z1, A1, ..., loss, dZ1, dW1, db1, W1, b1 after the
        update, 'W1.<state>', running statistics); the harness compares exactly what two records
        both give. The arrays may be the implementation's own (they are read before the next step)."""


class Implementation(Stepping, Protocol):
    """The whole protocol: `step`, and the optional methods (`OPTIONAL`)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs, without training: after each epoch on the test set (test
        accuracy) and once at the end on the evaluation inputs (the report's final outputs).
        X (E, n_0), rows; read, never changed. -> (n_L, E), the scratch layout."""

    def set_masks(self, masks: dict) -> None:
        """This step's dropout masks, drawn once by the harness for everyone (compare/engine/masks.py),
        called before each `step` of a spec with dropout. masks: {block l: (n_l, m) of 1.0 (kept)
        and 0.0 (dropped)}, scratch layout, spec.dtype; read, never changed. Each implementation
        scales by its own framework's rule."""

    def end_epoch(self, mean_loss: float) -> None:
        """An epoch is over (called before the next epoch's first step, not after the last one):
        a per-epoch learning-rate schedule moves. mean_loss: this implementation's own mean
        training loss over the epoch, weighted by batch size (what the plateau schedule reads)."""

    def resync(self, record: dict) -> None:
        """float32 runs (spec.resync_each_step): after each judged step, a reference restarts from
        its subject's state, so that each step is judged on its own, not on two float32 runs'
        drift. record: the subject's step record (scratch layout); take its W, b, optimizer state
        and running statistics."""

    def restore(self, record: dict) -> None:
        """Take back this implementation's own state after an earlier step (its own record of that
        step, scratch layout): the worker process (worker.py) runs one step ahead, and a run that
        stops early undoes that step before the final evaluation. Needed only in the worker."""


REQUIRED = ("step",)
OPTIONAL = ("predict", "set_masks", "end_epoch", "resync", "restore")
NAMES = (*REQUIRED, *OPTIONAL)


def lacks(implementation):
    """The required methods an object does not have (as callables). -> [name]"""
    return [name for name in REQUIRED if not callable(getattr(implementation, name, None))]


def optional(implementation):
    """The optional methods an object has (hasattr, as the harness asks). -> [name]"""
    return [name for name in OPTIONAL if hasattr(implementation, name)]
