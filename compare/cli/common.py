"""What every command shares: the argument parser whose errors are one line, the option types,
a recipe's spec with the command-line overrides applied, and the progress bar."""
import argparse
import dataclasses
import math
import sys

from ..engine.errors import InputError

MAX_THREADS = 1024        # --threads above this overflows torch's thread pool (a C int) long before it helps


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

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


