"""`python -m compare RECIPE [options]`: train a recipe in lockstep, print the tables and the verdict."""
import json
import sys

from ..data import recipes
from ..engine.errors import EXIT_INTERRUPTED, EXIT_MISMATCH, EXIT_OK, one_line
from ..engine.spec import DTYPES, OPTIMIZERS, REDUCTIONS
from .child import say, send
from .common import add_output_options, add_rule_options, load_data, Parser, finite_float, frameworks_list, positive_int, progress, resolve_spec, total_steps


def recipe_parser():
    p = Parser(prog="python -m compare RECIPE", description="Train a recipe in NumPy, PyTorch, Keras and JAX in lockstep.")
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
    add_rule_options(p)
    add_network_options(p)
    p.add_argument("--frameworks", type=frameworks_list, default=("scratch", "torch", "keras"),
                   help="comma-separated subset of scratch,torch,keras,jax (default scratch,torch,keras; jax needs '.[jax]')")
    p.add_argument("--inject-bug", metavar="NAME", help="run with a classic mistake in the scratch code (python -m compare bugs)")
    return add_output_options(p)


def add_network_options(p):
    """What the network computes: --activation, --slope and the loss's options."""
    p.add_argument("--activation", metavar="NAME",
                   help="the activation of every hidden layer (python -m compare kinks lists them)")
    p.add_argument("--slope", type=finite_float, help="leaky_relu's negative slope (default: torch 0.01, Keras 0.2)")
    add_loss_options(p)
    add_layer_options(p)
    return p


def add_loss_options(p, default="default: the recipe's"):
    """--loss, --reduction, --label-smoothing, --delta, --probabilities (scratch/losses.py).
    default: what the command takes when --loss is not given, in words."""
    from scratch.losses import LOSSES

    p.add_argument("--loss", help=f"one of {', '.join(LOSSES)} (Keras's names; {default})")
    p.add_argument("--reduction", help=f"one of {', '.join(REDUCTIONS)} (default mean; batchmean: kld only)")
    p.add_argument("--label-smoothing", type=finite_float, help="cross-entropies: smooth the targets by X in [0, 1]")
    p.add_argument("--delta", type=finite_float, help="huber's delta (smooth_l1: torch's beta)")
    p.add_argument("--probabilities", action="store_true",
                   help="cross-entropies read the output probabilities (each framework's clipping), not the logits")
    return p


def add_layer_options(p):
    """--dropout, --norm, --norm-momentum, --norm-eps (scratch/layers.py)."""
    p.add_argument("--dropout", type=finite_float, metavar="RATE",
                   help="drop rate after every hidden activation (the same masks for all three)")
    p.add_argument("--norm", choices=("batch", "layer"), help="normalize every hidden Dense's output before its "
                   "activation (BatchNorm1d/BatchNormalization or LayerNorm/LayerNormalization)")
    p.add_argument("--norm-momentum", type=finite_float, help="batch norm momentum in torch's meaning (Keras gets "
                   "1 - X; default: torch 0.1, Keras 0.99 in its own)")
    p.add_argument("--norm-eps", type=finite_float, help="added to the variance (default: torch 1e-5, Keras 1e-3)")
    return p


def main(argv):
    args = recipe_parser().parse_args(argv)
    recipe = recipes.get(args.recipe)
    spec = resolve_spec(recipe, args)
    if args.inject_bug is not None:                 # before any framework is imported
        from ..data.bugs import check_applies
        check_applies(args.inject_bug, spec, f"recipe {recipe.name}")
    from ..views.files import check_targets

    check_targets({"json": None if args.json == "-" else args.json, "plot": args.plot, "html": args.html})
    from ..engine import frameworks, worker

    threads = args.threads if args.threads else frameworks.default_threads(spec)
    if threads == 1 and "jax" in args.frameworks:   # before JAX starts, here and in the worker (frameworks.py)
        frameworks.single_threaded_xla()
    remote = worker.remote_frameworks(args.frameworks) if worker.wanted(args.frameworks, threads, args.inject_bug) else ()
    if remote:                                      # Keras imports (and later steps) in a process of its own
        prepare(worker.start(remote), spec, args.frameworks)
    try:
        with json_to_stdout(args):
            return run_recipe(recipe, spec, args, threads, remote)
    finally:
        worker.discard_pending()                    # a run that ended before it took the worker


def prepare(remote, spec, names):
    """Have the worker build its runners (Keras's conventions) right after its imports: the spec,
    and so the initial parameters, are known before the data is. The harness's own build request
    then finds them built (worker.py checks that they are the same)."""
    from ..engine import registry
    from ..engine.harness import plan

    subjects = [registry.get(n) for n in names if n == "scratch"]
    runners, _ = plan(spec, subjects, [registry.get(n) for n in names if n != "scratch"])
    remote.prepare({k: r for k, r in runners.items() if r.convention in remote.frameworks}, spec)


