"""`python -m compare list`: the recipes, and the frameworks --frameworks and --against name (with the
pip extra each needs; nothing is imported: whether one is installed shows when a run asks for it)."""
from ..data import recipes
from ..engine.errors import EXIT_OK, InputError


def main(argv):
    if argv:
        raise InputError(f"'list' takes no arguments, got {' '.join(argv)}")
    from tabulate import tabulate

    from ..views.text import WIDTH

    rows = [(r.name, r.summary) for r in [recipes.get(n) for n in recipes.names()]]
    name = max(len(n) for n, _ in rows)            # each summary wrapped in its column: 100 wide
    print(tabulate(rows, headers=["recipe", "what it runs"], tablefmt="simple",
                   maxcolwidths=[None, WIDTH - name - 2]))
    print()
    print(frameworks_table(WIDTH))
    return EXIT_OK


def frameworks_table(width):
    """The built-in implementations: name, the pip extra that brings it, what it runs."""
    from tabulate import tabulate

    from ..engine.registry import BUILTIN

    rows = [(e.name, f".[{e.install}]" if e.install else "(core)", e.description) for e in BUILTIN]
    headers = ["framework", "pip extra", "what runs (--frameworks, --against)"]
    # tabulate pads a column with headers to its widest cell + 2; two spaces between columns
    used = sum(max(len(h), *(len(r[i]) for r in rows)) + 2 + 2 for i, h in enumerate(headers[:2]))
    return tabulate(rows, headers=headers, tablefmt="simple", maxcolwidths=[None, None, width - used])


