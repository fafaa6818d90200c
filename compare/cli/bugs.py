"""`python -m compare bugs [--json PATH]`: the classic mistakes --inject-bug can put in."""
import json

from ..data.bugs import BUGS
from ..engine.errors import EXIT_OK
from ..views.files import check_writable, write_atomic
from .common import Parser, report_path


def where_text(expected):
    text = f"step {expected['step']}, layer {expected['layer']}, {expected['tensor']}"
    return text + (f" (raises {expected['raises']})" if "raises" in expected else "")


def main(argv):
    from tabulate import tabulate

    p = Parser(prog="python -m compare bugs", description="The classic mistakes --inject-bug can put in.")
    p.add_argument("--json", metavar="PATH", type=report_path, help="write the list as JSON: name, what, recipe, expected, diagnosis")
    args = p.parse_args(argv)
    if args.json is not None:
        check_writable(args.json, "json")
        listing = [b.listing() for b in BUGS.values()]
        write_atomic(args.json, lambda f: json.dump(listing, f, indent=1))
    rows = [(b.name, b.recipe, where_text(b.expected), b.what) for b in BUGS.values()]
    print(tabulate(rows, headers=["bug", "recipe", "expected first divergence", "the mistake"], tablefmt="simple"))
    print("\nrun one: python -m compare RECIPE --inject-bug NAME   (exits 1 and names the first divergence)")
    return EXIT_OK
