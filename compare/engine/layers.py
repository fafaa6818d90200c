"""The network as a list of layers: the one description every implementation is built from.

A network is its input width and an ordered list of typed layers:

    Network(784, [Dense(64), BatchNorm(momentum=0.1, written_in="torch"), Activation("relu"),
                  Dropout(0.2), Dense(10), Activation("softmax")])

Blocks and names. Each Dense layer opens a *block*, numbered 1..L; the layers after it belong to
its block until the next Dense. A tensor is named by (role, block), as in the scratch code:

    kind        settings                         parameters (scratch layout)      produces   gradients
    Dense       units, bias                      W (units, n_in), b (units, 1)    Z          dZ dW db
    BatchNorm   momentum, eps, written_in        gamma, beta (n, 1)               N          dN dgamma dbeta
                                                 state: mean, var (n, 1)
                (on images (C, H, W): per channel, gamma ... var (C, 1); torch BatchNorm2d, Keras
                 BatchNormalization(axis=-1) on NHWC)
    LayerNorm   eps, written_in                  gamma, beta (n, 1)               N          dN dgamma dbeta
    Activation  name, slope (leaky_relu)         -                                A          -
    Dropout     rate                             -                                A          -
                (on images: one mask value per number, a mask (C H W, m); SpatialDropout2D,
                 compare/engine/image_layers.py: one per channel)

`A_l` is what block l hands on after its activation and dropout, in whichever order they come (a
Dropout's output is the block's A; masks (n_l, m) are drawn by the harness, compare/engine/masks.py).
A block holds at most one layer of each role (one norm, one activation, one dropout); a network
starts with a Dense and ends with a Dense or an Activation.

Settings in a framework's words. A setting whose meaning differs between frameworks is kept as
written, with the convention it was written in (`written_in`): Keras's BatchNormalization momentum
0.99 weights the old average, torch's BatchNorm1d momentum 0.1 the new batch; `settings(convention)`
gives it in another framework's meaning, and None is each framework's own default (a Convention's
norm_defaults, scratch/conventions.py). Nothing is converted where it is stored, so a message can
print what the user wrote.

Frozen parameters: `frozen` names the roles not trained (torch requires_grad=False, Keras
trainable=False); they get no gradient and no update.

Adding a layer kind (the one extension point): subclass `Layer` as a frozen dataclass, decorate it
with `@layer_kind`, and declare
    kind           its name in the JSON and in messages
    role           the tensor it produces ('Z', 'N', 'A' or a new letter: names.py learns it)
    param_roles    its trainable parameters' roles; params(n) {role: shape} for an input of n units
    state_roles    what it keeps but does not train (running statistics); state(n) their shapes
    initial(n, dtype)  {role: array} its parameters start from (Dense's come from the init)
    grads          the gradient roles it records (e.g. ('dN', 'dgamma', 'dbeta'))
    width(n)       its output width for an input of n units (n unless it changes it)
    scratch(ctx)   the scratch object that computes it (forward/backward written out: scratch/layers.py)
    torch(ctx)     its torch module as a reference/torch_mlp.py `Part` (the module, its parameters and
                   state by role); keras(ctx) likewise its Keras layer (reference/keras_mlp.py `Part`),
                   jax(ctx) its Flax module or JAX function (reference/jax_mlp.py `Part`; the kinds
                   other than Dense and Activation build theirs in reference/jax_layers.py).
                   ctx: n_in, n_out, block, dtype (device), the spec, `initial` {role: array in that
                   framework's layout}. TorchMLP/KerasMLP build `spec.network.placed` through these
                   alone, so a kind defined in a test file runs there without editing reference/.
    layouts        {role: 'per_unit' | 'kernel' | 'same'} for a parameter role compare/engine/convert.py
                   does not know (W kernel; b, gamma, beta, mean, var per unit; outputs (m, n) rows)
tests/test_layer_kinds.py adds a stand-in kind this way and runs it in lockstep.

The image kinds (Conv2D, pooling, Flatten, SpatialDropout2D) are compare/engine/image_layers.py's.
Left out: LayerNorm on images, branches, recurrence.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from scratch import layers as scratch_layers
from scratch.activations import activation_table
from scratch.conventions import as_convention

from . import names
from .errors import InputError

KINDS = {}                 # kind name -> Layer subclass: the registered layer kinds


def layer_kind(cls):
    """Register a Layer subclass (a frozen dataclass) under its `kind`."""
    if cls.kind in KINDS and KINDS[cls.kind] is not cls:
        raise ValueError(f"layer kind {cls.kind!r} is registered twice")
    KINDS[cls.kind] = cls
    names.learn(cls)
    return cls


@dataclass(frozen=True)
class Layer:
    """One layer of a network. Subclasses declare what the module docstring lists."""
    kind: ClassVar[str] = "layer"
    role: ClassVar[str | None] = None
    grads: ClassVar[tuple] = ()
    param_roles: ClassVar[tuple] = ()        # the roles params() gives, and state() gives
    state_roles: ClassVar[tuple] = ()
    layouts: ClassVar[dict] = {}             # role -> layout, for a new parameter role (convert.py)
    opens_block: ClassVar[bool] = False      # a Dense or a Conv2D: what follows it is its block's
    images: ClassVar[bool] = False           # it takes images (C, H, W) (Conv2D, pooling), not units

    def __post_init__(self):
        frozen = getattr(self, "frozen", None)
        if isinstance(frozen, (list, tuple, set)):        # any collection of roles: held as a frozenset
            object.__setattr__(self, "frozen", frozenset(frozen))

    def params(self, n):
        return {}

    def torch(self, ctx):
        """Its torch module: a reference.torch_mlp.Part (see the module docstring)."""
        raise NotImplementedError(f"{self.describe()} has no torch module")

    def keras(self, ctx):
        """Its Keras layer: a reference.keras_mlp.Part (see the module docstring)."""
        raise NotImplementedError(f"{self.describe()} has no Keras layer")

    def jax(self, ctx):
        """Its Flax module or JAX function: a reference.jax_mlp.Part (see the module docstring)."""
        raise NotImplementedError(f"{self.describe()} has no JAX layer")

    def state(self, n):
        return {}

    def unavailable(self, n):
        """{framework: why} for a framework that cannot express it for an input n (none: {})."""
        return {}

    def width(self, n):
        return n

    def out_shape(self, shape):
        """Its output's shape for an input `shape`: (units,) or an image (C, H, W). A layer of units
        keeps an image's shape (an activation, dropout), or maps n units to width(n)."""
        return tuple(shape) if len(shape) > 1 else (self.width(shape[0]),)

    def initial(self, n, dtype):
        """{role: array} its parameters start from (every implementation's), for an input of n units."""
        return {}

    def settings(self, convention):
        """Its settings as `convention` ('torch' | 'keras') reads them, defaults resolved."""
        return {}

    def to_dict(self):
        return {"kind": self.kind, **{f.name: encode(getattr(self, f.name)) for f in dataclasses.fields(self)}}

    def describe(self):
        """How a message names it: 'BatchNorm(momentum=0.1 (torch), eps=1e-05)'."""
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                 if getattr(self, f.name) != f.default and f.name != "written_in"]
        return f"{type(self).__name__}({', '.join(shown)})"


