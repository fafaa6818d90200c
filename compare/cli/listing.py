"""`python -m compare list`: the recipes."""
from ..data import recipes
from ..engine.errors import EXIT_OK, InputError


def main(argv):
    if argv:
        raise InputError(f"'list' takes no arguments, got {' '.join(argv)}")
    from tabulate import tabulate

    print(tabulate([(r.name, r.summary) for r in [recipes.get(n) for n in recipes.names()]], headers=["recipe", "what it runs"],
                   tablefmt="simple"))
    return EXIT_OK


