"""The network as a picture, coloured by agreement: the HTML report's opening diagram.

One inline SVG drawn from the spec's layer list: a column per block (a Dense or a Conv2D and the
layers after it), a box per layer, and in it a node per tensor the run compared (Z, A, N, P, dZ,
dW, db, the parameters after the update, the optimizer's state, BatchNorm's running mean and
variance), the loss, accuracy and learning rate in a last column. Each node is coloured by its
worst error over the whole run (the harness's raw["worst_by_tensor"]; a report without it, its
kind's worst from summary["worst_by_kind"]), on a log scale, in one of three bands:

    rounding level     max_rel <= judge.ROUNDING_ULPS (1000) eps of the run's dtype (float64
                       2.2e-13, float32 1.2e-4): the longest sums here, 784 terms, round by
                       K eps at worst, K < 1000 (judge.band: the bands of the report's tables)
    within tolerance   up to the judge's rtol (check.TOLERANCES: float64 1e-9, float32 3e-4);
                       max_rel is the judge's own number, already measured against the terms that
                       produced a tensor or float32's per-tensor bound (bounds.near_zero): a tensor
                       passes exactly when max_rel <= rtol, so the band is the verdict's
    beyond             past rtol, non-finite, or shapes that differ

After a divergence every tensor computed from the wrong one differs too, so a run's worst errors
turn the whole network red; a second view ("colour by", radio buttons again) colours each node by
its error at the first divergence's step alone (the harness's raw["divergence_step_errors"]):
what agreed before the mistake stays green, what it reached is red. That view is the one shown
first on a page with a divergence; the run's worst is a click away.

A tensor a pair does not compare is grey, the reason in its tooltip and in the list below the
drawing. The first divergence is outlined and labelled, with the pattern diagnose.py named (a
factor, a transpose, a 180° rotation, a shift, a lost axis); its panel shows the pattern in the
values and the difference maps (a transposed tensor's difference is drawn against the
transpose). The pair is chosen with radio buttons (CSS only: each node holds one rectangle per
pair, shown while its pair's button is checked).

A node is a link to its tensor's panel (`:target`), where the steps kept for the page (step 1, the
first divergence's step, the last step: harness.lockstep's keep_step) are radio buttons again: each
implementation's values side by side and each pair's difference (ours - theirs) as heatmaps, a
matrix as one grid, a feature map (C H W, m) as one grid per channel of the first example, a conv
kernel (F, C, kh, kw) as one grid per (filter, channel); at most MAX_GRIDS grids of at most
MAX_SIDE x MAX_SIDE cells (larger ones keep every k-th row and column, which the panel says). The
grids are PNGs of 2 LEVELS + 1 colours (written here with zlib, no dependency), scaled up without
smoothing.

Left out: JavaScript; values of steps other than the kept ones; the input X drawn as a node.
"""
import base64
import html
import math
import re
import struct
import textwrap
import zlib

import numpy as np

from ..engine import judge, names

MAX_SIDE, MAX_GRIDS = 24, 6
LEVELS = 16                # colours each side of 0 in a heatmap (a small palette: a small page)
GREY = "#d4d4d4"
# band -> (light, dark): a band's colours from its low end to its high end, in log10(max_rel)
BANDS = {"rounding": ("#d4eecf", "#4d9a52"), "tolerance": ("#fff3b0", "#e6b800"),
         "beyond": ("#f5a09a", "#b3141c")}
BAND_WORDS = {"rounding": "rounding level", "tolerance": "within the tolerance",
              "beyond": "beyond the tolerance"}
PATTERNS = [(r"rotated by 180", "180° rotation"),
            (r"transposed in its spatial", "kernel transposed"),
            (r"a transpose", "transpose"), (r"lost axis", "lost axis"), (r"shifted", "shift"),
            (r"a factor of ([^:;]+)", "factor {0}"), (r"is ([-\d.e+]+) x ", "factor {0}"),
            (r"sign is flipped", "sign flip"), (r"permut", "permutation"),
            (r"whole batch", "softmax over the batch"),
            (r"not applied|activation is not", "Z and A swapped")]

VALUES = ("#2166ac", "#ffffff", "#b2182b")      # diverging: -s .. 0 .. +s
DIFFERENCE = ("#1b7837", "#ffffff", "#762a83")

