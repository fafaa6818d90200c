"""`python -m compare code [part]`: the scratch, torch and Keras source side by side
(compare/views/sidebyside.py lines them up)."""
from ..engine.errors import EXIT_OK
from ..views.sidebyside import PARTS, code_text
from .common import Parser, positive_int


def main(argv):
    p = Parser(prog="python -m compare code")
    p.add_argument("part", nargs="?", default="all", help=f"one of {', '.join(PARTS)}, all (default)")
    p.add_argument("--width", type=positive_int, help="characters per line (default: the terminal's)")
    args = p.parse_args(argv)
    print(code_text(args.part, args.width))
    return EXIT_OK
