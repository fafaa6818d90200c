"""What every command shares: the argument parser whose errors are one line, the option types,
a recipe's spec with the command-line overrides applied, and the progress bar."""
import argparse
import dataclasses
import math
import os
import sys
import time

from ..engine.errors import InputError

MAX_THREADS = 1024        # --threads above this overflows torch's thread pool (a C int) long before it helps


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, at most 100 columns wide whatever the terminal's width (or $COLUMNS)."""

    def __init__(self, prog, width=None, **kwargs):
        from ..views.text import WIDTH
        super().__init__(prog, width=min(width or WIDTH, WIDTH), **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one message on stderr and exit 2, and an option is never
    guessed from a prefix (allow_abbrev=False: `--data mnist` is not `--data-dir mnist`, `--lr`
    not `--lr-...`), and --help fits 100 columns: every command's parser is one of these."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise InputError(message)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return value


def finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def frameworks_list(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


def resolve_spec(recipe, args, steps=None):
    """The recipe's spec with the command-line overrides applied, validated. An option the
    command does not offer counts as not given (`trace` offers a few); `steps` fixes the length."""
    spec, changes = recipe.spec, {}

    def option(name):
        return getattr(args, name, None)

    if option("full_batch") and option("batch_size") is not None:
        raise InputError("--full-batch and --batch-size contradict each other: give one")
    if option("threads") is not None and option("threads") > MAX_THREADS:
        raise InputError(f"--threads {args.threads} is more than any library can start; give 1 to {MAX_THREADS}")

    if option("optimizer") is not None:
        changes["optimizer"] = args.optimizer
        if args.optimizer != "sgd":
            changes.update(momentum=0.0, nesterov=False, dampening=0.0)
        if args.optimizer != "rmsprop":
            changes["centered"] = False
        if args.optimizer not in ("adam", "adamw"):
            changes["amsgrad"] = False
    for name in ("lr", "momentum", "dtype", "seed", "batch_size", "dampening", "weight_decay", "beta1", "beta2",
                 "rho", "eps", "decay", "l1", "l2", "clip_norm", "clip_norm_per_tensor", "clip_value"):
        if option(name) is not None:
            changes[name] = option(name)
    for flag in ("nesterov", "centered", "amsgrad"):
        if option(flag):
            changes[flag] = True
    for name in ("schedule", "schedule_every", "gamma", "milestones", "t_max", "eta_min", "patience", "threshold",
                 "cooldown", "min_lr"):
        if option(name) is not None:
            changes[name] = option(name)
    if option("keras_float32_casts"):
        changes["keras_float32_casts"] = True
    for name in ("loss", "reduction", "label_smoothing", "delta"):      # the loss (compare/cli/run.py add_loss_options)
        if option(name) is not None:
            changes[name] = option(name)
    if option("probabilities"):
        changes["probabilities"] = True
    for name in ("momentum_decay", "initial_accumulator"):          # the port settings (translate)
        if option(name) is not None:
            changes[name] = option(name)
    if option("regularize_biases"):
        changes["regularize_biases"] = True
    if option("full_batch"):
        changes["batch_size"] = None
    if option("epochs") is not None:
        changes.update(epochs=args.epochs, steps=None)
    if option("steps") is not None:
        changes["steps"] = args.steps
    if steps is not None:
        changes["steps"] = steps
    changes.update(activation_changes(spec, option))
    changes.update(layer_changes(spec, option))
    return dataclasses.replace(spec, **changes).validate()


def activation_changes(spec, option):
    """--activation NAME (every hidden layer; the output layer stays the recipe's) and --slope X."""
    changes = {}
    name = option("activation")
    if name is not None:
        if spec.n_layers < 2:
            raise InputError(f"--activation {name} sets the hidden layers' activation, and this recipe "
                             f"({'-'.join(map(str, spec.sizes))}) has no hidden layer")
        changes["activations"] = [name] * (spec.n_layers - 1) + [spec.activations[-1]]
    if option("slope") is not None:
        changes["slope"] = option("slope")
    return changes


def layer_changes(spec, option):
    """--dropout RATE (after every hidden activation), --norm batch|layer (every hidden Dense),
    --norm-momentum X, --norm-eps X (compare/cli/run.py add_layer_options)."""
    changes = {}
    for flag, name in (("--dropout", "dropout"), ("--norm", "norm")):
        value = option(name)
        if value is None:
            continue
        if spec.n_layers < 2:
            raise InputError(f"{flag} {value} applies to hidden layers, and this recipe "
                             f"({'-'.join(map(str, spec.sizes))}) has none")
        changes[name] = value
    for name in ("norm_momentum", "norm_eps"):
        if option(name) is not None:
            changes[name] = option(name)
    return changes


def total_steps(spec, n):
    if spec.steps is not None:
        return spec.steps
    return spec.epochs * math.ceil(n / (spec.batch_size or n))


LONG_RUN_S = 600           # warn (one line) when a run is estimated to take longer than this
ESTIMATE_AFTER_S = 2       # ... estimated from the steps done in the first seconds


def seconds_from_environment(name, default):
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


PLAIN_EVERY_S = seconds_from_environment("FRAMEWORK_MIRROR_PROGRESS_SECONDS", 10.0)  # when stderr is no terminal


class Progress:
    """Progress of a run on stderr: tqdm's bar on a terminal (after 2 s); elsewhere (CI logs,
    `2> file`) a plain line every PLAIN_EVERY_S seconds: steps done/total, elapsed, eta. Once,
    after ESTIMATE_AFTER_S, one line if the whole run looks like it will take over LONG_RUN_S."""

    def __init__(self, total, stream=None, quiet=False):
        from tqdm import tqdm

        self.total, self.done, self.stream, self.quiet = total, 0, stream or sys.stderr, quiet
        self.started = self.last_line = time.monotonic()
        self.estimated = False
        self.terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = tqdm(total=total, unit="step", delay=2, file=self.stream, leave=False, dynamic_ncols=True,
                        disable=not self.terminal or quiet)

    def say(self, line):
        from ..views.text import hang

        line = hang(line)
        if self.terminal:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def update(self, n=1):
        self.done += n
        self.bar.update(n)
        now = time.monotonic()
        if self.done == n:                 # the first step builds and warms up (seconds): not typical
            self.first, self.last_line = now, now
            return
        elapsed, per_step = now - self.started, (now - self.first) / (self.done - n)
        if not self.estimated and now - self.first >= ESTIMATE_AFTER_S:
            self.estimated = True
            if per_step * self.total > LONG_RUN_S:
                shorter = max(1, int(60 / per_step))
                self.say(f"this run will take about {duration(per_step * self.total)} ({self.total:,} steps at "
                         f"{per_step * 1e3:.3g} ms); --steps {shorter} to shorten it to about a minute")
        if not self.terminal and not self.quiet and now - self.last_line >= PLAIN_EVERY_S:
            self.last_line = now
            eta = per_step * (self.total - self.done)
            self.say(f"step {self.done:,}/{self.total:,}, {duration(elapsed)} elapsed, about {duration(eta)} left")

    def close(self):
        self.bar.close()


def duration(seconds):
    """4 s, 12 min, 3.2 h."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def progress(total, quiet=False):
    """The progress of a run of `total` steps on stderr (see Progress); `quiet` (--quiet): no bar and
    no progress lines, only the one-line warning of a very long run."""
    return Progress(total, quiet=quiet)


def whole_numbers(text):
    """'30,60' -> [30, 60]"""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def whole_number(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_schedule_options(p):
    """The learning-rate schedule's options (compare.Spec: schedule ... min_lr)."""
    p.add_argument("--schedule", choices=("exponential", "step", "cosine", "plateau"),
                   help="learning-rate schedule (torch.optim.lr_scheduler / keras.optimizers.schedules)")
    p.add_argument("--schedule-every", choices=("step", "epoch"),
                   help="move the schedule after every optimizer step (default) or every epoch")
    p.add_argument("--gamma", type=finite_float, help="schedule factor: exponential lr *= gamma; step and plateau "
                   "(default 0.1)")
    p.add_argument("--milestones", type=whole_numbers, metavar="M1,M2",
                   help="step schedule: lr *= gamma from schedule step m on (torch's MultiStepLR meaning)")
    p.add_argument("--t-max", type=whole_number, help="cosine: schedule steps to eta-min (default: the run's length)")
    p.add_argument("--eta-min", type=finite_float, help="cosine: the lowest learning rate (default 0)")
    p.add_argument("--patience", type=whole_number, help="plateau: bad schedule steps tolerated (default 10, "
                   "torch's meaning)")
    p.add_argument("--threshold", type=finite_float, help="plateau: the smallest improvement of the loss "
                   "(absolute, default 1e-4)")
    p.add_argument("--cooldown", type=whole_number, help="plateau: schedule steps ignored after a reduction (default 0)")
    p.add_argument("--min-lr", type=finite_float, help="plateau: the lowest learning rate (default 0)")
    return p


def add_rule_options(p):
    """The training rules every training command shares (run, check, trace, translate): the
    optimizer's own settings, weight decay, L1/L2, clipping, the schedule, the port settings."""
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD with --momentum > 0)")
    p.add_argument("--dampening", type=finite_float, help="SGD dampening (torch only: the Keras pairs are not run)")
    p.add_argument("--centered", action="store_true", help="centered RMSprop")
    p.add_argument("--amsgrad", action="store_true", help="AMSGrad (adam, adamw)")
    p.add_argument("--beta1", type=finite_float, help="first-moment decay (adam-like, lion)")
    p.add_argument("--beta2", type=finite_float, help="second-moment decay (adam-like, lion)")
    p.add_argument("--rho", type=finite_float, help="rmsprop/adadelta decay")
    p.add_argument("--eps", type=finite_float, help="epsilon")
    p.add_argument("--keras-float32-casts", action="store_true",
                   help="give Keras its hyperparameters as Python floats, which it rounds through float32")
    p.add_argument("--weight-decay", type=finite_float, help="weight decay factor (sgd, rmsprop, adam: form --decay; adamw: decoupled)")
    p.add_argument("--decay", choices=("coupled", "decoupled"),
                   help="coupled: g += wd p (torch's weight_decay); decoupled: p -= lr wd p (Keras's)")
    p.add_argument("--l2", type=finite_float, help="add l2 * sum(W^2) over the weights to the loss")
    p.add_argument("--l1", type=finite_float, help="add l1 * sum|W| over the weights to the loss")
    p.add_argument("--clip-norm", type=finite_float, help="clip the global gradient norm to X")
    p.add_argument("--clip-norm-per-tensor", type=finite_float, help="clip each gradient's norm to X")
    p.add_argument("--clip-value", type=finite_float, help="clip each gradient element to [-X, X]")
    # the settings a port between torch and Keras needs (python -m compare translate)
    p.add_argument("--momentum-decay", type=finite_float, help="nadam: torch's momentum_decay (default 0.004)")
    p.add_argument("--initial-accumulator", type=finite_float,
                   help="adagrad: the accumulator's start (default: torch 0, Keras 0.1)")
    p.add_argument("--regularize-biases", action="store_true",
                   help="--l1/--l2 cover the biases too (Keras's bias_regularizer)")
    add_schedule_options(p)
    return p


RULE_FLAGS = ("nesterov", "centered", "amsgrad", "keras_float32_casts", "regularize_biases")
RULE_VALUES = ("dampening", "beta1", "beta2", "rho", "eps", "weight_decay", "decay", "l1", "l2", "clip_norm",
               "clip_norm_per_tensor", "clip_value", "momentum_decay", "initial_accumulator", "schedule",
               "schedule_every", "gamma", "milestones", "t_max", "eta_min", "patience", "threshold", "cooldown", "min_lr")


def rule_changes(args):
    """The spec changes of the rule options given (add_rule_options), for a command that builds its
    spec itself (check)."""
    changes = {name: getattr(args, name) for name in RULE_VALUES if getattr(args, name, None) is not None}
    changes.update({name: True for name in RULE_FLAGS if getattr(args, name, False)})
    return changes


def add_output_options(p):
    """The options every training command shares: report files, the table interval, data, threads,
    --quiet and --wide."""
    p.add_argument("--json", metavar="PATH", type=report_path, help="write the JSON report here")
    p.add_argument("--plot", metavar="PATH", type=report_path, help="write a PNG of loss, accuracy and error curves")
    p.add_argument("--html", metavar="PATH", type=report_path, help="write a self-contained HTML report")
    p.add_argument("--every", type=positive_int, help="a table row every K steps (failing steps always shown)")
    add_data_options(p)
    p.add_argument("--threads", type=positive_int,
                   help="threads for each library (default: 1 for mini-batches, the libraries' own for full batches)")
    p.add_argument("--quiet", action="store_true", help="print the verdict line only")
    p.add_argument("--wide", action="store_true", help="the full tables (wider than 100 columns)")
    return p


def report_path(text):
    """A report file's path, made absolute now: the user's code (run later, in this process) may
    call os.chdir, and the report must still go where the command line said."""
    from ..views.files import absolute
    return absolute(text)


def data_path(text):
    """--data-dir, made absolute now (see report_path)."""
    return os.path.abspath(os.path.expanduser(text)) if text else text


def add_data_options(p):
    """--data-dir, --offline, --allow-other-data: where the data files are, and whether files
    that are not the canonical ones (their SHA-256 differs) may be used."""
    p.add_argument("--data-dir", metavar="PATH", type=data_path, help="folder holding the data files (MNIST recipes)")
    p.add_argument("--offline", action="store_true", help="never download data")
    p.add_argument("--allow-other-data", action="store_true",
                   help="run on MNIST files whose SHA-256 is not the canonical one (the report says so)")
    return p


def load_data(recipe, args):
    """The recipe's data, as --data-dir, --offline and --allow-other-data say."""
    return recipe.load(data_dir=args.data_dir, offline=args.offline,
                       allow_other_data=getattr(args, "allow_other_data", False))
