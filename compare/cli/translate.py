"""`python -m compare translate --from torch|keras|jax [--to torch|keras|jax] [RECIPE] [training options]`:
the target framework's settings that compute the same thing, printed as code, then proven by training
both in lockstep. torch and Keras translate into each other unless --to says otherwise; JAX (Optax and
Flax) is always named: `--from torch --to jax`, `--from jax --to keras`.

Exit 0 when the two agree at the spec's tolerance (float64: 1e-9) at every step; 1 when they do
not (the rules that are not exact named, the measured distance, and the source-side change that
makes the port exact, itself proven), or when the target has no such rule (Lion into torch);
2 for an input mistake. The options are the recipe command's (compare/cli/run.py), the recipe
toy3 and 100 steps unless given.

One conv network layer instead (issue 20), when a layer option is given: `--padding same --stride
2 --from keras`, `--pool max|avg [--ceil-mode] [--count-include-pad false]`, `--flatten`,
`--batchnorm2d [--norm-momentum M --norm-eps E]`, with `--kernel`, `--input-shape C,H,W`: the other
framework's layers printed as code and proven by running both on one random float64 input
(compare/engine/translate_layers.py): torch and Keras only. Exit 0 when the translation is exact and
proven; 1 when it is the closest form (its distance measured, the exact form proven beside it); 2 for
a mistake.

Left out: the rules themselves (compare/engine/translate.py), the proof (compare/engine/proof.py),
the code printed (compare/views/port_code.py).
"""
import dataclasses
import json
import sys

from ..data import recipes
from ..engine.errors import EXIT_MISMATCH, EXIT_OK, InputError
from ..engine.translate import FRAMEWORKS, complement
from .common import load_data, resolve_spec
from .run import recipe_parser

DEFAULT_RECIPE = "toy3"
DEFAULT_STEPS = 100
NOT_HERE = ("--frameworks", "--inject-bug", "--plot", "--html", "--every")


def parser():
    """The recipe command's parser, with RECIPE optional and --from added."""
    p = recipe_parser()
    p.prog = "python -m compare translate"
    p.description = "Translate training settings between torch, Keras and JAX, and prove the translation."
    p.epilog = ("One conv network layer instead: --padding, --stride, --kernel, --input-shape, "
                "--pool, --ceil-mode, --count-include-pad, --flatten, --batchnorm2d (e.g. --from "
                "keras --padding same --stride 2).")
    for action in p._actions:                       # argparse has no public way to relax a positional
        if action.dest == "recipe":
            action.nargs, action.default = "?", DEFAULT_RECIPE
        if action.dest == "norm_momentum":          # read in the --from framework's words (read_spec)
            action.help = ("batch norm momentum in the --from framework's words: torch's the new batch's weight "
                           "(default 0.1), Keras's and Flax's the old average's (default 0.99)")
    p.add_argument("--from", dest="source", required=True, choices=FRAMEWORKS,
                   help="the framework whose terms the settings are in")
    p.add_argument("--to", dest="target", choices=FRAMEWORKS,
                   help="the framework to translate into (default: keras from torch, torch from keras)")
    return p


def read_spec(args, recipe):
    """The recipe's spec with the options applied, as the --from framework means them: with
    --from keras, --weight-decay is Keras's (decoupled); with --from keras or jax --norm-momentum is
    BatchNormalization's or nnx.BatchNorm's (the old average's weight: torch's is 1 - it, taken in
    decimals, so 0.1 is torch's 0.9 and is printed back as 0.1). Schedules: compare/engine/translate.py
    from_source_terms."""
    from scratch.conventions import as_convention

    S = as_convention(args.source)
    if not S.weight_decay_coupled and args.decay is None and args.weight_decay:
        args.decay = "decoupled"                     # Keras's weight_decay is decoupled
    if not S.norm_momentum_weights_new and args.norm_momentum is not None:
        if not 0 <= args.norm_momentum <= 1:
            raise InputError(f"--norm-momentum {args.norm_momentum:g}: {S.framework}'s batch norm momentum is in "
                             "[0, 1]")
        args.norm_momentum = complement(args.norm_momentum)      # the spec's meaning is torch's
    steps = None if (args.steps is not None or args.epochs is not None) else DEFAULT_STEPS
    return resolve_spec(recipe, args, steps=steps)