CSS = """
.dg { margin: 0.8em 0; } .dg svg { display: block; max-width: 100%; height: auto; }
.dg svg .pr { display: none; } .dg svg text { font-family: monospace; font-size: 11px; }
.dg svg .hd { font-family: system-ui, sans-serif; font-size: 12px; font-weight: bold; }
.dg input[type=radio] { margin-left: 0.8em; }
.dg-legend span { display: inline-block; padding: 0 6px; margin: 0.2em 0.6em 0.2em 0;
                  font-size: 0.85em; }
.dg-panel { display: none; border: 1px solid #bbb; padding: 0.4em 0.8em; margin: 0.6em 0; }
.dg-panel:target { display: block; } .dg-step { display: none; }
.dg-panel figure { display: inline-block; margin: 0.3em 1em 0.3em 0; vertical-align: top; }
.dg-panel figcaption { font-family: monospace; font-size: 0.8em; }
.dg-panel img { image-rendering: pixelated; border: 1px solid #999; display: block; }
.dg-scale { display: inline-block; width: 90px; height: 8px; border: 1px solid #999;
            margin: 0 4px; }
.dg-note { font-size: 0.85em; overflow-wrap: anywhere; }
""" + (f".dg-v {{ background: linear-gradient(to right, {', '.join(VALUES)}); }}\n"
       f".dg-d {{ background: linear-gradient(to right, {', '.join(DIFFERENCE)}); }}\n")


def rounding_level(dtype):
    """The largest error rounding alone gives: judge.ROUNDING_ULPS units of the dtype's eps."""
    return judge.ROUNDING_ULPS * float(np.finfo(str(dtype)).eps)


def band(max_rel, rtol, dtype):
    """'rounding' | 'tolerance' | 'beyond' for a worst error (inf or NaN: beyond): judge.band."""
    return judge.band(max_rel, rtol, dtype)


def mix(a, b, t):
    """Two '#rrggbb' colours mixed, t in [0, 1] from a to b."""
    ca, cb = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def colour(max_rel, rtol, dtype):
    """A worst error -> its fill: the band's colours, placed by log10(max_rel) within the band
    (rounding: 1e-17 .. rounding level; within: .. rtol; beyond: .. 1 and above)."""
    which, rounding = band(max_rel, rtol, dtype), rounding_level(dtype)
    low, high = {"rounding": (-17.0, math.log10(rounding)),
                 "tolerance": (math.log10(rounding), math.log10(rtol)),
                 "beyond": (math.log10(rtol), 0.0)}[which]
    if math.isfinite(max_rel) and max_rel > 0:
        x = math.log10(max_rel)
    else:
        x = low if max_rel == 0 else high
    t = min(max((x - low) / (high - low), 0.0), 1.0)
    return mix(*BANDS[which], t)


def pattern_label(explanation):
    """diagnose.py's words -> a short label of the pattern ('factor 2', '180° rotation'), or ''."""
    for regex, label in PATTERNS:
        found = re.search(regex, explanation or "")
        if found:
            return label.format(*(g.strip() for g in found.groups()))
    return ""


# ---------------------------------------------------------------- what the diagram shows

def tensor_names(report):
    """Every tensor any pair compared or named as not compared, or any kept record holds."""
    raw = getattr(report, "raw", None) or {}
    found = set()
    for by in (raw.get("worst_by_tensor", {}), report.summary.get("not_compared", {})):
        for tensors in by.values():
            found.update(tensors)
    for kept in kept_steps(report).values():
        for record in kept.values():
            found.update(n for n in record)
    return found


def owners(spec, found):
    """{tensor: placed layer index} for the tensors of a layer (optimizer state with its parameter);
    the rest (loss, accuracy, lr) is left out. A role two layers of a block give (an activation's A
    and a dropout's after it) belongs to the later one: its value is what the record holds."""
    claims = {}
    for p in spec.network.placed:
        layer = p.layer
        if layer.role is None:
            continue
        roles = (layer.role, *layer.param_roles, *layer.state_roles, *layer.grads)
        for role in roles:
            claims[p.name(role)] = p.index
    out = {}
    for n in found:
        parsed = names.parse(n)
        key = parsed.param if parsed.state else n
        if key in claims:
            out[n] = claims[key]
    return out


def kept_steps(report):
    """{step: {runner: record}} of the steps whose values the run kept (step 1, the first
    divergence's, the last), in step order."""
    raw = getattr(report, "raw", None) or {}
    steps = {}
    if raw.get("kept"):
        steps[1] = raw["kept"]["records"]
    for key in ("kept_divergence", "kept_last"):
        if raw.get(key):
            steps.setdefault(raw[key]["step"], raw[key]["records"])
    return dict(sorted(steps.items()))


