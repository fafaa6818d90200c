"""Your own torch nn.Module, optimizer and loss, checked in lockstep without editing them.

    torchnet = compare.torch_module(model, optimizer, loss)

model      an nn.Sequential of nn.Linear and activation modules (ReLU, Sigmoid, Tanh, Softplus,
           Identity; Softmax(dim=1) last), or any module whose Linear and activation modules run one
           after another (checked on a probe batch: each module's input is the previous one's output)
optimizer  torch.optim.SGD (momentum, nesterov), RMSprop or Adam built on model.parameters()
           (None: the spec's optimizer)
loss       nn.MSELoss, nn.BCEWithLogitsLoss, nn.BCELoss or nn.CrossEntropyLoss, reduction mean or sum
           (None: the spec's loss)

What the adapter reads: the sizes (Linear in/out features), the activation after each Linear (a
CrossEntropyLoss after a last Linear is our softmax fused with categorical_crossentropy,
BCEWithLogitsLoss our sigmoid fused with binary_crossentropy), the loss and its reduction, and the
optimizer's settings from optimizer.param_groups[0] (alpha is our rho). These settings are applied to
the references it is compared with.

Your objects are never modified. Each build deep-copies (model, optimizer, loss) in one go, so the
copied optimizer holds the copied parameters; the copy is converted to the spec's dtype in place
(p.data = p.data.to(dtype): the optimizer's references stay valid), gets the shared initial weights,
and its optimizer state is cleared. Intermediates come from forward hooks on the copy: a Linear's
output is Z_l (its .grad kept with retain_grad gives dZ_l), the activation module's output is A_l.
For a fused loss the model outputs Z_L, and A_L = softmax / sigmoid of it is computed for the record
only. The loss is your loss object's, backward is loss.backward(), the update your optimizer's step().

CrossEntropyLoss gets class indices (argmax of the one-hot rows), as a training loop's labels are;
torch gives the same numbers for one-hot probability targets.

Left out: Conv, Dropout, normalisation layers, activations applied as functions inside forward
(F.relu), weight decay, dampening, amsgrad, centered or momentum RMSprop, label smoothing.
"""
import copy
import inspect

import numpy as np
import torch
from torch import nn

from reference.torch_mlp import LOSSES, STATE_NAMES, make_optimizer

from ..engine import convert
from ..engine.errors import InputError
from .base import UserImplementation
from . import values
from .boundary import Boundary, UserCodeFailed

ACTIVATION_NAMES = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softplus: "softplus",
                    nn.Identity: "linear", nn.Softmax: "softmax"}
LOSS_NAMES = {nn.MSELoss: "mse", nn.BCELoss: "binary_crossentropy", nn.BCEWithLogitsLoss: "binary_crossentropy",
              nn.CrossEntropyLoss: "categorical_crossentropy"}
FUSED = {nn.BCEWithLogitsLoss: "sigmoid", nn.CrossEntropyLoss: "softmax"}   # the loss applies this to the output
OPTIMIZERS = {torch.optim.SGD: "sgd", torch.optim.RMSprop: "rmsprop", torch.optim.Adam: "adam"}


def probe(model, n_in, door=None):
    """Run the model on a zero batch and return its leaf modules in call order, [(path, module)],
    after checking that each one reads the previous one's output (nothing runs between them that
    the adapter cannot see). Raises InputError naming the module."""
    paths = {module: path for path, module in model.named_modules()}
    calls, handles = [], []

    def hook(module, inputs, output):
        calls.append((module, inputs, output))

    for module in model.modules():
        if not list(module.children()):
            handles.append(module.register_forward_hook(hook))
    x = torch.zeros(2, n_in, dtype=next(model.parameters()).dtype)
    try:
        with torch.no_grad(), (door or Boundary()).calling(f"{type(model).__name__}.forward"):
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    previous = x
    for module, inputs, output in calls:
        if len(inputs) != 1 or inputs[0] is not previous:
            raise InputError(f"{paths[module] or type(module).__name__} ({type(module).__name__}) does not read the "
                             f"output of the module before it: the forward method computes something in between "
                             f"(e.g. F.relu): use nn modules one after another")
        previous = output
    if out is not previous:
        raise InputError("the model's output is not its last module's output: its forward method computes something "
                         "after its last module")
    return [(paths[module] or type(module).__name__, module) for module, _, _ in calls]


