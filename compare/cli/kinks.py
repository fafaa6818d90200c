"""`python -m compare kinks [--json PATH]`: each activation's derivative at its kinks, in
scratch-as-torch, torch, scratch@keras and Keras, measured in float64 (compare/engine/kinks.py).
Exit 0 when every scratch value equals its framework's, 1 otherwise."""
import json

from ..engine.errors import EXIT_MISMATCH, EXIT_OK
from ..views.files import check_writable, write_atomic
from .common import Parser, report_path

WIDTHS = (12, 4, 19, 19, 19, 19)      # 92 columns with the separators and the mark


def cell(value):
    return f"{value:.17g}"


def table(rows):
    """The kink table as text, at most 100 columns; '*' marks torch and Keras disagreeing,
    '!' a scratch value that differs from its framework's."""
    head = ("activation", "z", "scratch", "torch", "scratch@keras", "keras")
    lines = [" ".join(h.ljust(w) for h, w in zip(head, WIDTHS)).rstrip(), " ".join("-" * w for w in WIDTHS)]
    for row in rows:
        cells = (row["activation"], f"{row['z']:g}", *(cell(row[c]) for c in head[2:]))
        mark = ("*" if row["frameworks_differ"] else " ") + (" !" if not row["agree"] else "")
        lines.append((" ".join(c.ljust(w) for c, w in zip(cells, WIDTHS)) + " " + mark).rstrip())
    return "\n".join(lines)


def main(argv):
    p = Parser(prog="python -m compare kinks",
               description="Each activation's derivative at its kinks: scratch, torch, scratch@keras, Keras (float64).")
    p.add_argument("--json", metavar="PATH", type=report_path, help="write the rows as JSON")
    args = p.parse_args(argv)
    if args.json is not None:
        check_writable(args.json, "json")
    from ..engine import frameworks
    from ..engine.kinks import measure, smooth
    from ..engine.run import check_frameworks

    check_frameworks(("torch", "keras"), what="kinks")      # one line naming the extra when one is missing
    frameworks.configure_threads(1, ("torch", "keras"))
    rows = measure()
    print("each activation's derivative at its kinks (float64); scratch follows torch, scratch@keras Keras;")
    print("torch's column is torch.autograd's, Keras's is tf.GradientTape's (measured now)")
    print()
    print(table(rows))
    print()
    differ = sorted({r["activation"] for r in rows if r["frameworks_differ"]})
    print(f"* torch and Keras differ: {', '.join(differ) or 'none'}")
    print(f"no kink: {', '.join(smooth())}")
    wrong = [r for r in rows if not r["agree"]]
    if args.json is not None:
        write_atomic(args.json, lambda f: json.dump({"rows": rows, "smooth": smooth(), "agree": not wrong}, f, indent=1))
    if wrong:
        print(f"MISMATCH: scratch differs from its framework at {len(wrong)} kink(s) (marked !)")
        return EXIT_MISMATCH
    print(f"PASS: every scratch derivative equals its framework's at all {len(rows)} kinks")
    return EXIT_OK