def main(argv):
    given = [a.split("=")[0] for a in argv]
    if any(option in given for option in LAYER_OPTIONS):     # one conv network layer, proven alone
        return layer_main(argv)
    for option in NOT_HERE:
        if option in given:
            raise InputError(f"translate does not take {option}: it runs the two frameworks only, and prints its proof")
    args = parser().parse_args(argv)
    recipe = recipes.get(args.recipe)
    spec = read_spec(args, recipe)
    if args.json:
        from ..views.files import check_targets
        check_targets({"json": args.json})
    from ..engine.translate import translate

    translation = translate(spec, args.source, args.target)
    from ..engine import frameworks, registry

    for framework in translation.frameworks:        # missing: one line, exit 2, before anything is printed
        registry.require(framework)
    data = load_data(recipe, args)
    from ..engine.proof import prove

    frameworks.configure_threads(args.threads or 1, translation.frameworks)
    from ..views.text import hang

    def say(text, indent=""):               # 100 columns, continuations indented; --wide: as is
        print(hang(text, indent=indent) if not args.wide else indent + text)
    print_translation(translation, recipe.name, spec, say)
    result = {"command": "translate", "recipe": recipe.name, "from": args.source, "to": translation.target,
              "translation": as_json(translation), "proof": None, "fix": None}
    from ..views.tables import data_caveat
    if data_caveat(data.info):                          # --allow-other-data: the proof ran on other data
        say(f"data: {data_caveat(data.info)}")
        result["data"] = dict(data.info)
    if not translation.provable:
        rows = [row for row in translation.rows if row.kind == "none"]
        say(f"NOT PROVEN: {'; '.join(f'{r.rule}: {r.why}' for r in rows)}: nothing in "
            f"{translation.target} to run, nothing to measure")
        return finish(result, args, EXIT_MISMATCH)
    proof = prove(translation, data)
    result["proof"] = proof.to_dict()
    print()
    say(verdict_line(translation, proof, recipe.name))
    if proof.passed or not translation.fix:
        return finish(result, args, EXIT_OK if proof.passed else EXIT_MISMATCH)
    fixed = translate(dataclasses.replace(spec, **translation.fix).validate(), args.source, translation.target)
    fixed_proof = prove(fixed, data)
    words = "; ".join(row.fix_words for row in translation.rows if row.fix)
    result["fix"] = {"changes": translation.fix, "words": words, "translation": as_json(fixed),
                     "proof": fixed_proof.to_dict()}
    say(fix_line(translation, fixed, fixed_proof, words))
    return finish(result, args, EXIT_MISMATCH)


def print_translation(translation, recipe, spec, say=lambda text, indent="": print(indent + text)):
    """The code of both sides, the rules table and the notes; `say` prints a message (wrapped)."""
    from scratch.conventions import as_convention

    from ..views.port_code import code, code_lines, rules_table, wrap

    source, target = translation.source, translation.target
    say(f"translate {recipe} from {source} to {target} ({spec.dtype}, "
        f"{translation.specs[source].steps} steps)")
    for framework in (source, target):
        side = translation.specs[framework]
        print(f"\n{framework}{' (the translation)' if framework == target else ''}:")
        if side.optimizer not in as_convention(framework).optimizer_defaults:
            print("    # nothing: torch.optim has no Lion")
            continue
        for line in code_lines(code(side, framework), framework):
            print("\n".join("    " + part for part in wrap(line)))
        for row in translation.rows if framework == target else ():
            if row.exact_code:                  # the exact form the reference does not run
                print("\n".join("    " + part for part in wrap(f"# exact ({row.rule}): {row.exact_code}")))
    print()
    print(rules_table(translation.rows, source, target))
    for row in translation.rows:                  # what an exact rule still leaves out of the comparison
        if row.kind == "exact" and row.why:
            say(f"note, {row.rule}: {row.why}")
    for row in translation.rows:
        if row.kind != "exact":
            say(f"{row.rule}: {row.why}", "  ")