def read_layers(model, loss, door=None):
    """-> (linears [(path, Linear)], followers [activation module or None per Linear], activations [names])"""
    if not isinstance(model, nn.Module):
        raise InputError(f"torch_module needs an nn.Module, got {type(model).__name__}")
    for path, module in model.named_modules():
        if not list(module.children()) and not isinstance(module, (nn.Linear, *ACTIVATION_NAMES)):
            raise InputError(f"{path or 'the model'} ({type(module).__name__}) cannot be mirrored: the adapter takes "
                             f"nn.Linear and the activations {', '.join(c.__name__ for c in ACTIVATION_NAMES)}")
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise InputError("the model has no nn.Linear layer")
    linears, followers, activations = [], [], []
    for path, module in probe(model, next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features, door):
        if isinstance(module, nn.Linear):
            if module.bias is None:
                raise InputError(f"{path} (Linear) has no bias: the harness compares b, give it bias=True")
            if linears and module.in_features != linears[-1][1].out_features:
                raise InputError(f"{path} takes {module.in_features} features, the layer before gives "
                                 f"{linears[-1][1].out_features}")
            linears.append((path, module))
            followers.append(None)
            activations.append("linear")
            continue
        name = ACTIVATION_NAMES.get(type(module))
        if name is None:
            raise InputError(f"{path} ({type(module).__name__}) cannot be mirrored: the adapter takes nn.Linear and "
                             f"the activations {', '.join(c.__name__ for c in ACTIVATION_NAMES)}")
        if not linears:
            raise InputError(f"{path} ({type(module).__name__}) comes before the first nn.Linear")
        if isinstance(module, nn.Softplus) and (module.beta != 1 or module.threshold != 20):
            raise InputError(f"{path} Softplus(beta={module.beta}, threshold={module.threshold}): only the "
                             f"defaults (beta=1, threshold=20) are mirrored")
        if isinstance(module, nn.Softmax) and module.dim not in (1, -1):
            raise InputError(f"{path} Softmax(dim={module.dim}): softmax over the units is dim=1")
        if name == "linear":
            continue
        if followers[-1] is not None:
            raise InputError(f"{path} ({type(module).__name__}) is a second activation after {linears[-1][0]}: one "
                             f"activation per Linear is mirrored")
        followers[-1], activations[-1] = module, name
    fused = FUSED.get(type(loss))
    if fused:
        if activations[-1] != "linear":
            raise InputError(f"{linears[-1][0]} is followed by {type(followers[-1]).__name__}, but "
                             f"{type(loss).__name__} applies {fused} itself (it takes logits): the output would "
                             f"go through {fused} twice; end the model with the Linear layer")
        activations[-1] = fused
    return linears, followers, activations


def read_loss(loss):
    """-> {'loss', 'reduction'} Spec fields, or {} for None. Raises InputError for what is not mirrored."""
    if loss is None:
        return {}
    name = LOSS_NAMES.get(type(loss))
    if name is None:
        raise InputError(f"loss {type(loss).__name__} is not mirrored: use nn.MSELoss, nn.BCEWithLogitsLoss, "
                         f"nn.BCELoss or nn.CrossEntropyLoss")
    if loss.reduction not in ("mean", "sum"):
        raise InputError(f"{type(loss).__name__}(reduction={loss.reduction!r}): use 'mean' or 'sum'")
    if getattr(loss, "weight", None) is not None or getattr(loss, "pos_weight", None) is not None:
        raise InputError(f"{type(loss).__name__} with class weights is not mirrored")
    if getattr(loss, "label_smoothing", 0.0):
        raise InputError(f"{type(loss).__name__}(label_smoothing={loss.label_smoothing}) is not mirrored")
    return {"loss": name, "reduction": loss.reduction}