def worst_of(report, pair, tensor):
    """(max_rel, step) of a tensor's worst error over the run for a pair, or None (never compared).
    Without the harness's per-tensor numbers (a report read back), its kind's worst."""
    raw = getattr(report, "raw", None) or {}
    if "worst_by_tensor" in raw:
        slot = raw["worst_by_tensor"].get(pair, {}).get(tensor)
    else:
        slot = report.summary.get("worst_by_kind", {}).get(pair, {}).get(names.group(tensor))
    return None if slot is None else (float(slot["max_rel_err"]), slot.get("step"))


# ---------------------------------------------------------------- the SVG

WIDTH, GAP, ROW, HEAD = 1240, 26, 24, 20      # the drawing fits a 1280 px page; columns 150..240
CHAR = 6.7                                     # px per character of the 11 px monospace labels


def node_svg(report, pairs, tensor, x, y, w, first):
    """One tensor's node: a link to its panel, one rectangle and one number per pair (shown while
    its pair's button is checked), the first divergence outlined and labelled below it."""
    rtol, dtype = report.summary["rtol"], report.config.get("dtype", "float64")
    t = html.escape(tensor)
    parts = [f'<a href="#dg-t-{t}"><g class="tn" data-tensor="{t}">']
    at_divergence = (getattr(report, "raw", None) or {}).get("divergence_step_errors")
    for i, pair in enumerate(pairs):
        why = report.summary.get("not_compared", {}).get(pair, {}).get(tensor)
        worst = worst_of(report, pair, tensor)
        views = [("node", "v0", worst, "worst max_rel {rel:.3g} at step {step}")]
        if at_divergence is not None:         # the second view: the first divergence's step alone
            rel = at_divergence.get(pair, {}).get(tensor)
            step = report.summary["first_divergence"]["step"]
            views.append(("atstep", "v1", None if rel is None else (rel, step),
                          "max_rel {rel:.3g} at step {step}, the first divergence's"))
        for cls, view, value, words in views:
            if why or value is None:
                fill, kind, text, rel = GREY, "none", "n/c", ""
                tip = f"{tensor}, {pair}: not compared ({why or 'not judged at this step'})"
            else:
                rel, step = value
                fill, kind = colour(rel, rtol, dtype), band(rel, rtol, dtype)
                text = f"{rel:.0e}" if rel else "0"
                tip = f"{tensor}, {pair}: {words.format(rel=rel, step=step)} ({BAND_WORDS[kind]})"
            parts.append(f'<rect class="{cls} pr p{i} {view}" x="{x}" y="{y}" width="{w}" '
                         f'height="{ROW - 5}" rx="3" fill="{fill}" stroke="#555" '
                         f'data-pair="{html.escape(pair)}" data-band="{kind}" data-max-rel="{rel}">'
                         f'<title>{html.escape(tip)}</title></rect>'
                         f'<text class="pr p{i} {view}" x="{x + w - 4}" y="{y + 14}" '
                         f'text-anchor="end">{html.escape(text)}</text>')
    parts.append(f'<text x="{x + 5}" y="{y + 14}">{t}</text>')
    if first and first["tensor"] == tensor:
        pattern = pattern_label(first.get("explanation", ""))
        tip = f"first divergence: {first['ours']}~{first['theirs']}, step {first['step']}"
        parts.append(f'<rect class="first" x="{x - 3}" y="{y - 3}" width="{w + 6}" '
                     f'height="{ROW + 1}" rx="4" fill="none" stroke="#000" stroke-width="3" '
                     'stroke-dasharray="6 3">'
                     f'<title>{html.escape(tip)}</title></rect>')
        lines = [f"first divergence, step {first['step']}"] + ([pattern] if pattern else [])
        parts += [f'<text class="first-label" x="{x}" y="{y + ROW + 10 + 13 * k}" fill="#b3141c">'
                  f'{html.escape(line)}</text>' for k, line in enumerate(lines)]
    return "".join(parts) + "</g></a>"


def first_rows(first, tensor):
    """The rows of label below a node (the first divergence's: one, two with a pattern)."""
    if not first or first["tensor"] != tensor:
        return 0
    return 1 + bool(pattern_label(first.get("explanation", "")))


def columns(spec, found):
    """[(title, [(layer title, [tensors])])]: a column per block, then the loss column."""
    owner = owners(spec, found)
    L = spec.n_layers
    blocks = {}
    for p in spec.network.placed:
        mine = names.ordered([n for n, i in owner.items() if i == p.index], L)
        blocks.setdefault(p.block, []).append((p.layer.describe(), mine))
    out = [(f"block {b}", boxes) for b, boxes in blocks.items()]
    rest = names.ordered([n for n in found if n not in owner], L)
    if rest:
        out.append(("loss", [("loss and step", rest)]))
    return out


