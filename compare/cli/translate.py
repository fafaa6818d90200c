"""`python -m compare translate --from torch|keras [RECIPE] [training options]`: the other framework's
settings that compute the same thing, printed as code, then proven by training both in lockstep.

Exit 0 when the two agree at the spec's tolerance (float64: 1e-9) at every step; 1 when they do
not (the rules that are not exact named, the measured distance, and the source-side change that
makes the port exact, itself proven), or when the target has no such rule (Lion into torch);
2 for an input mistake. The options are the recipe command's (compare/cli/run.py), the recipe
toy3 and 100 steps unless given.

Left out: the rules themselves (compare/engine/translate.py), the proof (compare/engine/proof.py),
the code printed (compare/views/port_code.py).
"""
import dataclasses
import json
import sys

from ..data import recipes
from ..engine.errors import EXIT_MISMATCH, EXIT_OK, InputError
from ..engine.translate import complement
from .common import load_data, resolve_spec
from .run import recipe_parser

DEFAULT_RECIPE = "toy3"
DEFAULT_STEPS = 100
NOT_HERE = ("--frameworks", "--inject-bug", "--plot", "--html", "--every", "--wide")


def parser():
    """The recipe command's parser, with RECIPE optional and --from added."""
    p = recipe_parser()
    p.prog = "python -m compare translate"
    p.description = "Translate training settings between torch and Keras, and prove the translation."
    for action in p._actions:                       # argparse has no public way to relax a positional
        if action.dest == "recipe":
            action.nargs, action.default = "?", DEFAULT_RECIPE
        if action.dest == "norm_momentum":          # read in the --from framework's words (read_spec)
            action.help = ("batch norm momentum in the --from framework's words: torch's the new batch's weight "
                           "(default 0.1), Keras's the old average's (default 0.99)")
    p.add_argument("--from", dest="source", required=True, choices=("torch", "keras"),
                   help="the framework whose terms the settings are in")
    return p


def read_spec(args, recipe):
    """The recipe's spec with the options applied, as the --from framework means them: with
    --from keras, --weight-decay is Keras's (decoupled) and --norm-momentum is BatchNormalization's
    (the old average's weight: torch's is 1 - it, taken in decimals, so 0.1 is torch's 0.9 and is
    printed back as 0.1). Schedules: compare/engine/translate.py from_keras_terms."""
    if args.source == "keras" and args.decay is None and args.weight_decay:
        args.decay = "decoupled"                     # Keras's weight_decay is decoupled
    if args.source == "keras" and args.norm_momentum is not None:
        if not 0 <= args.norm_momentum <= 1:
            raise InputError(f"--norm-momentum {args.norm_momentum:g}: BatchNormalization's momentum is in [0, 1]")
        args.norm_momentum = complement(args.norm_momentum)      # the spec's meaning is torch's
    steps = None if (args.steps is not None or args.epochs is not None) else DEFAULT_STEPS
    return resolve_spec(recipe, args, steps=steps)


def main(argv):
    given = [a.split("=")[0] for a in argv]
    for option in NOT_HERE:
        if option in given:
            raise InputError(f"translate does not take {option}: it runs torch and Keras only, and prints its proof")
    args = parser().parse_args(argv)
    recipe = recipes.get(args.recipe)
    spec = read_spec(args, recipe)
    if args.json:
        from ..views.files import check_targets
        check_targets({"json": args.json})
    from ..engine.translate import translate

    translation = translate(spec, args.source)
    from ..engine import frameworks, registry

    for framework in ("torch", "keras"):                # missing: one line, exit 2, before anything is printed
        registry.require(framework)
    data = load_data(recipe, args)
    from ..engine.proof import prove

    frameworks.configure_threads(args.threads or 1, ("torch", "keras"))
    print_translation(translation, recipe.name, spec)
    result = {"command": "translate", "recipe": recipe.name, "from": args.source, "to": translation.target,
              "translation": as_json(translation), "proof": None, "fix": None}
    from ..views.tables import data_caveat
    if data_caveat(data.info):                          # --allow-other-data: the proof ran on other data
        print(f"data: {data_caveat(data.info)}")
        result["data"] = dict(data.info)
    if not translation.provable:
        rows = [row for row in translation.rows if row.kind == "none"]
        print(f"NOT PROVEN: {'; '.join(f'{r.rule}: {r.why}' for r in rows)}: nothing in {translation.target} "
              f"to run, nothing to measure")
        return finish(result, args, EXIT_MISMATCH)
    proof = prove(translation, data)
    result["proof"] = proof.to_dict()
    print()
    print(verdict_line(translation, proof, recipe.name))
    if proof.passed or not translation.fix:
        return finish(result, args, EXIT_OK if proof.passed else EXIT_MISMATCH)
    fixed = translate(dataclasses.replace(spec, **translation.fix).validate(), args.source)
    fixed_proof = prove(fixed, data)
    words = "; ".join(row.fix_words for row in translation.rows if row.fix)
    result["fix"] = {"changes": translation.fix, "words": words, "translation": as_json(fixed),
                     "proof": fixed_proof.to_dict()}
    print(fix_line(translation, fixed, fixed_proof, words))
    return finish(result, args, EXIT_MISMATCH)


