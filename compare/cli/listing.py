"""`python -m compare list`: the recipes."""
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
    return EXIT_OK


