"""The scratch MLP (scratch/mlp.py) as an implementation: fed rows, answering in the scratch layout."""
import numpy as np

from scratch.mlp import MLP
from scratch.schedules import KerasExponential

from ..engine import convert, interrupts


def tensorflow_pow32():
    """TensorFlow's float32 pow as a function of two float32 numbers (what Keras's ExponentialDecay
    computes gamma ** t with, in a run with Keras's float32 casts), or None without TensorFlow.
    Its last bits depend on the CPU's instruction set (Eigen vectorises it per ISA: AVX2 and
    AVX-512 differ by 1-2 ulps at some t), so it is asked, not reproduced: the same kernel, on the
    machine at hand, gives Keras's bits (tests/test_schedules.py)."""
    try:
        with interrupts.held():                 # a C++ extension's import (interrupts.held)
            import tensorflow as tf
    except ImportError:
        return None

    def pow32(base, exponent):
        return tf.pow(tf.constant(base, tf.float32), tf.constant(exponent, tf.float32)).numpy()
    return pow32


class ScratchImplementation:
    def __init__(self, spec, params, convention):
        self.model = MLP(spec, params, convention)
        schedule = self.model.schedule
        if isinstance(schedule, KerasExponential) and schedule.real is np.float32:   # Keras's float32 gamma ** t
            schedule.pow32 = tensorflow_pow32()

    def step(self, X, Y):
        cache, loss, grads = self.model.train_step(convert.rows_to_batch(X), convert.rows_to_batch(Y))
        record = {name: t for name, t in cache.items() if name != "A0"}
        record["loss"] = np.asarray(loss)
        record.update(grads)
        record.update(self.model.params)
        record.update(self.model.state())                              # batch norm's running statistics
        for name, state in self.model.optimizer.state.items():
            record.update({f"{name}.{key}": value for key, value in state.items()})
        if self.model.schedule:
            record["lr"] = np.asarray(self.model.optimizer.lr)
        return record

    def set_masks(self, masks):
        """This step's dropout masks {l: (n_l, m)}, drawn by the harness (already the scratch layout)."""
        self.model.masks = masks

    def predict(self, X):
        return self.model.predict(convert.rows_to_batch(X))

    def end_epoch(self, mean_loss):
        self.model.end_epoch(mean_loss)

    def restore(self, record):
        """Take back the parameters and running statistics of an earlier step's record (a step the
        worker process ran ahead, undone before the final evaluation: compare/engine/worker.py)."""
        self.model.params = {name: record[name] for name in self.model.params}
        self.model.load_state(record)


def build(spec, params, convention="torch"):
    return ScratchImplementation(spec, params, convention if convention in ("torch", "keras") else "torch")
