"""Tensor names, one small type parsed in one place.

Every tensor an implementation hands the harness is named as in the scratch code:

    Z2, A2            forward: pre-activation and activation of layer 2     (n_l, m)
    loss              the batch loss                                         ()
    dZ2, dW2, db2     backward: gradients of the loss                        (n_l, m), (n_l, n_{l-1}), (n_l, 1)
    W2, b2            parameters after the step's update                     (n_l, n_{l-1}), (n_l, 1)
    W2.m, b1.momentum optimizer state kept for a parameter, after the step   shape of the parameter
    lr                the learning rate after the step (a schedule's)        ()
    N2                a normalization's output gamma * Zhat + beta (what g reads)   (n_l, m)
    dN2, dgamma2, dbeta2   its gradients                                      (n_l, m), (n_l, 1), (n_l, 1)
    gamma2, beta2     the normalization's scale and shift after the update  (n_l, 1)
    mean2, var2       BatchNorm's running mean and variance after the step  (n_l, 1)
    accuracy          the batch accuracy (computed by the harness)           ()

`TensorName.parse('dW2')` is the only parser; a name it does not know is an error, never
silently left out. `group` is what the report sums errors by (Z, A, loss, dZ, dW, db, params,
state, accuracy); `order` sorts names in the order the math computes them.

Left out: layers other than dense and their normalization (no convolution kernels); dropout masks
(the harness draws them and hands the same arrays to everyone: inputs, not results).
"""
import re
from dataclasses import dataclass

GROUPS = ["Z", "N", "A", "loss", "dZ", "dN", "dW", "db", "params", "state", "mean", "var", "accuracy"]
FORWARD_GROUPS = ["Z", "N", "A", "loss", "accuracy", "mean", "var"]
SECTIONS = {"Z": "forward", "A": "forward", "loss": "loss", "accuracy": "loss", "dZ": "backward",
            "dW": "backward", "db": "backward", "params": "update", "state": "optimizer state",
            "N": "forward", "dN": "backward", "mean": "running statistics", "var": "running statistics"}
# The layers' roles (compare/engine/layers.py): what each produces forward, its trainable parameters,
# what it keeps untrained, and the group a parameter's gradient is summed with in the report.
OUTPUTS = ["Z", "N", "A"]        # forward, in a block's usual order
PARAMS = ("W", "b", "gamma", "beta")
STATS = ("mean", "var")          # BatchNorm's running statistics: not trained, copied like parameters in a resync
GRAD_GROUP = {"dgamma": "dN", "dbeta": "dN"}


def pattern():
    kinds = sorted({*OUTPUTS, *PARAMS, *STATS, *("d" + r for r in (*OUTPUTS, *PARAMS))}, key=len, reverse=True)
    return re.compile(rf"^(?P<kind>{'|'.join(map(re.escape, kinds))})(?P<layer>[1-9]\d*)"
                      r"(?:\.(?P<state>[A-Za-z_]\w*))?$")


_PATTERN = pattern()


def learn(kind):
    """Learn the roles of a new layer kind (layers.layer_kind calls it): its output role becomes a
    forward group (and 'd' + it a backward one), its parameters are trained parameters whose
    gradients group with its output's, its state roles running statistics."""
    global _PATTERN, PARAMS, STATS
    role = kind.role
    if role and role not in OUTPUTS:
        after = getattr(kind, "follows_activation", False)     # pooling: P after A; a norm's N before it
        OUTPUTS.insert(OUTPUTS.index("A") + after, role)
        GROUPS.insert(GROUPS.index("A") + after, role)
        GROUPS.insert(GROUPS.index("dW"), "d" + role)
        FORWARD_GROUPS.append(role)
        SECTIONS.update({role: "forward", "d" + role: "backward"})
    for param in kind.param_roles:
        if param not in PARAMS:
            PARAMS += (param,)
            GRAD_GROUP["d" + param] = "d" + role
    for stat in kind.state_roles:
        if stat not in STATS:
            STATS += (stat,)
            GROUPS.insert(GROUPS.index("accuracy"), stat)
            FORWARD_GROUPS.append(stat)
            SECTIONS[stat] = "running statistics"
    _PATTERN = pattern()
    _PARSED.clear()


_PARSED = {}              # name -> TensorName, parsed once


class UnknownTensor(ValueError):
    """A name that is not a tensor of the network."""


