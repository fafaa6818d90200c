"""What every adapter is: a UserImplementation, which the registry and the harness take like a
built-in implementation (compare/engine/registry.py has the protocol).

A subclass sets `name` and `convention`, may infer the network (`network`), may bring its own
initial weights (`initial_params`), and builds the object that runs steps (`build`). Layouts the
user's code keeps (one example per column or per row, W (out, in) or (in, out), bias shapes,
labels one-hot or integer) are described by a compare.engine.convert.Layout and converted there,
in the one conversion module, never here.

Conventions a user may differ on, and what the adapter does:
    batch_mean 'in_dZ'  dZ_L = (A_L - Y) / m, as scratch, torch and Keras compute it
               'in_dW'  dZ_L = A_L - Y and dW = dZ A^T / m, db = sum(dZ) / m (most blog code):
                        every dZ is compared after dividing by m (reported as such, never as an error)
    update     'own'    the user's code updates the parameters (its W, b after the step are compared)
               'spec'   the user's code leaves the update to the spec's optimizer (scratch/optimizers.py,
                        in the convention given)
    weights    'spec'   the harness's initial weights are copied into the user's code (default)
               'mine'   the user's own init is run once and copied out to everyone else

Every call into the user's code goes through a door (`door(seed)`, boundary.py): an exit or a
BaseException becomes the implementation's failure, a closed stdout is put back, the global
generators are seeded from the run's seed. What the code returns is checked in values.py.

A framework model (torch_module, keras_model) is read into the harness's layer list
(compare/engine/layers.py) by `read_network`: each layer the model runs, in the order it runs, as
(the user's name for it, the Layer), so a message names the user's layer ('0 (Linear)', "layer
'dense_1' (Dense)") and the settings as written.
"""
import re

import numpy as np

from ..engine import registry
from ..engine.errors import InputError
from ..engine.layers import Activation, Dense, Network, channels
from .boundary import Boundary


def read_network(n_in, read, input_shape=None):
    """The Network of `read` = [(where, Layer)] in the order the layers run, validated; a list the
    harness cannot build is one line naming the user's layer ('layer 3' of the list becomes the
    user's name for it). -> Network"""
    layers = tuple(layer for _, layer in read)
    if layers and isinstance(layers[-1], Dense):              # a last Dense's output is A_L too (Spec does the same)
        layers += (Activation("linear"),)
    network = Network(int(n_in), layers, tuple(input_shape) if input_shape else None)
    try:
        return network.validate()
    except InputError as error:
        text = str(error)
        match = re.match(r"layer (\d+) \(", text)
        if match and 0 < int(match[1]) <= len(read):
            text = f"{read[int(match[1]) - 1][0]}: {text}"
        elif "after the last Dense" in text:
            text = f"{next(w for w, l in reversed(read) if not type(l).__name__ in ('Dense', 'Activation'))}: {text}"
        raise InputError(text) from None


def block_names(network, where, frameworks_words, shown=None):
    """{our tensor name: the user's name for it}: 'W2' -> '2.weight', 'mean1' -> '1.running_mean',
    'N1' -> 'output of 1 (BatchNorm1d)' (a block's A: its last layer's output). where: the user's
    name of each layer, in list order; shown: how a message names each (default: where);
    frameworks_words: {role: the framework's attribute}."""
    out = {}
    for placed, name, words in zip(network.placed, where, shown or where):
        for role in [*placed.layer.params(placed.n_in), *placed.layer.state(placed.n_in)]:
            out[placed.name(role)] = f"{name}.{frameworks_words[role]}"
        if placed.layer.role:
            out[placed.name(placed.layer.role)] = f"output of {words}"
    return out


def batch_norm_notes(network, where, words):
    """{'var<l>': how it is compared} for each BatchNorm: the running variance's rule
    (compare/engine/running.py), said where the user reads the check. words: this framework's."""
    return {p.name("var"): (f"{name} {words}; against a run of the other framework's convention it is "
                            f"compared as the batch variance it folded in (compare/engine/running.py)")
            for p, name in zip(network.placed, where) if p.layer.state(p.n_in)}


def dense_params(params, l):
    """Block l's initial (W (out, in), b (out, 1)) in the scratch layout, from [(W, b)] or {'W1': ..}."""
    if isinstance(params, dict):
        return params[f"W{l}"], params.get(f"b{l}")
    return params[l - 1]


def initial_norm(params, placed):
    """A norm's initial (gamma, beta) as (n,) arrays: the harness's when it hands them ({'gamma1': ..}),
    else 1 and 0, both frameworks' own init."""
    n = channels(placed.n_in)                    # on images: one per channel
    if isinstance(params, dict) and placed.name("gamma") in params:
        return (np.asarray(params[placed.name("gamma")], np.float64).reshape(n),
                np.asarray(params[placed.name("beta")], np.float64).reshape(n))
    return np.ones(n), np.zeros(n)


class UserImplementation:
    name = "mine"
    convention = "own"            # 'own', or 'torch' / 'keras' when the code follows that framework's rules
    settings = {}                 # Spec fields the user's code fixes (its own optimizer and loss), applied
                                  # to the references it is compared with
    vocabulary = {}               # our tensor name -> the user's name for it ('dW1' -> 'nabla_w[0]')
    notes = {}                    # tensor or group -> how it is compared ('dZ': 'divided by m ...')
    origin = None                 # 'file.py:line' where it was declared
    holds_weights = False         # a framework model holding its weights (a port's are compared with
                                  # the original's under --weights mine: check.port_weights)

    @property
    def label(self):
        """The name in messages: the one given, else 'mine' (never None)."""
        return self.name or "mine"

    @property
    def events(self):
        """What the doors to this code had to put back (a closed sys.stdout, ...), in words."""
        return self.__dict__.setdefault("_events", [])

    def door(self, seed):
        """A Boundary to this code (boundary.py), its generators seeded from `seed`."""
        return Boundary(seed, self)

    def network(self):
        """Spec fields read from the user's code (sizes, activations, loss, ...), or {}."""
        return {}

    def initial_params(self, spec):
        """The user's own initial weights [(W (n_l, n_{l-1}), b (n_l, 1)), ...] in the scratch layout,
        or None when the code has no init of its own."""
        return None

    def build(self, spec, params, convention):
        """-> an object with step(X, Y) -> {tensor name: array in the scratch layout} (and predict(X)
        -> (n_L, E), if the code can predict). params: [(W, b)] scratch layout, already copies."""
        raise NotImplementedError

    def entry(self):
        """The registry entry the harness runs."""
        return registry.Entry(self.name, (self.convention,), build=self.build, settings=dict(self.settings),
                              description=type(self).__name__, origin=self.origin,
                              vocabulary=dict(self.vocabulary), notes=dict(self.notes))
