"""A framework reference (reference/torch_mlp.py, reference/keras_mlp.py) as an implementation:
its step records go through compare/engine/convert.py to the scratch layout, each tensor by its
role's layout and the shape its layer declares (`network`: the spec's layer list)."""
from ..engine import convert
from ..engine.names import TensorName


class ReferenceImplementation:
    def __init__(self, framework, model, network):
        self.framework, self.model, self.network = framework, model, network

    def step(self, X, Y):
        record = self.model.record(*self.model.train_step(convert.inputs_to_framework(self.framework, X, self.network),
                                                          Y))
        return convert.record_to_scratch(self.framework, record, self.network, X.shape[0])

    def set_masks(self, masks):
        """This step's dropout masks {block: (rows, m)} (scratch layout) -> the framework's layout
        (rows (m, n_l); on images a 4-D batch: convert.mask_to_framework)."""
        self.model.set_masks({l: convert.mask_to_framework(self.framework, self.network, l, mask)
                              for l, mask in masks.items()})

    def predict(self, X):
        return convert.rows_to_batch(self.model.predict(convert.inputs_to_framework(self.framework, X, self.network)))

    def end_epoch(self, mean_loss):
        """An epoch is over: a per-epoch learning-rate schedule moves (the plateau one reads the loss)."""
        self.model.end_epoch(mean_loss)

    def restore(self, record):
        """Take back an earlier step's parameters, state and running statistics (worker.py)."""
        self.resync(record)

    def resync(self, record):
        """Restart from another run's parameters and optimizer state (scratch layout)."""
        names = [n for n in record if n != "loss" and TensorName.parse(n).param]
        self.model.load_state({n: convert.from_scratch(self.framework, n, record[n], self.network) for n in names})
