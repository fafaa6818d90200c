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
"""
from ..engine import registry
from .boundary import Boundary


class UserImplementation:
    name = "mine"
    convention = "own"            # 'own', or 'torch' / 'keras' when the code follows that framework's rules
    settings = {}                 # Spec fields the user's code fixes (its own optimizer and loss), applied
                                  # to the references it is compared with
    vocabulary = {}               # our tensor name -> the user's name for it ('dW1' -> 'nabla_w[0]')
    notes = {}                    # tensor or group -> how it is compared ('dZ': 'divided by m ...')
    origin = None                 # 'file.py:line' where it was declared

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