def title_lines(text, width):
    """A layer's description in at most two lines that fit the column, cut at ', '."""
    chars = max(8, int((width - 12) / CHAR))
    lines = textwrap.wrap(text, chars, break_long_words=True)
    return lines if len(lines) <= 2 else [lines[0], lines[1][:chars - 1] + "…"]


def svg(report, spec, pairs):
    """The drawing: a column per block, a box per layer, a node per tensor."""
    found = tensor_names(report)
    first = report.summary.get("first_divergence")
    cols = columns(spec, found)
    column = int(min(240, max(150, (WIDTH - 8) / len(cols) - GAP)))
    body, height = [], 0
    for c, (title, boxes) in enumerate(cols):
        x, y = 8 + c * (column + GAP), 8
        body.append(f'<text class="hd" x="{x}" y="{y + 12}">{html.escape(title)}</text>')
        if c:
            body.append(f'<line x1="{x - GAP + 2}" y1="{y + 8}" x2="{x - 6}" y2="{y + 8}" '
                        f'stroke="#777" marker-end="url(#dg-arrow)"/>')
        y += HEAD
        for layer_title, tensors in boxes:
            top, lines = y, title_lines(layer_title, column)
            y += HEAD + 16 * (len(lines) - 1)
            nodes = []
            for tensor in tensors:
                nodes.append(node_svg(report, pairs, tensor, x + 8, y, column - 16, first))
                y += ROW + 13 * first_rows(first, tensor)
            heading = "".join(f'<text x="{x + 6}" y="{top + 14 + 13 * k}">'
                              f'{html.escape(text)}</text>'
                              for k, text in enumerate(lines))
            body.append(f'<rect x="{x}" y="{top}" width="{column}" height="{y - top + 4}" rx="5" '
                        f'fill="#f7f7f7" stroke="#aaa"><title>{html.escape(layer_title)}</title>'
                        '</rect>' + heading)
            body.extend(nodes)
            y += 10
        height = max(height, y)
    width = 8 + len(cols) * (column + GAP)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="dg-svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" '
            'aria-label="the network, coloured by agreement">'
            '<defs><marker id="dg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
            'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>'
            '</defs>'
            + "".join(body) + "</svg>")


# ---------------------------------------------------------------- the heatmaps

def subsample(grid):
    """A 2-D grid cut to MAX_SIDE x MAX_SIDE by keeping every k-th row and column.
    -> (grid, (kr, kc))"""
    kr, kc = (max(1, math.ceil(n / MAX_SIDE)) for n in grid.shape)
    return grid[::kr, ::kc], (kr, kc)


