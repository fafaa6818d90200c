"""`python -m compare code [forward|loss|backward|step|train_step|all]`: the scratch, torch and
Keras source of the same part of the network in aligned columns.

The source is read from the very files that run (found with importlib, parsed with ast), so it
cannot drift from what the harness executes, and showing it imports neither torch nor
TensorFlow. Lines are aligned by what they compute: each line gets an anchor (the name it
assigns, `def forward`, `for`, `return`, ...) and difflib matches the anchors of torch and of
Keras against scratch's. A row whose three lines share an anchor is a "matching" row.

The conv network layers have parts of their own (`code conv`, `code pool`, `code flatten`):
scratch's forward (the naive loop beside the im2col form) and backward (col2im) beside the torch
and Keras builders (reference/torch_mlp.py, reference/keras_mlp.py conv2d, pool2d, flatten).
The training rules have parts of their own (`python -m compare code adam`, `code schedule-step`):
scratch's update (scratch/optimizers.py, scratch/schedules.py) beside the installed torch's and
Keras's own source of it (torch/optim/*.py, keras/src/optimizers/*.py), found from the packages'
folders without importing them.

Left out: helper methods such as record and load_state; clipping and weight decay outside an
optimizer's update (scratch/optimizers.py Rules, torch/nn/utils/clip_grad.py).
"""
import ast
import difflib
import importlib.util
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import InputError
from .text import WIDTH

SOURCES = (("scratch", "scratch.mlp", "MLP"), ("torch", "reference.torch_mlp", "TorchMLP"),
           ("keras", "reference.keras_mlp", "KerasMLP"))
PARTS = ("forward", "loss", "backward", "step", "train_step")
METHODS = {("keras", "train_step"): ("tensor_step", "train_step")}   # Keras's step body is traced by tf.function
MIN_COLUMN = 44     # narrower than this per column, the three are printed one after another


# a training rule -> {framework: [(module, class or None, function)]}: the code of its update
RULE_SOURCES = {
    name: {"scratch": [("scratch.optimizers", cls, "update")],
           "torch": [(f"torch.optim.{module}", None, f"_single_tensor_{function}")] if module else [],
           "keras": [(f"keras.src.optimizers.{module_k}", cls_k, "update_step")]}
    for name, cls, module, function, module_k, cls_k in (
        ("sgd", "SGD", "sgd", "sgd", "sgd", "SGD"), ("rmsprop", "RMSprop", "rmsprop", "rmsprop", "rmsprop", "RMSprop"),
        ("adam", "Adam", "adam", "adam", "adam", "Adam"), ("nadam", "NAdam", "nadam", "nadam", "nadam", "Nadam"),
        ("adamax", "Adamax", "adamax", "adamax", "adamax", "Adamax"),
        ("adagrad", "Adagrad", "adagrad", "adagrad", "adagrad", "Adagrad"),
        ("adadelta", "Adadelta", "adadelta", "adadelta", "adadelta", "Adadelta"),
        ("lion", "Lion", None, None, "lion", "Lion"))
}
RULE_SOURCES["adamw"] = dict(RULE_SOURCES["adam"], keras=[("keras.src.optimizers.base_optimizer", "BaseOptimizer",
                                                           "_apply_weight_decay")] + RULE_SOURCES["adam"]["keras"])
RULE_SOURCES.update({
    f"schedule-{name}": {"scratch": [("scratch.schedules", f"Torch{torch_cls}", "next_lr"),
                                     ("scratch.schedules", f"Keras{keras_cls}", "next_lr")],
                         "torch": [("torch.optim.lr_scheduler", torch_name, "get_lr" if name != "plateau" else "step")],
                         "keras": [(keras_module, keras_name, "__call__" if name != "plateau" else "on_epoch_end")]}
    for name, torch_cls, keras_cls, torch_name, keras_module, keras_name in (
        ("exponential", "Exponential", "Exponential", "ExponentialLR", "keras.src.optimizers.schedules.learning_rate_schedule",
         "ExponentialDecay"),
        ("step", "MultiStep", "Piecewise", "MultiStepLR", "keras.src.optimizers.schedules.learning_rate_schedule",
         "PiecewiseConstantDecay"),
        ("cosine", "Cosine", "Cosine", "CosineAnnealingLR", "keras.src.optimizers.schedules.learning_rate_schedule",
         "CosineDecay"),
        ("plateau", "Plateau", "Plateau", "ReduceLROnPlateau", "keras.src.callbacks.reduce_lr_on_plateau",
         "ReduceLROnPlateau"))
})

