"""`python -m compare check FILE.py`: check your own network against scratch, torch, Keras and JAX.

The file declares one or more implementations at its top level (compare.functions,
compare.network_class, compare.torch_module, compare.keras_model; README, "Check your own
network"). The network stays the file's: the one its code has (read by the adapter) or its
network=dict(...), else --sizes/--activations, else the recipe's. --data NAME gives it a recipe's
data alone; --recipe NAME its data and the training settings the file does not declare (a recipe
whose network differs from the file's is one line, exit 2); without either, random data sized for
the batch and the steps (compare/engine/data.py). What is not given anywhere takes the defaults
listed by --help (docs/data-and-defaults.md). One set of initial weights is copied into every
implementation; --steps N steps run in lockstep; the report speaks of the implementation by the
name it was given and of tensors by the names its code uses.
"""
import argparse
import os
import sys

from ..engine.errors import InputError
from . import child, supervise
from .common import MAX_THREADS, add_output_options, add_rule_options, rule_changes, Parser, finite_float, frameworks_list, positive_int, progress, total_steps
from .run import add_layer_options, add_loss_options, finish, json_to_stdout


def names_list(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def parser():
    from ..engine.spec import DTYPES, OPTIMIZERS

    p = Parser(prog="python -m compare check FILE.py", description="Check your own network in lockstep. Each "
               "setting is the option's, else the file's, else the recipe's (--recipe), else the default shown.")
    p.add_argument("file", help="a Python file declaring your implementation(s)")
    p.add_argument("--entry", help="which of the file's implementations (variable or name; comma-separated)")
    p.add_argument("--against", type=frameworks_list, default=("torch", "keras"),
                   help="what to check it against: some of scratch,torch,keras,jax (default torch,keras)")
    p.add_argument("--data", metavar="RECIPE", help="train on a recipe's data alone (mnist, parity, xor, toy3, ...: "
                   "python -m compare list); the network and the settings stay the file's (default: random data, "
                   "enough for the batch size and the steps)")
    p.add_argument("--recipe", help="take a recipe's data and the training settings the file does not declare; "
                   "its network must be the file's")
    p.add_argument("--steps", type=positive_int, help="steps to run (default 20, or the recipe's)")
    p.add_argument("--epochs", type=positive_int, help="passes over the training data instead of --steps")
    p.add_argument("--weights", choices=("spec", "mine"),
                   help="initial weights: the spec's initializer, or your own init_params copied out (default: "
                        "mine where a model is a port holding the first model's weights, else spec)")
    p.add_argument("--sizes", type=lambda s: [positive_int(x) for x in names_list(s)],
                   help="layer widths, e.g. 784,32,10 (default: read from your code)")
    p.add_argument("--activations", type=names_list,
                   help="one per layer, e.g. relu,softmax (default: read from your code)")
    p.add_argument("--slope", type=finite_float, help="leaky_relu's negative slope (default: torch 0.01, Keras 0.2)")
    add_loss_options(p, default="default: the one the output layer means: softmax categorical_crossentropy, "
                                "one sigmoid unit binary_crossentropy, linear mse; otherwise asked for")
    add_layer_options(p)
    p.add_argument("--lr", type=finite_float, help="learning rate (default 0.01)")
    p.add_argument("--optimizer", help=f"one of {', '.join(OPTIMIZERS)} (default sgd)")
    p.add_argument("--momentum", type=finite_float, help="SGD or RMSprop momentum (default 0)")
    p.add_argument("--batch-size", type=positive_int, help="examples per step (default: all of them, one batch)")
    p.add_argument("--full-batch", action="store_true", help="one batch of the whole training set")
    p.add_argument("--dtype", help=f"one of {', '.join(DTYPES)} (default float64)")
    p.add_argument("--seed", type=int, help="seed for the initial weights, the data and shuffling (default 0)")
    p.add_argument("--keep-going", action="store_true",
                   help="run every step after the first divergence (default: stop there, the verdict is known)")
    p.add_argument("--step-timeout", type=positive_float, metavar="SECONDS",
                   help="end the run as your implementation's failure when one call into your code "
                        "(the import, a build, a step) runs longer than this")
    add_rule_options(p)
    return add_output_options(p)


def positive_float(text):
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def main(argv):
    args = parser().parse_args(argv)
    if args.threads is not None and args.threads > MAX_THREADS:
        raise InputError(f"--threads {args.threads} is more than any library can start; give 1 to {MAX_THREADS}")
    from ..data import recipes
    from ..engine import frameworks
    from ..views.files import check_targets

    if args.full_batch and args.batch_size:
        raise InputError("--full-batch and --batch-size contradict each other: give one")
    recipe = recipes.get(args.recipe) if args.recipe else None
    if args.data is not None:                       # an unknown name: one line before the file is imported
        try:
            recipes.get(args.data)
        except InputError as error:
            raise InputError(f"--data: {error}") from None

    check_targets({"json": None if args.json == "-" else args.json, "plot": args.plot, "html": args.html})
    if args.plot:                                   # optional pieces: checked before any training
        frameworks.require_optional("--plot", ("matplotlib",), "plot")
    if args.html:
        frameworks.require_optional("--html", ("pygments", "matplotlib"), "html")
    for what in ("json", "plot", "html", "data_dir"):   # resolved before the user's code runs (it may chdir)
        if getattr(args, what) not in (None, "-"):
            setattr(args, what, os.path.abspath(getattr(args, what)))
    if supervise.wanted():                          # python -m compare check: the user's code runs in a child
        code = supervise.run(args)                  # (compare/cli/supervise.py); the child goes on below
        if code is not None:
            return code
    elif args.step_timeout is not None:
        raise InputError("--step-timeout needs the check to run as a command (python -m compare check FILE.py)")
    with json_to_stdout(args):
        return run_check(args, recipe)


OPTION_FIELDS = ("sizes", "activations", "slope", "loss", "reduction", "label_smoothing", "delta", "dropout", "norm",
                 "norm_momentum", "norm_eps", "lr", "optimizer", "momentum", "batch_size", "dtype", "seed", "epochs")


def run_check(args, recipe):
    """main's work once the options are checked: import the file, run the check, print the report."""
    from ..engine import integrity
    from ..engine.spec import Spec

    overrides = {name: getattr(args, name) for name in OPTION_FIELDS}
    overrides["probabilities"] = args.probabilities or None
    if args.optimizer and args.optimizer != "sgd" and args.momentum is None:
        overrides.update(momentum=0.0, nesterov=False)
    overrides["full_batch"] = args.full_batch or None
    overrides.update(rule_changes(args))
    seed = args.seed if args.seed is not None else (recipe.spec.seed if recipe else Spec.seed)
    integrity.begin(hold=True)                  # what the judge is made of, before the file can replace it
    try:
        return checked(args, recipe, seed, overrides)
    finally:
        integrity.broken()                      # in-process (tests, scripts): nothing the file replaced stays
        integrity.end()


def checked(args, recipe, seed, overrides):
    """run_check's work once what the judge is made of is remembered."""
    from ..adapters.check import check, check_data_source, declared, initial_weights, load_file, resolve_against, resolve_spec
    from ..engine import frameworks

    with child.calling(args.file, "import"):    # the file's code runs here, through the door (boundary.py)
        module = load_file(args.file, seed)
    child.own_stdout()
    items = child.watched(declared(module, args.file, args.entry))
    spec = resolve_spec(items, None, recipe, args.steps, overrides)
    against = resolve_against(args.against)
    data = check_data_source(args.data, spec, recipe, items[0].label, args.data_dir, args.offline,
                             args.allow_other_data)
    args.weights = initial_weights(items, args.weights)     # a port holding the original's copy: 'mine'
    frameworks.configure_threads(args.threads if args.threads else frameworks.default_threads(spec), args.against)
    if not args.quiet:
        from ..views.tables import spec_table, wrap
        print(wrap(f"checking {', '.join(f'{i.name} ({type(i).__name__})' for i in items)} from {args.file} "
                   f"against {', '.join(args.against)}"))
        print(spec_table(spec, [i.name for i in items] + list(args.against), data, weights=args.weights))
        print(wrap(data_line(data, args)))
        for item in items:                  # how the user's tensors are read and compared
            for what, how in item.notes.items():
                print(wrap(f"note, {item.name} {what}: {how}"))     # 100 columns
    bar = progress(total_steps(spec, len(data.X)), quiet=args.quiet)

    def on_step(result):
        bar.update(1)
        child.completed(result.step)
    try:
        report = check(items, spec=spec, data=data, against=against, weights=args.weights,
                       on_step=on_step, keep_step=1 if args.html else None, keep_going=args.keep_going)
    finally:
        bar.close()
    child.own_stdout()
    if report.summary.get("stopped") and not args.quiet:   # the first divergence: the steps left not run
        from ..engine.run import stopped_line
        from ..views.tables import wrap
        print(wrap(stopped_line(report.summary["stopped"])))
    if data.info:
        report.config["data"] = dict(data.info)     # where the data came from (MNIST: source, origin)
    if not args.quiet:                              # what the door to the user's code had to put back
        from ..views.tables import wrap
        for item in items:
            for event in item.events:
                print(wrap(f"note, {item.label}: {event}"))
    report.evaluation_inputs = data.X_eval.tolist()
    return finish(report, args, args.every or (recipe.every if recipe else 1), spec, data)


def data_line(data, args):
    """What the check trains on, in one line: a recipe's data (--data, --recipe) and where its files
    came from, or the random data made for it (compare/engine/data.py)."""
    info = data.info or {}
    if info.get("source") == "random":
        return (f"data: {info['examples']:,} random examples (seed {info['seed']}): inputs {info['inputs']}, "
                f"targets {info['targets']}; --data RECIPE for a recipe's")
    name = args.data or args.recipe
    sizes = f"{len(data.X):,} training examples" + (f", {len(data.X_test):,} test" if data.X_test is not None else "")
    where = f", from {info['source']}" if info.get("source") else ""
    return f"data: {name}'s ({sizes}{where})"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