def grids(value, image):
    """A tensor (scratch layout) -> ([2-D grids], what they are). image: the layer's (C, H, W) when
    the tensor is a feature map (C H W, m), else None."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 4:                                             # a conv kernel (F, C, kh, kw)
        F, C = a.shape[:2]
        shown = [(f, c) for f in range(F) for c in range(C)][:MAX_GRIDS]
        what = f"kernel slices (filter, channel) {shown[0]}..{shown[-1]} of {F}x{C}"
        return [a[f, c] for f, c in shown], what
    if a.ndim == 2 and image is not None and a.shape[0] == int(np.prod(image)):
        maps = a.reshape(*image, -1)[..., 0]
        what = f"channels 1..{min(len(maps), MAX_GRIDS)} of {len(maps)}, example 1"
        return list(maps[:MAX_GRIDS]), what
    if a.ndim <= 1:
        return [a.reshape(1, -1)], f"shape {a.shape}"
    return [a.reshape(a.shape[0], -1)], f"shape {a.shape} (rows x columns)"


def tile(parts):
    """Grids side by side, a column of NaN (drawn grey) between them. -> (tile, subsampling note)"""
    cut = [subsample(g) for g in parts]
    h = max(g.shape[0] for g, _ in cut)
    row = []
    for g, _ in cut:
        pad = np.full((h, g.shape[1] + 1), np.nan)
        pad[:g.shape[0], :g.shape[1]] = g
        row.append(pad)
    steps = {k for _, k in cut if k != (1, 1)}
    note = ("; every " + ", ".join(f"{r}th row and {c}th column" for r, c in sorted(steps))
            if steps else "")
    return np.concatenate(row, axis=1)[:, :-1], note


def palette(ends):
    """2 LEVELS + 1 colours from ends[0] through ends[1] to ends[2], then grey (NaN, gaps)."""
    out = ([mix(ends[0], ends[1], i / LEVELS) for i in range(LEVELS)]
           + [mix(ends[1], ends[2], i / LEVELS) for i in range(LEVELS + 1)])
    return b"".join(bytes(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in out + ["#bbbbbb"])


def png(indices, colours):
    """An 8-bit palette PNG of indices (H, W) uint8, as a data: URI."""
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    h, w = indices.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in indices)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", colours) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def heatmap(grid, scale, ends, caption, kind):
    """A figure: the grid coloured on -scale..+scale (NaN grey) with its colour scale."""
    finite = np.isfinite(grid)
    idx = np.full(grid.shape, 2 * LEVELS + 1, dtype=np.uint8)           # grey
    s = scale if scale > 0 and math.isfinite(scale) else 1.0
    idx[finite] = np.rint((np.clip(grid[finite] / s, -1, 1) + 1) * LEVELS).astype(np.uint8)
    cell = max(3, min(24, 360 // grid.shape[1], 160 // grid.shape[0]))
    return (f'<figure><figcaption>{html.escape(caption)}</figcaption>'
            f'<img alt="" src="{png(idx, palette(ends))}" width="{grid.shape[1] * cell}" '
            f'height="{grid.shape[0] * cell}"><small>{-scale:.3g}'
            f'<span class="dg-scale {kind}"></span>'
            f'{scale:.3g}</small></figure>')


def image_shapes(spec):
    """{tensor: (C, H, W)} of the feature maps and their gradients."""
    out = {}
    for p in spec.network.placed:
        if p.layer.role and isinstance(p.n_out, tuple):
            out[p.name(p.layer.role)] = out["d" + p.name(p.layer.role)] = tuple(p.n_out)
    return out


def largest(value):
    """max |value| over its finite elements (0 when none)."""
    return float(np.max(np.abs(value[np.isfinite(value)]), initial=0))


def step_html(tensor, records, pairs_info, image):
    """One kept step of a tensor: the implementations' values on one scale, then each pair's
    difference on its own, its size relative to the values' in the caption (rounding noise of
    1e-16 and a bug's 0.8 fill their scales alike: the caption tells them apart)."""
    values = {k: np.asarray(r[tensor], dtype=np.float64) for k, r in records.items() if tensor in r}
    if not values:
        return "<p>No implementation gave it at this step.</p>"
    scale = max(largest(v) for v in values.values())
    parts, notes = [], set()
    for key, v in values.items():
        shown, what = grids(v, image)
        tiled, note = tile(shown)
        notes.add(what + note)
        parts.append(heatmap(tiled, scale, VALUES, key, "dg-v"))
    for pair, info in pairs_info.items():
        a, b = values.get(info["ours"]), values.get(info["theirs"])
        if a is None or b is None:
            continue
        if a.shape != b.shape and a.ndim == 2 and a.shape == b.shape[::-1]:   # a transpose, drawn
            tiled, _ = tile(grids(a - b.T, image)[0])
            caption = f"{info['ours']} - {info['theirs']}ᵀ (the shapes are transposed)"
            parts.append(heatmap(tiled, largest(a - b.T), DIFFERENCE, caption, "dg-d"))
            continue
        if a.shape != b.shape:
            parts.append(f'<p class="dg-note">{html.escape(label(info))}: the shapes differ, '
                         f'{a.shape} vs {b.shape}: no difference map</p>')
            continue
        tiled, _ = tile(grids(a - b, image)[0])
        relative = largest(a - b) / max(largest(a), largest(b), 1e-300)
        caption = f"{info['ours']} - {info['theirs']} (max|d| / scale {relative:.1e})"
        parts.append(heatmap(tiled, largest(a - b), DIFFERENCE, caption, "dg-d"))
    return "".join(parts) + f'<p class="dg-note">{html.escape("; ".join(sorted(notes)))}</p>'


def step_label(step, first, last):
    tags = [tag for tag, yes in (("first divergence", first.get("step") == step),
                                 ("last", step == last)) if yes]
    return f"step {step}" + (f" ({', '.join(tags)})" if tags else "")