@dataclass(frozen=True)
class TensorName:
    kind: str                   # Z A dZ dW db W b loss accuracy lr
    layer: int | None = None    # 1..L; None for loss and accuracy
    state: str | None = None    # optimizer state of parameter kind+layer ('m', 'v', 'momentum', ...)

    @classmethod
    def parse(cls, text):
        """'dW2' -> TensorName('dW', 2); 'W1.m' -> TensorName('W', 1, 'm'). Raises UnknownTensor."""
        if isinstance(text, TensorName):
            return text
        if type(text) is str and text in _PARSED:          # the same few dozen names, every step
            return _PARSED[text]
        parsed = cls._parse(text)
        if type(text) is str:
            _PARSED[text] = parsed
        return parsed

    @classmethod
    def _parse(cls, text):
        if text in ("loss", "accuracy", "lr"):
            return cls(text)
        match = _PATTERN.match(str(text))
        if match is None or (match["state"] and match["kind"] not in PARAMS):
            raise UnknownTensor(f"{text!r} is not a tensor name the harness knows (Z1, A1, loss, dZ1, dW1, db1, "
                                f"W1, b1, W1.<state>, lr; N1, dN1, gamma1, beta1, dgamma1, dbeta1, mean1, var1)")
        return cls(match["kind"], int(match["layer"]), match["state"])

    def __str__(self):
        if self.layer is None:
            return self.kind
        return f"{self.kind}{self.layer}" + (f".{self.state}" if self.state else "")

    @property
    def group(self):
        """What the report sums errors by: 'Z', 'A', 'loss', 'dZ', 'dW', 'db', 'params', 'state', 'accuracy'."""
        if self.state or self.kind == "lr":
            return "state"
        return "params" if self.kind in PARAMS else GRAD_GROUP.get(self.kind, self.kind)

    @property
    def section(self):
        """The part of the step it belongs to: forward, loss, backward, update, optimizer state."""
        return SECTIONS[self.group]

    @property
    def is_forward(self):
        return self.group in FORWARD_GROUPS

    @property
    def is_param(self):
        return self.kind in PARAMS and not self.state

    @property
    def param(self):
        """The parameter an optimizer state belongs to ('W1.m' -> 'W1'), or the parameter itself; a
        running statistic is its own ('var1': what a resync copies)."""
        return f"{self.kind}{self.layer}" if self.kind in PARAMS + STATS else None

    def order(self, n_layers):
        """A sort key in compute order: Z1 A1 .. ZL AL, loss, dZL dWL dbL .. dZ1 dW1 db1, W1 b1 .. WL bL,
        optimizer state, accuracy."""
        a = OUTPUTS.index("A")                          # roles after A (pooling's P) come after it
        forward = (*OUTPUTS[:a], *STATS, *OUTPUTS[a:])
        if self.kind in forward:
            return (0, self.layer, forward.index(self.kind), "")
        if self.kind == "loss":
            return (1, 0, 0, "")
        inner = [*reversed(OUTPUTS[a + 1:]), *reversed(OUTPUTS[1:a])]
        backward = tuple(name for role in inner
                         for name in ("d" + role, *(g for g, to in GRAD_GROUP.items() if to == "d" + role)))
        backward += ("dZ", "dW", "db")
        if self.kind in backward:
            return (2, n_layers - self.layer, backward.index(self.kind), "")
        if self.kind in PARAMS and not self.state:
            return (3, self.layer, PARAMS.index(self.kind), "")
        if self.state or self.kind == "lr":
            return (4, 0, 0, str(self))
        return (5, 0, 0, "")


def parse(text):
    return TensorName.parse(text)


def group(text):
    """'dW2' -> 'dW', 'W1.m' -> 'state', 'b1' -> 'params'."""
    return TensorName.parse(text).group


def layer(text):
    """'dW2' -> 2, 'W1.m' -> 1, 'loss' -> None."""
    return TensorName.parse(text).layer


def ordered(names, n_layers):
    """Names (strings) sorted in compute order (the first divergence is the earliest)."""
    return sorted(names, key=lambda n: TensorName.parse(n).order(n_layers))


def check_record(record, n_layers, who):
    """Every name of an implementation's step record is a known tensor of an n_layers network.
    Raises UnknownTensor naming the implementation and the tensor."""
    for name in record:
        try:
            parsed = TensorName.parse(name)
        except UnknownTensor as error:
            raise UnknownTensor(f"{who} returned {error}") from None
        if parsed.layer is not None and parsed.layer > n_layers:
            raise UnknownTensor(f"{who} returned {name!r}, but the network has {n_layers} layers")