def print_translation(translation, recipe, spec):
    from ..views.port_code import code_lines, keras_code, rules_table, torch_code, wrap

    source, target = translation.source, translation.target
    print(f"translate {recipe} from {source} to {target} ({spec.dtype}, {translation.specs[source].steps} steps)")
    for framework in (source, target):
        side = translation.specs[framework]
        print(f"\n{framework}{' (the translation)' if framework == target else ''}:")
        if framework == "torch" and side.optimizer == "lion":
            print("    # nothing: torch.optim has no Lion")
            continue
        code = torch_code(side) if framework == "torch" else keras_code(side)
        for line in code_lines(code, framework):
            print("\n".join("    " + part for part in wrap(line)))
    print()
    print(rules_table(translation.rows, source, target))
    for row in translation.rows:                  # what an exact rule still leaves out of the comparison
        if row.kind == "exact" and row.why:
            print("\n".join(wrap(f"note, {row.rule}: {row.why}")))
    for row in translation.rows:
        if row.kind != "exact":
            print(f"  {row.rule}: {row.why}")


def verdict_line(translation, proof, recipe):
    from ..views.port_code import short_name

    torch, keras = (short_name(translation.specs[f], f) for f in ("torch", "keras"))
    clip = f"; the clipping acted in {proof.clip_acted} of {proof.steps} steps" if proof.clip_acted is not None else ""
    measured = f"worst relative error {proof.worst_rel:.2g}"
    if proof.passed:
        return (f"PROVEN: torch {torch} == keras {keras} over {proof.steps} steps of {recipe}, "
                f"{measured} <= {proof.rtol:g}{clip}")
    inexact = [f"{row.rule} ({row.why})" for row in translation.rows if row.kind != "exact"]
    first = proof.first
    where = (f"{measured} at step {proof.worst_step} ({proof.worst_tensor}), first above {proof.rtol:g} at step "
             f"{first['step']} ({first['tensor']}, {first['max_rel_err']:.2g})") if first else measured
    why = f"not exact: {'; '.join(inexact)}" if inexact else "every rule exact, yet they differ"
    problem = f"{proof.problem}; " if proof.problem else ""
    return f"NOT PROVEN: torch {torch} vs keras {keras} over {proof.steps} steps of {recipe}: {problem}{where}; {why}{clip}"


def fix_line(translation, fixed, proof, words):
    """What the source-side change gives, measured."""
    side = f"in {translation.source}"
    if proof.passed:
        return (f"exact with {words} {side}: PROVEN over {proof.steps} steps, worst relative error "
                f"{proof.worst_rel:.2g} <= {proof.rtol:g}")
    left = [row.rule for row in fixed.rows if row.kind != "exact"]
    return (f"with {words} {side}: still NOT PROVEN, worst relative error {proof.worst_rel:.2g} at step "
            f"{proof.worst_step} ({', '.join(left) or 'no rule named'})")


def as_json(translation):
    from ..views.port_code import keras_code, torch_code

    return {"specs": {f: spec.to_dict() for f, spec in translation.specs.items()},
            "rules": [dataclasses.asdict(row) for row in translation.rows],
            "code": {"torch": torch_code(translation.specs["torch"]) if translation.provable else None,
                     "keras": keras_code(translation.specs["keras"])}}


def finish(result, args, code):
    result["exit_code"] = code
    if args.json:
        from ..views.files import write_atomic
        write_atomic(args.json, lambda f: json.dump(result, f, indent=1, default=str))
        print(f"JSON: {args.json}")
    sys.stdout.flush()
    return code
