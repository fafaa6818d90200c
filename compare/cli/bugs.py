"""`python -m compare bugs [--json PATH]`: the classic mistakes --inject-bug can put in."""
import json
import textwrap

from ..data.bugs import BUGS
from ..engine.errors import EXIT_OK
from ..views.files import check_writable, write_atomic
from .common import Parser, report_path

WIDTH = 100             # the listing's columns: each mistake wrapped to them


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
    rows = [(b.name, b.recipe, where_text(b.expected)) for b in BUGS.values()]
    table = tabulate(rows, headers=["bug", "recipe", "expected first divergence"],
                     tablefmt="simple")
    head, rule, *lines = table.splitlines()
    print(f"{head.rstrip()}\n    the mistake\n{rule}")        # within WIDTH columns: each mistake
    for line, bug in zip(lines, BUGS.values()):              # on the lines under its bug, wrapped
        print(line.rstrip())
        print(textwrap.fill(bug.what, WIDTH, initial_indent=" " * 4, subsequent_indent=" " * 4,
                            break_on_hyphens=False))
    print("\nrun one: python -m compare RECIPE --inject-bug NAME   (exits 1 and names the first divergence)")
    return EXIT_OK