def verdict_line(translation, proof, recipe):
    from ..views.port_code import short_name

    a, b = translation.frameworks
    one, two = (f"{f} {short_name(translation.specs[f], f)}" for f in (a, b))
    clip = f"; the clipping acted in {proof.clip_acted} of {proof.steps} steps" if proof.clip_acted is not None else ""
    measured = f"worst relative error {proof.worst_rel:.2g}"
    if proof.passed:
        return (f"PROVEN: {one} == {two} over {proof.steps} steps of {recipe}, "
                f"{measured} <= {proof.rtol:g}{clip}")
    inexact = [f"{row.rule} ({row.why})" for row in translation.rows if row.kind != "exact"]
    first = proof.first
    where = (f"{measured} at step {proof.worst_step} ({proof.worst_tensor}), first above {proof.rtol:g} at step "
             f"{first['step']} ({first['tensor']}, {first['max_rel_err']:.2g})") if first else measured
    why = f"not exact: {'; '.join(inexact)}" if inexact else "every rule exact, yet they differ"
    problem = f"{proof.problem}; " if proof.problem else ""
    return f"NOT PROVEN: {one} vs {two} over {proof.steps} steps of {recipe}: {problem}{where}; {why}{clip}"


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
    from scratch.conventions import as_convention

    from ..views.port_code import code

    def written(framework):
        spec = translation.specs[framework]
        return code(spec, framework) if spec.optimizer in as_convention(framework).optimizer_defaults else None

    return {"specs": {f: spec.to_dict() for f, spec in translation.specs.items()},
            "rules": [dataclasses.asdict(row) for row in translation.rows],
            "code": {f: written(f) for f in translation.frameworks}}


def finish(result, args, code):
    result["exit_code"] = code
    if args.json:
        from ..views.files import write_atomic
        write_atomic(args.json, lambda f: json.dump(result, f, indent=1, default=str))
        print(f"JSON: {args.json}")
    sys.stdout.flush()
    return code


# ----- one layer's settings (issue 20): proven by running both frameworks' layers ----------------

LAYER_OPTIONS = ("--padding", "--stride", "--kernel", "--input-shape", "--filters", "--units",
                 "--pool", "--ceil-mode", "--count-include-pad", "--flatten", "--batchnorm2d")


def pair_of(text):
    """'3' -> (3, 3); '2,3' -> (2, 3)."""
    import argparse

    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N,M, got {text!r}") from None
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive N or N,M, got {text!r}")
    return values * (3 - len(values))


def padding_of(text):
    """'valid' | 'same' | P | PH,PW (torch's symmetric padding; 0 allowed)."""
    import argparse

    if text in ("valid", "same"):
        return text
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected valid, same, P or PH,PW, got {text!r}") \
            from None
    if len(values) not in (1, 2) or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected valid, same, P or PH,PW >= 0, got {text!r}")
    return values * (3 - len(values))


def shape_of(text):
    import argparse

    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W (positive), got {text!r}")
    return values