# a conv network layer (issue 20) -> {framework: [(module, class or None, function)]}: scratch's
# forward (the naive loop, the definition, then im2col) and backward (col2im) beside the torch
# and Keras builders the harness runs (reference/torch_mlp.py, keras_mlp.py)
LAYER_SOURCES = {
    "conv": {"scratch": [("scratch.conv", None, name) for name in
                         ("conv2d_forward_naive", "im2col", "conv2d_forward", "col2im",
                          "conv2d_backward")],
             "torch": [("reference.torch_mlp", None, "conv2d")],
             "keras": [("reference.keras_mlp", None, "conv2d")]},
    "pool": {"scratch": [("scratch.pool", None, name) for name in
                         ("pool_geometry", "max_pool2d_forward", "max_pool2d_backward",
                          "avg_pool2d_forward", "avg_pool2d_backward")],
             "torch": [("reference.torch_mlp", None, "pool2d")],
             "keras": [("reference.keras_mlp", None, "pool2d")]},
    "flatten": {"scratch": [("scratch.image_layers", "Flatten", "forward"),
                            ("scratch.image_layers", "Flatten", "backward")],
                "torch": [("reference.torch_mlp", None, "flatten")],
                "keras": [("reference.keras_mlp", None, "flatten")]},
}


def module_file(module):
    """The path of a module's source file, without importing the module (nor, for a submodule of an
    installed package, the package: it is found in the package's folder)."""
    top, _, rest = module.partition(".")
    if top in ("torch", "keras"):
        package = importlib.util.find_spec(top)
        if package is None or not package.submodule_search_locations:
            raise InputError(f"{top} is not installed here: its source cannot be shown")
        return str(Path(list(package.submodule_search_locations)[0], *rest.split(".")).with_suffix(".py"))
    found = importlib.util.find_spec(module)
    if found is None or not found.origin:
        raise InputError(f"cannot find the source of {module}")
    return found.origin


def method_source(module, cls, name):
    """The source lines of method `name` of class `cls` in `module`, dedented. -> (lines, first line number)"""
    path = module_file(module)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if cls is None:                                    # a module-level function
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                lines = text.splitlines()[node.lineno - 1:node.end_lineno]
                return textwrap.dedent("\n".join(lines)).splitlines(), node.lineno
        raise InputError(f"{module} has no function {name!r}")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    lines = text.splitlines()[item.lineno - 1:item.end_lineno]
                    return textwrap.dedent("\n".join(lines)).splitlines(), item.lineno
    raise InputError(f"{module}.{cls} has no method {name!r}")


ASSIGN = re.compile(r"^([\w\[\]{}\"'., ]+?)\s*(?:=|\+=|-=)(?!=)")


def anchor(line):
    """What a line computes, in words the three files share: 'def forward', 'for', 'return cache',
    the assigned name ('Z', 'cache[f"Z{l}"], cache[f"A{l}"]'), 'doc' for a docstring line. None: blank."""
    text = line.split("#")[0].strip()
    if not text:
        return None
    if text.startswith('"""') or text.endswith('"""'):
        return "doc"
    if text.startswith("def "):
        return "def " + text[4:].split("(")[0]
    if text.startswith("for "):
        return "for"
    if text.startswith("return"):
        return "return " + text[6:].strip().split("(")[0].split("[")[0]
    if text.startswith("with "):
        return "with"
    match = ASSIGN.match(text)
    if match:      # the names assigned; a dict entry by its key alone: grads[f"dZ{l}"] ~ wrt[f"dZ{l}"]
        return ",".join(re.sub(r"^\w+\[", "[", t.strip()) for t in match.group(1).split(","))
    return text


@dataclass
class Row:
    cells: dict          # framework -> source line ('' where that framework has no line here)
    anchors: dict        # framework -> anchor(line) (None for no line or a blank one)

    def same(self, a, b):
        """Lines a and b of this row compute the same thing."""
        return self.anchors[a] is not None and self.anchors[a] == self.anchors[b]

    @property
    def matching(self):
        """All three lines compute the same thing."""
        names = list(self.cells)
        return all(self.same(names[0], other) for other in names[1:])