def unit(shape):
    """A shape as Placed holds it: a width n for (n,), the image's (C, H, W) itself."""
    return int(shape[0]) if len(shape) == 1 else tuple(int(d) for d in shape)


def short_type(value):
    """'str 'relu'' / 'ReLU': what a non-layer in a list is, in a few words."""
    text = f"{type(value).__name__} {value!r}" if isinstance(value, (str, int, float)) else type(value).__name__
    return text[:60]


def channels(n):
    """How many gamma, beta, mean and var a norm keeps for its input n: n units, or an image's C
    channels (batch norm over channels: statistics per channel over examples and positions)."""
    return n[0] if isinstance(n, tuple) else n


def encode(value):
    return sorted(value) if isinstance(value, frozenset) else value


@layer_kind
@dataclass(frozen=True)
class Dense(Layer):
    units: int
    bias: bool = True
    frozen: frozenset = frozenset()          # roles not trained: 'W', 'b'
    kind: ClassVar[str] = "dense"
    role: ClassVar[str] = "Z"
    opens_block: ClassVar[bool] = True
    grads: ClassVar[tuple] = ("dZ", "dW", "db")
    param_roles: ClassVar[tuple] = ("W", "b")

    def params(self, n):
        out = {"W": (self.units, n)}
        if self.bias:
            out["b"] = (self.units, 1)
        return out

    def width(self, n):
        return self.units

    def fans(self, n):
        return n, self.units

    def scratch(self, ctx):
        return scratch_layers.Dense()

    def torch(self, ctx):
        from reference.torch_mlp import dense
        return dense(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import dense
        return dense(self, ctx)

    def jax(self, ctx):
        from reference.jax_mlp import dense
        return dense(self, ctx)

    def describe(self):
        return f"Dense({self.units}{'' if self.bias else ', bias=False'})"


@layer_kind
@dataclass(frozen=True)
class Activation(Layer):
    name: str
    slope: float | None = None               # leaky_relu's negative slope (None: each framework's default)
    kind: ClassVar[str] = "activation"
    role: ClassVar[str] = "A"

    def scratch(self, ctx):
        g, g_grad = activation_table(ctx.convention, self.slope)[self.name]
        return scratch_layers.Activation(self.name, g, g_grad)

    def torch(self, ctx):
        from reference.torch_mlp import activation
        return activation(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import activation
        return activation(self, ctx)

    def jax(self, ctx):
        from reference.jax_mlp import activation
        return activation(self, ctx)

    def describe(self):
        return self.name if self.slope is None else f"{self.name}(slope={self.slope})"


@layer_kind
@dataclass(frozen=True)
class Dropout(Layer):
    rate: float
    kind: ClassVar[str] = "dropout"
    role: ClassVar[str] = "A"

    def scratch(self, ctx):
        return scratch_layers.Dropout(self.rate, ctx.block, ctx.convention)   # images: per number

    def mask_rows(self, n):
        """The rows of its mask (rows, m) for an input n: one per unit, or per image number."""
        return int(np.prod(n))

    def torch(self, ctx):
        from reference.torch_mlp import dropout
        return dropout(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import dropout
        return dropout(self, ctx)

    def jax(self, ctx):
        from reference.jax_layers import dropout
        return dropout(self, ctx)


@dataclass(frozen=True)
class Norm(Layer):
    """What batch norm and layer norm share: gamma and beta per unit, N the output, eps."""
    role: ClassVar[str] = "N"
    grads: ClassVar[tuple] = ("dN", "dgamma", "dbeta")
    param_roles: ClassVar[tuple] = ("gamma", "beta")
    norm: ClassVar[str] = ""                 # 'batch' | 'layer' (Convention.norm_defaults's key)

    def params(self, n):
        return {"gamma": (channels(n), 1), "beta": (channels(n), 1)}

    def initial(self, n, dtype):
        """gamma = 1, beta = 0: both frameworks' initializers."""
        n = channels(n)
        return {"gamma": np.ones((n, 1), dtype), "beta": np.zeros((n, 1), dtype)}

    def settings(self, convention):
        """{'eps', ('momentum')} in `convention`'s meaning; None is that framework's default."""
        convention = as_convention(convention)
        out = dict(convention.norm_defaults[self.norm])
        if self.eps is not None:
            out["eps"] = float(self.eps)
        momentum = getattr(self, "momentum", None)
        if momentum is not None:
            written = as_convention(self.written_in or "torch")      # the same meaning: kept as written
            same = written.norm_momentum_weights_new == convention.norm_momentum_weights_new
            out["momentum"] = float(momentum) if same else 1.0 - float(momentum)
        return out


@layer_kind
@dataclass(frozen=True)
class BatchNorm(Norm):
    momentum: float | None = None            # as written in `written_in`'s meaning (None: each default)
    eps: float | None = None
    written_in: str | None = None            # 'torch' (the new batch's weight) | 'keras' (the old average's)
    frozen: frozenset = frozenset()
    kind: ClassVar[str] = "batch_norm"
    norm: ClassVar[str] = "batch"
    state_roles: ClassVar[tuple] = ("mean", "var")

    def state(self, n):
        return {"mean": (channels(n), 1), "var": (channels(n), 1)}

    def scratch(self, ctx):
        settings = self.settings(ctx.convention)
        if isinstance(ctx.n_in, tuple):          # after a Conv2D: per channel (conv.py batchnorm2d)
            from scratch.image_layers import BatchNorm2D
            return BatchNorm2D(ctx.n_in, settings["eps"], settings["momentum"], ctx.convention,
                               ctx.dtype)
        return scratch_layers.BatchNorm(ctx.n_in, settings["eps"], settings["momentum"], ctx.convention, ctx.dtype)

    def torch(self, ctx):
        from reference.torch_mlp import batch_norm
        return batch_norm(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import batch_norm
        return batch_norm(self, ctx)

    def jax(self, ctx):
        from reference.jax_layers import batch_norm
        return batch_norm(self, ctx)


@layer_kind
@dataclass(frozen=True)
class LayerNorm(Norm):
    eps: float | None = None
    written_in: str | None = None
    frozen: frozenset = frozenset()
    kind: ClassVar[str] = "layer_norm"
    norm: ClassVar[str] = "layer"

    def scratch(self, ctx):
        return scratch_layers.LayerNorm(self.settings(ctx.convention)["eps"], ctx.convention)

    def torch(self, ctx):
        from reference.torch_mlp import layer_norm
        return layer_norm(self, ctx)

    def keras(self, ctx):
        from reference.keras_mlp import layer_norm
        return layer_norm(self, ctx)

    def jax(self, ctx):
        from reference.jax_layers import layer_norm
        return layer_norm(self, ctx)


@dataclass(frozen=True)
class Placed:
    """A layer where it stands: its block (1..L), its input and output (a width n, or an image's
    shape (C, H, W): what the layer's params(n) and state(n) take), its index in the list."""
    layer: Layer
    block: int
    n_in: int | tuple
    n_out: int | tuple
    index: int

    @property
    def width_in(self):
        """Its input's numbers per example (C H W for an image)."""
        return int(np.prod(self.n_in))

    @property
    def width_out(self):
        return int(np.prod(self.n_out))

    def name(self, role):
        """The tensor name of one of its roles in this block: 'W' -> 'W2'."""
        return f"{role}{self.block}"


@dataclass(frozen=True)
class Network:
    """Input width and layers; `placed` numbers them into blocks (see the module docstring)."""
    n_in: int
    layers: tuple = field(default_factory=tuple)
    input_shape: tuple | None = None         # (C, H, W) when the inputs are images (C H W = n_in each)

    @property
    def placed(self):
        out, block = [], 0
        shape = tuple(self.input_shape) if self.input_shape else (self.n_in,)
        for index, layer in enumerate(self.layers):
            if layer.opens_block:
                block += 1
            where = f"layer {index + 1} ({layer.describe()})" if isinstance(layer, Layer) else f"layer {index + 1}"
            if getattr(layer, "images", False) and len(shape) != 3:
                raise InputError(f"{where} takes images (channels, height, width): give input_shape, and no "
                                 f"Flatten or Dense before it")
            if getattr(layer, "opens_block", False) and not layer.images and len(shape) != 1:
                raise InputError(f"{where} takes units: put a Flatten before it")
            shape_out = layer.out_shape(shape)
            if getattr(layer, "images", False) and any(d < 1 for d in shape_out):
                raise InputError(f"{where} leaves no output: {unit(shape)} -> {unit(shape_out)}")
            out.append(Placed(layer, block, unit(shape), unit(shape_out), index))
            shape = shape_out
        return out

    @property
    def sizes(self):
        """[n_in, each block's first output width (a Dense's units, a Conv2D's F Ho Wo)]: the
        shorthand's widths, one per block."""
        return [self.n_in] + [p.width_out for p in self.placed if p.layer.opens_block]

    @property
    def activations(self):
        """One activation name per block ('linear' where a block has none): the shorthand's."""
        names = ["linear"] * (len(self.sizes) - 1)
        for p in self.placed:
            if isinstance(p.layer, Activation):
                names[p.block - 1] = p.layer.name
        return names

    def kernels(self):
        """{block: (W shape, fan_in, fan_out)} of every block's weight, as its opening layer declares
        it: a Dense's (units, n_in), a Conv2D's (F, C, kh, kw); initial_params draws them
        (scratch/initializers.py). A Dense after pooling takes fewer inputs than `sizes` says."""
        return {p.block: (p.layer.params(p.n_in)["W"], *p.layer.fans(p.n_in))
                for p in self.placed if p.layer.opens_block}

    def of_kind(self, cls):
        return [p for p in self.placed if isinstance(p.layer, cls)]

    def dropouts(self):
        """{block: rate} of the Dropout layers with a rate > 0."""
        return {p.block: float(p.layer.rate) for p in self.of_kind(Dropout) if p.layer.rate}

    def dropout_masks(self):
        """{block: (rows, rate)} of the Dropout layers with a rate > 0: the rows of each mask
        (rows, m), one per unit or image number (Dropout), one per channel (SpatialDropout2D)."""
        return {p.block: (p.layer.mask_rows(p.n_in), float(p.layer.rate))
                for p in self.of_kind(Dropout) if p.layer.rate}

    def param_shapes(self):
        """{'W1': (n_1, n_0), 'b1': ..., 'gamma1': ...} in list order."""
        return {p.name(role): shape for p in self.placed for role, shape in p.layer.params(p.n_in).items()}

    def to_dict(self):
        out = {"n_in": self.n_in, "layers": [layer.to_dict() for layer in self.layers]}
        if self.input_shape:
            out["input_shape"] = list(self.input_shape)
        return out

    def describe(self):
        """'784 -> Dense(64) -> batch_norm -> relu -> Dense(10) -> softmax' (one line)."""
        first = "x".join(map(str, self.input_shape)) if self.input_shape else str(self.n_in)
        return " -> ".join([first] + [layer.describe() for layer in self.layers])

    def validate(self):
        """InputError (one line) for a list the implementations cannot build. -> self"""
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, Layer) or type(layer).kind not in KINDS:
                raise InputError(f"layer {index + 1} ({short_type(layer)}) is not a layer kind: give compare.Dense, "
                                 f"Activation, BatchNorm, LayerNorm, Dropout (registered kinds: {', '.join(KINDS)})")
        if not self.layers or not self.layers[0].opens_block:
            raise InputError("a network's layer list starts with a Dense layer (or a Conv2D)")
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape) \
                    or int(np.prod(shape)) != self.n_in:
                raise InputError(f"input_shape is (channels, height, width) of {self.n_in} numbers, got {shape}")
        seen, dropped = {}, None
        for p in self.placed:                         # placed refuses a layer given the wrong kind of input
            if isinstance(p.n_in, tuple) and isinstance(p.layer, LayerNorm):
                raise InputError(f"layer {p.index + 1} ({p.layer.describe()}) on images (normalization over "
                                 f"each image) is not mirrored yet: put it after the Flatten")
            if p.layer.opens_block:
                seen, dropped = {}, None
                continue
            if p.layer.role is None:                      # Flatten: a reshape, no tensor of its own
                continue
            if isinstance(p.layer, Dropout) and dropped is not None:      # the masks go by block
                raise InputError(f"layer {p.index + 1} ({p.layer.describe()}) is a second dropout after "
                                 f"{dropped.describe()} in block {p.block}: one dropout per block")
            dropped = p.layer if isinstance(p.layer, Dropout) else dropped
            if p.layer.role in seen and not all(issubclass(t, (Activation, Dropout))
                                                for t in {type(p.layer), type(seen[p.layer.role])}):
                raise InputError(f"layer {p.index + 1} ({p.layer.describe()}) is a second {p.layer.role}-layer after "
                                 f"Dense {p.block}: one norm, one activation and one dropout between two Dense layers")
            if type(p.layer) in {type(s) for s in seen.values()}:
                raise InputError(f"layer {p.index + 1} ({p.layer.describe()}) repeats {'an' if p.layer.kind[0] in 'aeiou' else 'a'} {p.layer.kind} after Dense "
                                 f"{p.block}: one of each kind between two Dense layers")
            seen[p.layer.role] = p.layer
        last = [p for p in self.placed if p.block == self.placed[-1].block]
        if not isinstance(last[0].layer, Dense):
            raise InputError("the output block is a Dense layer and its activation (after a Flatten)")
        if any(not isinstance(p.layer, (Dense, Activation)) for p in last):
            odd = next(p.layer for p in last if not isinstance(p.layer, (Dense, Activation)))
            raise InputError(f"{odd.describe()} after the last Dense layer: the output block is a Dense layer and its "
                             f"activation (normalization and dropout of the output are left out)")
        return self


def shorthand(sizes, activations, dropout_rates=(), norm=None, norm_momentum=None, norm_eps=None, slope=None):
    """The layer list `sizes` + `activations` (+ dropout, norm) stand for: Dense, then the norm
    (before the activation; a batch-normed Dense has no bias), the activation, the dropout."""
    layers, L = [], len(sizes) - 1
    rates = list(dropout_rates) + [0.0] * L
    for l in range(1, L + 1):
        hidden = l < L
        layers.append(Dense(int(sizes[l]), bias=not (norm == "batch" and hidden)))
        if norm == "batch" and hidden:
            layers.append(BatchNorm(momentum=norm_momentum, eps=norm_eps, written_in="torch"))
        elif norm == "layer" and hidden:
            layers.append(LayerNorm(eps=norm_eps, written_in="torch"))
        name = activations[l - 1]
        layers.append(Activation(name, slope if name == "leaky_relu" else None))
        if hidden and rates[l - 1]:
            layers.append(Dropout(float(rates[l - 1])))
    return Network(int(sizes[0]), tuple(layers))