def run_recipe(recipe, spec, args, threads, remote):
    """main's work once the options are checked (remote: what the worker process imports)."""
    from ..engine import frameworks
    from ..engine.run import check_frameworks, run

    if args.plot:                                   # optional pieces: checked before any training
        frameworks.require_optional("--plot", ("matplotlib",), "plot")
    if args.html:
        frameworks.require_optional("--html", ("pygments", "matplotlib"), "html")
    loading = background(lambda: load_data(recipe, args))
    check_frameworks(args.frameworks, remote=remote)  # imports torch and TensorFlow (seconds) while the data loads
    frameworks.warm_up(args.frameworks)
    if remote:                                      # loaded while this process waits for the data and the worker
        from ..engine.check import load_kernel_in_background
        load_kernel_in_background()
    data = loading()
    frameworks.configure_threads(threads, [f for f in args.frameworks if f not in remote])
    if not args.quiet:
        print_header(recipe, spec, args, data)
    bar = progress(total_steps(spec, len(data.X)), quiet=args.quiet)
    injected = bug_context(args.inject_bug)
    try:
        with injected:
            report = run(spec, data, args.frameworks, recipe=recipe.name, on_step=lambda r: bar.update(1),
                         notes=recipe.notes, keep_step=1 if args.html else None)
    finally:
        bar.close()
    if args.inject_bug:
        report.summary["injected_bug"] = args.inject_bug
    if data.info:
        report.config["data"] = dict(data.info)     # where the data came from (MNIST: source, origin)
    report.evaluation_inputs = data.X_eval.tolist()
    return finish(report, args, args.every or recipe.every, spec, data)


def finish(report, args, every, spec, data):
    """Write the files asked for, print the tables and the verdict; a file that could not be
    written is one more line on stderr after the verdict, and exit 2 (130 stays 130). -> exit code"""
    import argparse

    from ..engine.errors import EXIT_INPUT, InputError
    from ..views.files import write_json

    def plot(path):
        from ..views.plots import write_plot
        write_plot(report, path)

    def html(path):
        from ..views.html import write_html
        write_html(report, path, spec, data, every)

    failed = {}                                     # option -> why its file was not written
    for what, writer in (("json", lambda path: write_json(report, path)), ("plot", plot), ("html", html)):
        path = getattr(args, what)
        if path is not None and path != "-":
            try:
                writer(path)
            except InputError as error:             # disk full, file too large, matplotlib missing
                failed[what] = str(error)
            else:
                send(written=what)                  # check's child: its supervisor leaves the file alone
    shown = argparse.Namespace(**{**vars(args), "json": None if "json" in failed else args.json})
    print_report(report, shown, every)
    sys.stdout.flush()                              # the verdict first, then what went wrong
    for what, why in failed.items():
        say(f"error: --{what} {one_line(why)}", sys.stderr)
    code = exit_code(report)
    if args.json == "-":                            # the JSON last, alone on the standard output
        args.json_stdout.write(json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
        args.json_stdout.flush()
    return EXIT_INPUT if failed and code != EXIT_INTERRUPTED else code


def json_to_stdout(args):
    """`--json -`: the report goes to the standard output, alone; everything else printed while
    the context lasts (the tables, the verdict, a user's prints) goes to the standard error."""
    import contextlib

    if args.json != "-":
        return contextlib.nullcontext()
    args.json_stdout = sys.stdout
    return contextlib.redirect_stdout(sys.stderr)


def exit_code(report):
    """0 pass; 130 interrupted (with one line on stderr); 1 every other verdict."""
    if report.verdict == "interrupted":
        say(f"interrupted after {report.summary['steps_completed']} completed steps", sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if report.passed else EXIT_MISMATCH


def background(load):
    """Run load() on a daemon thread (reading and scaling MNIST mostly runs outside the interpreter
    lock, in zlib and NumPy, so it overlaps the framework imports). -> wait(): load's value, or
    its exception raised here, in the caller's thread"""
    import threading

    box = {}

    def target():
        try:
            box["value"] = load()
        except BaseException as error:              # noqa: BLE001 - handed to the caller as it is
            box["error"] = error

    thread = threading.Thread(target=target, name="load-data", daemon=True)
    thread.start()

    def wait():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]
    return wait


def bug_context(name):
    """A context manager that puts the named mistake into the scratch code (or does nothing)."""
    import contextlib

    if name is None:
        return contextlib.nullcontext()
    from ..data.bugs import inject
    return inject(name)


def print_header(recipe, spec, args, data):
    """The recipe's name with the spec it runs (overrides applied), the config table, the notes."""
    from ..views import tables

    print(tables.wrap(f"recipe {recipe.name}: {tables.spec_line(spec)}"))
    print(tables.spec_table(spec, args.frameworks, data))
    if recipe.notes:
        print()
        print(tables.notes_lines(recipe.notes))


def print_report(report, args, every):
    """The tables (unless --quiet) and the verdict line; 100 columns wide unless --wide."""
    from ..views import tables

    wide = getattr(args, "wide", False)
    if not args.quiet:
        print()
        print(tables.step_table(report, every, wide=wide))
        print()
        print(tables.summary_table(report, wide=wide))
        for block in (tables.accuracy_table(report), tables.cross_lines(report), tables.rounding_lines(report),
                      tables.not_compared_lines(report)):
            if block:
                print()
                print(block)
        if report.final_outputs and len(next(iter(report.final_outputs.values()))) <= 12:
            print()
            print("final outputs on the evaluation inputs (after the last step):")
            print(tables.outputs_table(report, wide=wide))
        if args.json:
            shown = getattr(args, "json_shown", None) or ("standard output" if args.json == "-" else args.json)
            print(f"\nJSON report: {shown}")
        print()
    say(tables.verdict_text(report, wide), verdict=report.verdict)


