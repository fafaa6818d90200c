"""The command line: `python -m compare RECIPE [options]`, `python -m compare list`, and the
other commands registered in COMMANDS.

Exit codes: 0 everything agrees; 1 a mismatch or a non-finite value; 2 a usage or input
error (one line on stderr, no traceback); 130 interrupted (the report says how far it got).

Left out: the work itself (compare/run.py, compare/harness.py) and the tables (compare/tables.py).
"""
import argparse
import dataclasses
import math
import sys

from . import recipes
from .errors import EXIT_INPUT, EXIT_MISMATCH, EXIT_OK, InputError
from .spec import DTYPES, OPTIMIZERS

EXIT_INTERRUPTED = 130
COMMANDS = {}   # name -> (function(argv) -> exit code, one-line description)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message):
        raise InputError(message)


def command(name, description):
    def register(function):
        COMMANDS[name] = (function, description)
        return function
    return register


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


def recipe_parser():
    p = Parser(prog="python -m compare RECIPE", description="Train a recipe in NumPy, PyTorch and Keras in lockstep.")
    p.add_argument("recipe", help="a recipe name (python -m compare list)")
    p.add_argument("--steps", type=positive_int, help="stop after N steps")
    p.add_argument("--epochs", type=positive_int, help="train for N epochs (overrides the recipe's steps)")
    p.add_argument("--batch-size", type=positive_int, help="examples per step")
    p.add_argument("--full-batch", action="store_true", help="one batch of the whole training set")
    p.add_argument("--lr", type=finite_float, help="learning rate")
    p.add_argument("--optimizer", help=f"one of {', '.join(OPTIMIZERS)}")
    p.add_argument("--momentum", type=finite_float, help="SGD momentum")
    p.add_argument("--dtype", help=f"one of {', '.join(DTYPES)}")
    p.add_argument("--seed", type=int, help="seed for the initial weights and shuffling")
    p.add_argument("--keras-float32-casts", action="store_true",
                   help="give Keras its hyperparameters as Python floats, which it rounds through float32")
    p.add_argument("--frameworks", type=frameworks_list, default=("scratch", "torch", "keras"),
                   help="comma-separated subset of scratch,torch,keras")
    p.add_argument("--json", metavar="PATH", help="write the JSON report here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of loss, accuracy and error curves")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("--every", type=positive_int, help="a table row every K steps (failing steps always shown)")
    p.add_argument("--data-dir", metavar="PATH", help="folder holding the data files (MNIST recipes)")
    p.add_argument("--offline", action="store_true", help="never download data")
    p.add_argument("--threads", type=positive_int, help="threads for each library (default: 1 for mini-batches, the libraries' own for full batches)")
    p.add_argument("--inject-bug", metavar="NAME", help="run with a classic mistake in the scratch code (python -m compare bugs)")
    p.add_argument("--quiet", action="store_true", help="print the verdict line only")
    return p


def resolve_spec(recipe, args, steps=None):
    """The recipe's spec with the command-line overrides applied, validated. An option the
    command does not offer counts as not given (`trace` offers a few); `steps` fixes the length."""
    spec, changes = recipe.spec, {}

    def option(name):
        return getattr(args, name, None)

    if option("optimizer") is not None:
        changes["optimizer"] = args.optimizer
        if args.optimizer != "sgd":
            changes.update(momentum=0.0, nesterov=False)
    for name in ("lr", "momentum", "dtype", "seed", "batch_size"):
        if option(name) is not None:
            changes[name] = option(name)
    if option("keras_float32_casts"):
        changes["keras_float32_casts"] = True
    if option("full_batch"):
        changes["batch_size"] = None
    if option("epochs") is not None:
        changes.update(epochs=args.epochs, steps=None)
    if option("steps") is not None:
        changes["steps"] = args.steps
    if steps is not None:
        changes["steps"] = steps
    return dataclasses.replace(spec, **changes).validate()


