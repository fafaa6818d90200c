"""`python -m compare trace RECIPE [--step N] [--example I] [--full]`: one step as a worked example
(compare/views/trace.py prints it)."""
import json

import numpy as np

from ..data import recipes
from ..engine import registry
from ..engine.errors import EXIT_MISMATCH, EXIT_OK, InputError
from ..engine.harness import lockstep
from ..engine.report import jsonable
from ..engine.run import check_data, check_frameworks
from ..views.files import check_targets, write_atomic
from ..views.trace import print_trace
from .common import Parser, add_data_options, add_rule_options, load_data, report_path, finite_float, frameworks_list, positive_int, resolve_spec
from .run import add_network_options


def main(argv):
    p = Parser(prog="python -m compare trace RECIPE")
    p.add_argument("recipe")
    p.add_argument("--step", type=positive_int, default=1, help="which step (default 1)")
    p.add_argument("--example", type=int, help="show only this example (column) of Z, A, dZ")
    p.add_argument("--full", action="store_true",
                   help="every implementation's values side by side, large tensors whole (a "
                        "matrix row on one line: as wide as the tensor, the one output wider "
                        "than 100 columns)")
    p.add_argument("--frameworks", type=frameworks_list, default=("scratch", "torch", "keras"))
    add_data_options(p)
    p.add_argument("--json", metavar="PATH", type=report_path, help="write the traced numbers as JSON")
    p.add_argument("--optimizer", help="override the recipe's optimizer (python -m compare RECIPE --help lists them)")
    p.add_argument("--lr", type=finite_float, help="override the learning rate")
    p.add_argument("--momentum", type=finite_float, help="override SGD's momentum")
    p.add_argument("--batch-size", type=positive_int, help="override the batch size")
    p.add_argument("--dtype", help="float64 (default) or float32")
    p.add_argument("--seed", type=int, help="override the seed")
    add_rule_options(p)
    add_network_options(p)
    args = p.parse_args(argv)
    if args.example is not None and args.example < 0:
        raise InputError(f"--example must be >= 0, got {args.example}")
    recipe = recipes.get(args.recipe)
    spec = resolve_spec(recipe, args, steps=args.step)
    if args.json is not None:
        check_targets({"json": args.json})
    if len(args.frameworks) == 1:               # a worked example needs no second implementation (runs do)
        entry = registry.require(args.frameworks[0])
        subjects, references = ([entry], []) if entry.name == "scratch" else ([], [entry])
    else:
        subjects, references = check_frameworks(args.frameworks)
    data = load_data(recipe, args)
    check_data(spec, data)
    out = lockstep(spec, data, subjects, references, keep_step=args.step)
    if "kept" not in out:
        raise InputError(f"the run stopped before step {args.step} (non-finite value or error)")
    numbers = print_trace(recipe, spec, out["kept"], out["keys"], args.step, args.example, args.full)
    from ..views.tables import data_caveat
    if data_caveat(data.info):                      # --allow-other-data: say what the numbers were computed on
        print(f"data: {data_caveat(data.info)}")
    if args.json is not None:
        document = {"recipe": recipe.name, "step": args.step, "example": args.example, "runners": out["keys"],
                    "tensors": {name: {k: np.asarray(v).tolist() for k, v in values.items()}
                                for name, values in numbers.items()}}
        if data_caveat(data.info):
            document["data"] = dict(data.info)
        write_atomic(args.json, lambda f: json.dump(jsonable(document), f, indent=1))
    diverged = out["first_divergence"] is not None and out["first_divergence"]["step"] <= args.step
    return EXIT_MISMATCH if diverged else EXIT_OK
