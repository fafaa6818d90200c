"""`python -m compare code [part]`: the scratch, torch and Keras source side by side
(compare/views/sidebyside.py lines them up); `code adam`, `code schedule-step`: a training rule's
update in scratch beside torch's and Keras's own source."""
from ..engine.errors import EXIT_OK
from ..views.sidebyside import LAYER_SOURCES, PARTS, RULE_SOURCES, code_text
from .common import Parser, positive_int


def main(argv):
    p = Parser(prog="python -m compare code")
    p.add_argument("part", nargs="?", default="all",
                   help=f"one of {', '.join(PARTS)}, all (default), a conv layer: "
                        f"{', '.join(LAYER_SOURCES)}, or a training rule: "
                        f"{', '.join(RULE_SOURCES)}")
    p.add_argument("--width", type=positive_int,
                   help="characters per line (default: the terminal's, 100 when piped); long "
                        "source lines wrap at token boundaries, continuations indented")
    p.add_argument("--wide", action="store_true",
                   help="no line wrapped: three columns as wide as the longest source line")
    args = p.parse_args(argv)
    print(code_text(args.part, args.width, args.wide))
    return EXIT_OK