def total_steps(spec, n):
    if spec.steps is not None:
        return spec.steps
    return spec.epochs * math.ceil(n / (spec.batch_size or n))


def progress(total):
    """A progress bar on stderr that appears only if the run takes more than 2 seconds."""
    from tqdm import tqdm

    return tqdm(total=total, unit="step", delay=2, file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=None)  # None: no bar when stderr is not a terminal (CI logs)


def run_recipe(argv):
    args = recipe_parser().parse_args(argv)
    recipe = recipes.get(args.recipe)
    spec = resolve_spec(recipe, args)
    from . import frameworks
    from .report import check_writable, write_json
    from .run import check_frameworks, run

    for path, what in ((args.json, "json"), (args.plot, "plot"), (args.html, "html")):
        if path:
            check_writable(path, what)
    if args.html:
        from .html import require
        require()
    check_frameworks(args.frameworks)
    data = recipe.load(data_dir=args.data_dir, offline=args.offline)
    frameworks.configure_threads(args.threads if args.threads else frameworks.default_threads(spec))
    if not args.quiet:
        print(f"recipe {recipe.name}: {recipe.summary}")
        from .tables import spec_table
        print(spec_table(spec, args.frameworks, data))
    bar = progress(total_steps(spec, len(data.X)))
    injected = bug_context(args.inject_bug)
    try:
        with injected:
            report = run(spec, data, args.frameworks, recipe=recipe.name, on_step=lambda r: bar.update(1),
                         notes=recipe.notes, keep_step=1 if args.html else None)
    finally:
        bar.close()
    if args.inject_bug:
        report.summary["injected_bug"] = args.inject_bug
    if args.json:
        write_json(report, args.json)
    if args.plot:
        from .plots import write_plot
        write_plot(report, args.plot)
    if args.html:
        from .html import write_html
        write_html(report, args.html, spec, data, args.every or recipe.every)
    print_report(report, args, recipe)
    if report.summary["interrupted"]:
        print(f"interrupted after {report.summary['steps_completed']} completed steps", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if report.passed else EXIT_MISMATCH


def bug_context(name):
    """A context manager that puts the named mistake into the scratch code (or does nothing)."""
    import contextlib

    if not name:
        return contextlib.nullcontext()
    from .bugs import inject
    return inject(name)


def print_report(report, args, recipe):
    from . import tables

    if not args.quiet:
        print()
        print(tables.step_table(report, args.every or recipe.every))
        print()
        print(tables.summary_table(report))
        for block in (tables.accuracy_table(report), tables.cross_lines(report)):
            if block:
                print()
                print(block)
        if report.final_outputs and len(report.final_outputs[report.runners[0]]) <= 12:
            print()
            print("final outputs on the evaluation inputs:")
            print(tables.outputs_table(report))
        if args.json:
            print(f"\nJSON report: {args.json}")
        print()
    print(tables.verdict_line(report))


@command("list", "list the recipes")
def list_recipes(argv):
    if argv:
        raise InputError(f"'list' takes no arguments, got {' '.join(argv)}")
    from tabulate import tabulate

    print(tabulate([(r.name, r.summary) for r in recipes.RECIPES.values()], headers=["recipe", "what it runs"],
                   tablefmt="simple"))
    return EXIT_OK


def usage():
    lines = ["usage: python -m compare RECIPE [options]    (python -m compare RECIPE --help)",
             "       python -m compare COMMAND", "", "commands:"]
    lines += [f"  {name:10s} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "recipes: " + ", ".join(recipes.RECIPES)]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    recipes.load_plugins()
    try:
        if not argv or argv[0] in ("-h", "--help"):
            print(usage())
            return EXIT_OK if argv else EXIT_INPUT
        if argv[0] in COMMANDS:
            return COMMANDS[argv[0]][0](argv[1:])
        return run_recipe(argv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:            # `python -m compare code | head`: the reader left; not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
