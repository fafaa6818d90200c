"""`python -m compare kinks [--json PATH]`: each activation's derivative at its kinks, in
scratch-as-torch, torch, scratch@keras and Keras, measured in float64 (compare/engine/kinks.py),
then max pooling's kinks, where each sends the gradient of a window whose maximum is tied
(compare/engine/pool_kinks.py). Exit 0 when every scratch value equals its framework's, 1 otherwise."""
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


POOL_WIDTHS = (17, 17, 3, 12, 12, 13, 12)      # 93 columns with the separators and the mark


def pool_table(rows):
    """The pooling-tie table as text: each column names the input cells (row, col) that get the
    window's gradient; '*' marks torch and Keras disagreeing, '!' scratch differing from its
    framework, '~' a case scratch does not mirror (NaN)."""
    from ..engine.pool_kinks import receivers

    head = ("case", "input (rows /)", "k/s", "scratch", "torch", "scratch@keras", "keras")
    lines = [" ".join(h.ljust(w) for h, w in zip(head, POOL_WIDTHS)).rstrip(), " ".join("-" * w for w in POOL_WIDTHS)]
    for row in rows:
        cells = (row["case"], row["input"], f"{row['kernel']}/{row['stride']}",
                 *(receivers(row[c]) for c in head[3:]))
        mark = ("*" if row["frameworks_differ"] else " ") + (" !" if not row["agree"] else "") \
            + (" ~" if not row["mirrored"] else "")
        lines.append((" ".join(c.ljust(w) for c, w in zip(cells, POOL_WIDTHS)) + " " + mark).rstrip())
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
    from ..engine.pool_kinks import measure as measure_pool_ties
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
    ties = measure_pool_ties()
    print()
    print("max pooling's kinks: a window whose maximum is tied sends its gradient to one cell; the cells")
    print("(row, col) of the pool's input that get d sum(pool(x)) (float64; nn.MaxPool2d, MaxPooling2D)")
    print()
    print(pool_table(ties))
    print()
    print("both send it to the FIRST maximum in scan order (Convention.maxpool_grad_to_first_max);")
    print("~ not mirrored: scratch's tie rule is for NaN-free inputs")
    wrong = [r for r in rows + ties if not r["agree"]]
    mirrored = [r for r in ties if r["mirrored"]]
    if args.json is not None:
        write_atomic(args.json, lambda f: json.dump({"rows": rows, "smooth": smooth(), "pool_ties": ties,
                                                      "agree": not wrong}, f, indent=1))
    if wrong:
        print(f"MISMATCH: scratch differs from its framework at {len(wrong)} kink(s) (marked !)")
        return EXIT_MISMATCH
    print(f"PASS: every scratch derivative equals its framework's at all {len(rows)} kinks and "
          f"{len(mirrored)} pooling ties")
    return EXIT_OK
