"""The scratch MLP (scratch/mlp.py) as an implementation: fed rows, answering in the scratch layout."""
import numpy as np

from scratch.mlp import MLP

from ..engine import convert


class ScratchImplementation:
    def __init__(self, spec, params, convention):
        self.model = MLP(spec, params, convention)

    def step(self, X, Y):
        cache, loss, grads = self.model.train_step(convert.rows_to_batch(X), convert.rows_to_batch(Y))
        record = {name: t for name, t in cache.items() if name != "A0"}
        record["loss"] = np.asarray(loss)
        record.update(grads)
        record.update(self.model.params)
        for l, (mean, var) in self.model.running.items():               # batch norm's running statistics
            record[f"mean{l}"], record[f"var{l}"] = mean, var
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
        self.model.running = {l: (record[f"mean{l}"], record[f"var{l}"]) for l in self.model.running}


def build(spec, params, convention="torch"):
    return ScratchImplementation(spec, params, convention if convention in ("torch", "keras") else "torch")