def read_optimizer(optimizer):
    """-> Spec fields of the user's optimizer (param_groups[0]), every one given explicitly."""
    if optimizer is None:
        return {}
    name = OPTIMIZERS.get(type(optimizer))
    if name is None:
        raise InputError(f"optimizer {type(optimizer).__name__} is not mirrored: use torch.optim.SGD, RMSprop or Adam")
    if len(optimizer.param_groups) != 1:
        raise InputError("the optimizer has several parameter groups: one group (model.parameters()) is mirrored")
    group = optimizer.param_groups[0]
    unsupported = {"weight_decay": 0, "dampening": 0, "maximize": False, "centered": False, "amsgrad": False}
    for key, neutral in unsupported.items():
        if key in group and group[key] != neutral:
            raise InputError(f"{type(optimizer).__name__}({key}={group[key]}) is not mirrored")
    if name == "rmsprop" and group["momentum"]:
        raise InputError(f"RMSprop(momentum={group['momentum']}) is not mirrored")
    fields = {"optimizer": name, "lr": float(group["lr"])}
    if name == "sgd":
        fields.update(momentum=float(group["momentum"]), nesterov=bool(group["nesterov"]))
    else:
        fields.update(momentum=0.0, nesterov=False, eps=float(group["eps"]))
    if name == "rmsprop":
        fields["rho"] = float(group["alpha"])
    if name == "adam":
        fields.update(beta1=float(group["betas"][0]), beta2=float(group["betas"][1]))
    return fields


def unmirrored(optimizer):
    """Why the copy of the user's optimizer that a run steps would not do what theirs does, or None.
    A torch optimizer is copied as its state (torch's __getstate__: defaults, state, param_groups):
    a method set on the object (`optimizer.step = ...`, `zero_grad`) and step hooks
    (register_step_pre_hook, register_step_post_hook) are not copied, so the check would judge an
    optimizer other than the one the user trains with (one that never learned passed). The hooks
    every torch optimizer and module obeys (torch.optim.optimizer.register_optimizer_step_pre_hook,
    torch.nn.modules.module.register_module_forward_hook, ...) would act on the torch reference too."""
    import torch.nn.modules.module as modules
    import torch.optim.optimizer as optimizers

    kind = "torch.optim" if optimizer is None else type(optimizer).__name__
    for where, names in ((optimizers, ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")),
                         (modules, ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                                    "_global_backward_pre_hooks", "_global_parameter_registration_hooks",
                                    "_global_buffer_registration_hooks", "_global_module_registration_hooks"))):
        for name in names:
            if len(getattr(where, name, None) or ()):
                what = name.strip("_").replace("global_", "").replace("_hooks", "").replace("_", " ")
                return (f"a global {what} hook is registered with torch (torch's register_..._{what.replace(' ', '_')}"
                        f"_hook): it would act on the torch reference as on your model, so the check could not tell "
                        f"them apart: remove it")
    if optimizer is None:
        return None
    twin = copy.deepcopy(optimizer)
    mine, kept = vars(optimizer), vars(twin)
    for name, value in mine.items():
        if name not in kept and not name.startswith("_") and callable(value):
            return (f"your {kind}'s {name} was replaced on the object ({name} = ...): the check steps a copy of "
                    f"the optimizer, which would not have it: declare the optimizer as torch.optim gives it")
        if name.startswith("_optimizer_step_") and name.endswith("hooks") and len(value or ()) > len(kept.get(name) or ()):
            when = "pre" if "pre" in name else "post"
            return (f"your {kind} has a step {when}-hook (register_step_{when}_hook): the check steps a copy of "
                    f"the optimizer, which would not run it: declare the optimizer without the hook")
    return None