def align(columns):
    """{framework: [lines]} -> [Row]: torch and Keras lines matched to scratch's by anchor."""
    base = "scratch"
    others = [k for k in columns if k != base]
    anchors = {k: [anchor(line) or f"blank {i}" for i, line in enumerate(lines)] for k, lines in columns.items()}
    # for each other framework: scratch line index -> its matched line, and the unmatched lines before it
    matched, before = {}, {}
    for k in others:
        matched[k], before[k] = {}, {}
        opcodes = difflib.SequenceMatcher(None, anchors[base], anchors[k], autojunk=False).get_opcodes()
        for op, a1, a2, b1, b2 in opcodes:
            paired = min(a2 - a1, b2 - b1) if op in ("equal", "replace") else 0
            for t in range(paired):             # equal: same anchor; replace: side by side anyway
                matched[k][a1 + t] = b1 + t
            before[k].setdefault(a2, []).extend(range(b1 + paired, b2))
    rows = []
    n = len(columns[base])
    for i in range(n + 1):
        extra = {k: before[k].get(i, []) for k in others}
        for j in range(max((len(v) for v in extra.values()), default=0)):
            cells = {base: ""}
            cells.update({k: columns[k][extra[k][j]] if j < len(extra[k]) else "" for k in others})
            rows.append(row_of(cells))
        if i == n:
            break
        cells = {base: columns[base][i]}
        cells.update({k: columns[k][matched[k][i]] if i in matched[k] else "" for k in others})
        rows.append(row_of(cells))
    return rows


def row_of(cells):
    return Row(cells, {k: anchor(line) for k, line in cells.items()})


def part_rows(part):
    """The aligned rows of one method of the three classes. -> ([Row], {framework: (file, line)})"""
    columns, where = {}, {}
    for framework, module, cls in SOURCES:
        columns[framework] = []
        for name in METHODS.get((framework, part), (part,)):
            lines, first = method_source(module, cls, name)
            columns[framework] += ([""] if columns[framework] else []) + [squeeze(line) for line in lines]
            where.setdefault(framework, (module.replace(".", "/") + ".py", first))
    return align(columns), where


def rule_rows(rule):
    """The aligned rows of a training rule's update (scratch's beside torch's and Keras's own
    source), or of a conv network layer (scratch's beside the torch and Keras builders)."""
    columns, where = {}, {}
    table = LAYER_SOURCES if rule in LAYER_SOURCES else RULE_SOURCES
    for framework, _, _ in SOURCES:
        columns[framework] = []
        places = table[rule][framework]
        for module, cls, name in places:
            lines, first = method_source(module, cls, name)
            columns[framework] += ([""] if columns[framework] else []) + [squeeze(line) for line in lines]
            where.setdefault(framework, (module.replace(".", "/") + ".py", first))
        if not places:
            columns[framework], where[framework] = [f"# {framework} ships no {rule}"], ("-", 0)
    return align(columns), where


def squeeze(line):
    """The run of spaces that pushes a trailing comment to column 80, cut to two."""
    return re.sub(r"(\S)\s{3,}(# )", r"\1  \2", line)


def parts_of(which):
    if which == "all":
        return PARTS
    if which not in PARTS and which not in RULE_SOURCES and which not in LAYER_SOURCES:
        raise InputError(f"unknown part {which!r}; choose one of: {', '.join(PARTS)}, all, a conv "
                         f"layer: {', '.join(LAYER_SOURCES)}, or a training rule: "
                         f"{', '.join(RULE_SOURCES)}")
    return (which,)


OPENING, CLOSING = "([{", ")]}"
OPERATORS = "=+*/%<>|&^"     # a line may break after one of these (not '-': 1e-3 is one number)
CONTINUATION = "    "        # a wrapped line's continuation: its own indentation and four more


def breaks(text):
    """Where a source line may be broken, at a token boundary: -> [(cut, resume, quality, comment)]:
    the line's first piece is text[:cut], the rest starts at text[resume:]. quality 3: outside
    strings (a space, after an opening bracket, a comma or an operator, in a comment); 2: before
    the '.' of an attribute; 1: a space inside a string literal. comment: the cut is inside a
    comment. Never inside a name or a number."""
    found, quote, i, n = [], None, 0, len(text)
    while i < n:
        c = text[i]
        if quote:                                   # inside a string literal
            if c == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i, quote = i + len(quote), None
                continue
            if c == " ":
                found.append((i, i + 1, 1, False))
        elif c == "#":                              # a comment: any space in it
            found += [(j, j + 1, 3, True) for j in range(i + 2, n) if text[j] == " "]
            break
        elif c in "'\"":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            i += len(quote)
            continue
        elif c == " ":
            found.append((i, i + 1, 3, False))
        elif c in OPENING + "," and i + 1 < n and text[i + 1] != " ":
            found.append((i + 1, i + 1, 3, False))
        elif c in OPERATORS and i + 1 < n and text[i + 1] not in OPERATORS + " ":   # `k=v`, `a*b`
            found.append((i + 1, i + 1, 3, False))
        elif c == "." and i > 0 and (text[i - 1].isalpha() or text[i - 1] in "_)]"):   # not 1.5
            found.append((i, i, 2, False))
        i += 1
    return [found_break for found_break in found if text[:found_break[0]].strip()]