def layer_parser():
    from .common import Parser, finite_float, positive_int

    p = Parser(prog="python -m compare translate --from torch|keras [layer options]",
               description="Translate one conv network layer's settings; prove it by running both.")
    p.add_argument("--from", dest="source", required=True, choices=("torch", "keras"))
    p.add_argument("--wide", action="store_true",
                   help="messages on one line each (wider than 100 columns)")
    p.add_argument("--padding", type=padding_of,
                   help="valid | same | P | PH,PW (P: torch's, on both sides)")
    p.add_argument("--stride", type=pair_of, help="S or SH,SW (pooling: the window unless given)")
    p.add_argument("--kernel", type=pair_of,
                   help="the conv kernel or the pooling window (3; pooling 2)")
    p.add_argument("--input-shape", type=shape_of, default=(3, 8, 8), help="C,H,W (default 3,8,8)")
    p.add_argument("--filters", type=positive_int, default=4, help="conv output channels (4)")
    p.add_argument("--units", type=positive_int, default=5, help="the Dense after --flatten (5)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--pool", choices=("max", "avg"),
                      help="a pooling layer (torch MaxPool2d / AvgPool2d)")
    kind.add_argument("--flatten", action="store_true", help="a Flatten and the Dense after it")
    kind.add_argument("--batchnorm2d", action="store_true", help="batch norm over channels")
    p.add_argument("--ceil-mode", action="store_true", help="torch pooling's ceil_mode=True")
    p.add_argument("--count-include-pad", choices=("true", "false"),
                   help="torch AvgPool2d's (true)")
    p.add_argument("--norm-momentum", type=finite_float,
                   help="--batchnorm2d: in the --from framework's words (torch 0.1: the new "
                        "batch's weight; Keras 0.99: the old average's)")
    p.add_argument("--norm-eps", type=finite_float,
                   help="--batchnorm2d: eps (torch 1e-5, Keras 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="the random input's seed")
    p.add_argument("--json", metavar="PATH", help="write the translation and its proof as JSON")
    return p


def layer_settings(args):
    from ..engine.translate_layers import LayerSettings

    layer = f"{args.pool}_pool" if args.pool else "flatten" if args.flatten else \
        "batchnorm" if args.batchnorm2d else "conv"
    if (args.ceil_mode or args.count_include_pad) and not args.pool:
        raise InputError("--ceil-mode and --count-include-pad are pooling's: add --pool max|avg")
    if args.count_include_pad and args.pool == "max":
        raise InputError("--count-include-pad is average pooling's (--pool avg)")
    if (args.norm_momentum is not None or args.norm_eps is not None) and layer != "batchnorm":
        raise InputError("--norm-momentum and --norm-eps here are --batchnorm2d's")
    if args.norm_momentum is not None and not 0 <= args.norm_momentum <= 1:
        raise InputError(f"--norm-momentum {args.norm_momentum:g}: a momentum is in [0, 1]")
    given = dict(padding=args.padding, kernel=args.kernel, stride=args.stride,
                 momentum=args.norm_momentum, eps=args.norm_eps)
    given = {k: v for k, v in given.items() if v is not None}
    if layer in ("flatten", "batchnorm") and {"padding", "kernel", "stride"} & set(given):
        raise InputError(f"--padding, --kernel and --stride are conv and pooling settings, not "
                         f"{layer}'s")
    if layer.endswith("pool"):
        given.setdefault("kernel", (2, 2))
    if args.count_include_pad == "false" and args.source == "torch":
        given["count_include_pad"] = False
    if args.source == "keras" and (args.ceil_mode or args.count_include_pad):
        raise InputError("Keras's pooling has no ceil_mode or count_include_pad: torch settings "
                         "(--from torch)")
    return LayerSettings(layer, args.source, shape=args.input_shape, filters=args.filters,
                         units=args.units, ceil_mode=args.ceil_mode, seed=args.seed, **given)


def layer_main(argv):
    """Exit 0 when the translation is exact and proven (<= ROUNDING relative), 1 when it is the
    closest form only (its distance measured, the exact form beside it proven) or fails."""
    from ..engine import registry
    from ..engine.translate_layers import prove_layer, translate_layer

    args = layer_parser().parse_args(argv)
    if args.json:
        from ..views.files import check_targets
        check_targets({"json": args.json})
    translation = translate_layer(layer_settings(args))
    for framework in ("torch", "keras"):
        registry.require(framework)
    proofs = prove_layer(translation)
    print("\n".join(layer_report(translation, proofs, args.wide)))
    first = proofs[0]
    code = EXIT_OK if first.form.kind == "exact" and first.passed else EXIT_MISMATCH
    if args.json:
        from ..views.files import write_atomic
        document = {"command": "translate", "layer": translation.settings.layer,
                    "from": args.source, "to": translation.target,
                    "source": translation.source_words, "notes": translation.notes,
                    "forms": [form_json(p) for p in proofs], "exit_code": code}
        write_atomic(args.json, lambda f: json.dump(document, f, indent=1, default=str))
        print(f"JSON: {args.json}")
    sys.stdout.flush()
    return code


def form_json(proof):
    f = proof.form
    return {"rule": f.rule, "kind": f.kind, "why": f.why, "torch": f.torch, "keras": f.keras,
            "distances": {k: {"shape": list(s), "max_abs": d, "max_value": v}
                          for k, (s, d, v) in proof.distances.items()},
            "after_relu": proof.after_relu, "negative_inputs": proof.negative,
            "states": proof.states, "passed": proof.passed}


def layer_report(translation, proofs, wide=False):
    """The lines translate prints for one layer, each within 100 columns (`wide`: messages
    whole)."""
    import textwrap

    from ..engine.translate_layers import ROUNDING

    def wrap(text):
        if wide:
            return [text]
        indent = " " * (len(text) - len(text.lstrip()) + 2)
        return textwrap.wrap(text, 100, subsequent_indent=indent, break_on_hyphens=False)

    s, target = translation.settings, translation.target
    C, H, W = s.shape
    lines = wrap(f"translate {translation.source_words} from {s.source} to {target}") + [
        f"  (float64; input {s.examples} x {C} x {H} x {W}: NCHW in torch, NHWC in Keras)"]
    shown = set()
    for i, proof in enumerate(proofs):
        form = proof.form
        title = {"exact": "the translation" if i == 0 else "exact", "closest": "the closest",
                 "mistake": "a usual mistake"}[form.kind]
        if form.kind == "exact" and i > 0:
            title = "the exact form"
        for framework in (s.source, target):
            code = form.torch if framework == "torch" else form.keras
            if framework == s.source and (framework, tuple(code)) in shown:
                continue
            shown.add((framework, tuple(code)))
            words = title if framework == target else "as given"
            lines.append(f"\n{framework} ({form.rule}, {words}):" if framework == target
                         else f"\n{framework}:")
            lines += ["    " + line for line in code]
        if form.why:
            lines += wrap(f"    ({form.kind}: {form.why})")
    lines.append("")
    for note in translation.notes:
        lines += wrap(f"note: {note}")
    lines.append("\nproof: both run on one random input in [-1, 1), loss = sum(y G) for a random "
                 "G; float64")
    lines.append(f"  {'form':30} {'tensor':10} {'shape':16} {'max |torch - keras|':>19} "
                 f"{'/ max |value|':>14}")
    for proof in proofs:
        label = f"{proof.form.rule} ({proof.form.kind})"
        for name, (shape, d, scale) in proof.distances.items():
            lines.append(f"  {label:30} {name:10} {str(tuple(shape)):16} {d:19.2g} "
                         f"{d / (scale or 1):14.2g}")
            label = ""
        if proof.after_relu is not None:
            lines.append(f"  {'':30} {'output':10} {'after ReLU':16} {proof.after_relu:19.2g}")
            lines.append(f"  {'':30} {'output':10} {'inputs < 0':16} {proof.negative:19.2g}")
        for name, d in proof.states.items():
            lines.append(f"  {'':30} {name:10} {'after 1 step':16} {d:19.2g}")
    lines.append("")
    for proof in proofs:
        f, worst = proof.form, proof.worst
        if f.kind == "exact":
            word = "PROVEN" if proof.passed else "NOT PROVEN"
            exactly = ("identical: every distance 0" if worst == 0 else
                       f"equal up to rounding: worst {worst:.2g} of the tensor's largest |value|"
                       + (" <= " if proof.passed else " > ") + f"{ROUNDING:g}")
            lines += wrap(f"{word}: {f.rule}: torch and Keras {exactly}")
        elif f.kind == "closest":
            out = proof.distances["output"][1]
            relu = ""
            if proof.after_relu is not None:
                exact_there = ": exact there" if proof.after_relu == 0 else ""
                relu = (f", {proof.negative:.2g} on inputs < 0; after ReLU (inputs >= 0) "
                        f"{proof.after_relu:.2g}{exact_there}")
            lines += wrap(f"NOT EXACT: {f.rule} (closest): the output differs by {out:.2g} on "
                          f"random inputs{relu}; {f.why}")
        else:
            lines += wrap(f"MISTAKE measured: {f.why}: the output differs by "
                          f"{proof.distances['output'][1]:.2g}")
    return lines