class TorchModule(UserImplementation):
    convention = "torch"

    def __init__(self, model, optimizer, loss, name, origin):
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.name, self.origin = name, origin
        self.loss_fields = read_loss(loss)
        linears, _, self.activations = read_layers(model, loss)
        self.sizes = [linears[0][1].in_features] + [m.out_features for _, m in linears]
        self.settings = read_optimizer(optimizer)
        frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
        if frozen:
            raise InputError(f"{frozen[0]} is frozen (requires_grad=False): every parameter of the Linear layers is "
                             f"trained and compared: not mirrored")
        problem = unmirrored(optimizer)
        if problem:
            raise InputError(problem)
        if optimizer is not None:
            ours = {id(p) for p in model.parameters()}
            theirs = [p for g in optimizer.param_groups for p in g["params"]]
            if {id(p) for p in theirs} != ours:
                raise InputError("the optimizer was not built on model.parameters() (its parameters are not the model's)")
        self.vocabulary = {f"{kind}{l}": f"{path}.{'weight' if kind == 'W' else 'bias'}"
                           for l, (path, _) in enumerate(linears, start=1) for kind in ("W", "b")}

    def network(self):
        return {"sizes": list(self.sizes), "activations": list(self.activations), **self.loss_fields, **self.settings}

    def build(self, spec, params, convention):
        return TorchRun(self, spec, params)


def loss_for(spec, output):
    """The spec's loss for a model given without one. A model that ends in its own Softmax or Sigmoid
    outputs probabilities: its cross-entropy reads them (NLLLoss of their log, BCELoss), as a torch
    user writes it, not the logits CrossEntropyLoss and BCEWithLogitsLoss take."""
    module, reads = LOSSES[spec.loss]
    if reads == "Z" and output != "linear":
        return nn.BCELoss(reduction=spec.reduction) if spec.loss == "binary_crossentropy" else \
            ProbabilitiesNLL(reduction=spec.reduction)
    return module(reduction=spec.reduction)


class ProbabilitiesNLL(nn.NLLLoss):
    """Categorical cross-entropy of probabilities and one-hot rows: NLLLoss of log p and the classes."""

    def forward(self, p, Y):
        return super().forward(torch.log(p), Y.argmax(dim=1))