def panels(report, spec, tensors):
    """A panel per tensor (shown when its node is clicked), its kept steps as radio buttons."""
    kept = kept_steps(report)
    if not kept:
        return '<p class="dg-note">No values were kept (the run stopped before step 1 ended).</p>'
    first = report.summary.get("first_divergence") or {}
    image, info = image_shapes(spec), report.summary.get("pairs", {})
    out = []
    for tensor in tensors:
        t = html.escape(tensor)
        head = f"<h3>{t}</h3>"
        if first.get("tensor") == tensor:
            head += (f'<p class="dg-note">First divergence ({html.escape(label(first))}, step '
                     f'{first["step"]}): {html.escape(first.get("explanation", ""))}</p>')
        radios, steps, css = [], [], []
        for i, (step, records) in enumerate(kept.items()):
            rid = f"dg-s-{t}-{step}"
            checked = " checked" if i == 0 else ""
            radios.append(f'<input type="radio" name="dg-s-{t}" id="{rid}"{checked}>'
                          f'<label for="{rid}">{html.escape(step_label(step, first, max(kept)))}'
                          '</label>')
            steps.append(f'<div class="dg-step dg-step-{step}">'
                         f'{step_html(tensor, records, info, image.get(tensor))}</div>')
            css.append(f"#{rid}:checked ~ .dg-step-{step}")
        out.append(f'<div class="dg-panel" id="dg-t-{t}">{head}'
                   f'<style>{", ".join(css)} {{ display: block; }}</style>'
                   + "".join(radios) + "".join(steps) + "</div>")
    return "\n".join(out)


def label(info):
    """A pair (or a divergence) as the reader names it: 'scratch~torch'."""
    return f"{info['ours']}~{info['theirs']}"


def legend(rtol, rounding):
    ends = {"rounding": f" (up to {rounding:.0e})", "tolerance": f" (up to {rtol:.0e})",
            "beyond": ""}
    return ('<p class="dg-legend">error, max |ours - theirs| / scale '
            '(log scale): '
            + "".join(f'<span style="background: linear-gradient(to right, {a}, {b})">'
                      f'{BAND_WORDS[k]}{ends[k]}</span>' for k, (a, b) in BANDS.items())
            + f'<span style="background: {GREY}">not compared (hover for why)</span>'
            + '<span style="outline: 2px dashed #000">first divergence</span></p>')


def diagram_html(report, spec):
    """The diagram section: pair buttons, legend, the SVG, what is not compared, the panels."""
    info = report.summary.get("pairs", {})
    if not info:
        return ""
    radios, css = [], []
    step = (getattr(report, "raw", None) or {}).get("divergence_step_errors") is not None
    for i, pair in enumerate(info):
        judged = "" if info[pair].get("judged") else " (reported, not judged)"
        checked = " checked" if i == 0 else ""
        radios.append(f'<input type="radio" name="dg-pair" id="dg-pair-{i}"{checked}>'
                      f'<label for="dg-pair-{i}">{html.escape(label(info[pair]) + judged)}</label>')
        css += ([f"#dg-pair-{i}:checked ~ #dg-view-{k}:checked ~ svg .p{i}.v{k}" for k in (0, 1)]
                if step else [f"#dg-pair-{i}:checked ~ svg .p{i}.v0"])
    if step:            # after a divergence every later tensor differs: where did it start?
        at = report.summary["first_divergence"]["step"]
        radios.append('<br><span class="dg-note">Colour by:</span>'
                      '<input type="radio" name="dg-view" id="dg-view-0">'
                      '<label for="dg-view-0">the worst error over the run</label>'
                      '<input type="radio" name="dg-view" id="dg-view-1" checked>'
                      f'<label for="dg-view-1">the error at step {at}, the first divergence\'s '
                      '(what agreed before the mistake, and what it reached)</label>')
    missing = "".join(f"<li>{html.escape(label(info[p]))}: "
                      f"{html.escape(', '.join(f'{n} ({why})' for n, why in v.items()))}</li>"
                      for p, v in report.summary.get("not_compared", {}).items() if v and p in info)
    tensors = names.ordered(tensor_names(report), spec.n_layers)
    return ('<section class="dg" id="diagram"><h2>The network, coloured by agreement</h2>'
            f"<style>{CSS} {', '.join(css)} {{ display: inline; }}</style>"
            '<span class="dg-note">Pair:</span>' + "".join(radios)
            + legend(report.summary["rtol"], rounding_level(spec.dtype))
            + svg(report, spec, list(info))
            + (f'<ul class="dg-note">not compared: {missing}</ul>' if missing else "")
            + '<p class="dg-note">Click a tensor: its values and differences at a kept step.</p>'
            + panels(report, spec, tensors) + "</section>")