def wrap(text, width):
    """A source line in pieces of at most `width` characters, broken at token boundaries (breaks:
    outside strings where it can, a space in a string else), each continuation indented four
    spaces past the line's own indentation (a comment's continuation starts '# '; an indentation
    deeper than a third of the width is cut to that third); never clipped.
    A piece with no boundary within
    `width` (one token longer than the line) is cut there, its continuation marked '↪ '."""
    if len(text) <= width:
        return [text]
    lead = len(text) - len(text.lstrip())
    if lead > width // 3:                   # indentation deeper than a third of the line: cut to it
        lead, text = width // 3, " " * (width // 3) + text.lstrip()
        if len(text) <= width:
            return [text]
    indent = " " * min(lead + len(CONTINUATION), width // 3)
    pieces, line, start = [], text, 0           # start: where the line's own text begins
    while len(line) > width:
        fits = [(q, cut, resume, comment) for cut, resume, q, comment in breaks(line)
                if start < cut <= width and line[start:cut].strip()]
        if fits:        # the latest cut; outside strings preferred unless half a line earlier
            bonus = {3: width // 2, 2: width // 3}
            _, cut, resume, comment = max(fits, key=lambda f: f[1] + bonus.get(f[0], 0))
            head, rest = line[:cut].rstrip(), ("# " if comment else "") + line[resume:].lstrip()
        if not fits or len(rest) >= len(line) - start:  # a token longer than the line: cut, marked
            head, rest = line[:width], "↪ " + line[width:]
        pieces.append(head)
        line = indent + rest
        start = len(indent) + (2 if rest.startswith("↪ ") else 0)
    return pieces + [line]


def columns_text(rows, where, width):
    """Three columns of `width` characters, '=' between neighbouring lines that compute the same thing."""
    names = [f for f, _, _ in SOURCES]
    head = " | ".join(f"{f} ({where[f][0]}:{where[f][1]})".ljust(width)[:width] for f in names)
    out = [head, "-+-".join("-" * width for _ in names)]
    for row in rows:
        pieces = [wrap(row.cells[f], width) for f in names]
        seps = [" = " if row.same(a, b) else " | " for a, b in zip(names, names[1:])]
        for j in range(max(len(p) for p in pieces)):
            cells = [(p[j] if j < len(p) else "").ljust(width) for p in pieces]
            out.append((cells[0] + seps[0] + cells[1] + seps[1] + cells[2]).rstrip())
            seps = [" | ", " | "]
    return "\n".join(out)


def sequential_text(rows, where, width=None):
    """The three sources one after another (a narrow terminal), lines cut at `width` (wrap)."""
    out = []
    for f, _, _ in SOURCES:
        out.append(f"--- {f} ({where[f][0]}:{where[f][1]})")
        lines = [row.cells[f] for row in rows if row.cells[f] or not any(row.cells.values())]
        out += [piece for line in lines for piece in (wrap(line, width) if width else [line])]
    return "\n".join(out)


def code_text(which="all", width=None, wide=False):
    """The side-by-side text of a part (or all parts) for a terminal `width` characters wide
    (default: the terminal's, 100 when the output is no terminal: shutil reads $COLUMNS, then the
    terminal). `wide`: no line wrapped: three columns as wide as the longest line."""
    width = width or shutil.get_terminal_size((WIDTH, 40)).columns
    column = (width - 6) // 3
    blocks = []
    for part in parts_of(which):
        own = part in RULE_SOURCES or part in LAYER_SOURCES
        rows, where = rule_rows(part) if own else part_rows(part)
        if wide:
            longest = max(len(cell) for row in rows for cell in row.cells.values())
            body = columns_text(rows, where, max(longest, MIN_COLUMN))
        else:
            body = columns_text(rows, where, column) if column >= MIN_COLUMN else \
                sequential_text(rows, where, width)
        blocks.append(f"=== {part} ===\n{body}")
    return "\n\n".join(blocks)