class TorchRun:
    """One run of a copy of the user's objects. step(X, Y) -> record in the scratch layout."""

    def __init__(self, user, spec, params):
        if list(spec.sizes) != user.sizes or list(spec.activations) != user.activations:
            raise InputError(f"{user.name} is {user.sizes} {user.activations}, the spec asks for "
                             f"{list(spec.sizes)} {list(spec.activations)}")
        self.spec, self.dtype = spec, getattr(torch, spec.dtype)
        self.door = user.door(spec.seed)          # every call into the user's module goes through it
        with self.door.calling(f"a copy of {type(user.model).__name__}"):
            self.model, self.optimizer, loss = copy.deepcopy((user.model, user.optimizer, user.loss))
        self.loss_fn = loss if loss is not None else loss_for(spec, user.activations[-1])
        if loss is not None and (user.loss_fields["loss"], user.loss_fields["reduction"]) != (spec.loss, spec.reduction):
            raise InputError(f"{user.name}'s loss is {user.loss_fields}, the spec asks for {spec.loss} ({spec.reduction})")
        with torch.no_grad():
            for tensor in [*self.model.parameters(), *self.model.buffers()]:
                tensor.data = tensor.data.to(self.dtype)           # in place: the optimizer's references stay valid
        self.model.train()
        linears, followers, _ = read_layers(self.model, self.loss_fn, self.door)
        self.linears = [m for _, m in linears]
        with torch.no_grad():
            for layer, (weight, bias) in zip(self.linears, convert.to_torch(params)):
                layer.weight.copy_(torch.from_numpy(weight))
                layer.bias.copy_(torch.from_numpy(bias))
        self.params = {}
        for l, layer in enumerate(self.linears, start=1):
            self.params[f"W{l}"], self.params[f"b{l}"] = layer.weight, layer.bias
        if self.optimizer is None:
            self.optimizer = make_optimizer(spec.optimizer, spec.hyper("torch"), list(self.params.values()))
        self.optimizer.state.clear()                                   # a fresh start, as every other runner's
        self.fused = FUSED.get(type(self.loss_fn))
        self.cache = {}
        for l, (layer, after) in enumerate(zip(self.linears, followers), start=1):
            inplace = bool(getattr(after, "inplace", False))
            layer.register_forward_hook(self.z_hook(l, inplace))
            if after is not None:
                after.register_forward_hook(self.a_hook(l))

    def z_hook(self, l, inplace):
        def hook(module, inputs, output):
            if output.requires_grad:
                output.retain_grad()
            self.cache[f"Z{l}"] = self.cache[f"A{l}"] = output
            if inplace:                      # an in-place activation next would overwrite Z: it gets a copy
                return output.clone()
        return hook

    def a_hook(self, l):
        def hook(module, inputs, output):
            self.cache[f"A{l}"] = output
        return hook

    def output(self, out):
        """A_L from the model's output: softmax / sigmoid of the logits for a fused loss (record only)."""
        if self.fused == "softmax":
            return torch.softmax(out, dim=1)
        if self.fused == "sigmoid":
            return torch.sigmoid(out)
        return out

    def targets(self, Y):
        if isinstance(self.loss_fn, nn.CrossEntropyLoss):
            return torch.from_numpy(np.argmax(Y, axis=1))            # class indices, as a training loop gives
        return torch.from_numpy(np.ascontiguousarray(Y)).to(self.dtype)

    def step(self, X, Y):
        L = len(self.linears)
        self.cache = {}
        self.optimizer.zero_grad()
        with self.door.calling(f"{type(self.model).__name__}.forward"):
            out = self.model(torch.from_numpy(np.ascontiguousarray(X)).to(self.dtype))
        if not isinstance(out, torch.Tensor):
            raise UserCodeFailed(f"your {type(self.model).__name__}.forward returned {values.container_words(out)}, "
                                 f"not a tensor", "TypeError", values.function_frames(type(self.model).forward))
        with self.door.calling(f"{type(self.model).__name__} (backward)", type(self.model).forward):
            loss = self.loss_fn(out, self.targets(Y))
            loss.backward()
            self.optimizer.step()
        record = {name: t.detach().numpy() for name, t in self.cache.items()}
        record[f"A{L}"] = self.output(out).detach().numpy()
        record["loss"] = loss.detach().numpy()
        for l in range(1, L + 1):
            record[f"dZ{l}"] = self.cache[f"Z{l}"].grad.numpy()
        for name, p in self.params.items():
            record[f"d{name}"] = p.grad.numpy().copy()
            record[name] = p.detach().numpy().copy()
            for key, value in self.optimizer.state.get(p, {}).items():
                if key in STATE_NAMES and value is not None:
                    record[f"{name}.{STATE_NAMES[key]}"] = value.detach().numpy().copy()
        return convert.record_to_scratch("torch", record, self.spec.sizes, X.shape[0])

    def predict(self, X):
        with torch.no_grad(), self.door.calling(f"{type(self.model).__name__}.forward"):
            out = self.model(torch.from_numpy(np.ascontiguousarray(X)).to(self.dtype))
        return convert.rows_to_batch(self.output(out).numpy())


def torch_module(model, optimizer=None, loss=None, *, name=None):
    """Your nn.Module with your optimizer and loss -> a UserImplementation (see the module docstring)."""
    caller = inspect.currentframe().f_back
    origin = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else None
    return TorchModule(model, optimizer, loss, name, origin)
