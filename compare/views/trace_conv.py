"""The first convolution of a traced step, worked out with its numbers (issue 20, part 6):

    Z[n, f, i, j] = sum_{c, u, v} X_pad[n, c, i sh + u, j sw + v] W[f, c, u, v] + b[f]
    dW[f, c, u, v] = sum_{n, i, j} dZ[n, f, i, j] X_pad[n, c, i sh + u, j sw + v]

One output element: its window of the input, the kernel, their products, their sum plus the bias,
beside scratch's value and each framework's value of that same element, found in the framework's
own layout (torch NCHW, Keras NHWC: compare/engine/convert.py from_scratch). One kernel element's
gradient: the first terms of its sum over examples and positions, the total, and each
implementation's value (torch's weight (out, in, kh, kw), Keras's kernel (kh, kw, in, out)).
Every line fits 100 columns. The readable definition is scratch/conv.py conv2d_forward_naive.

Left out: dilation in the printed window (the taps are listed by their padded rows and columns),
channels past the third (their products are summed in one line), later convolutions.
"""
import numpy as np

from scratch.conv import pad

from ..engine.convert import from_scratch

CHANNELS_SHOWN = 3
TERMS_SHOWN = 6


def first_conv(spec):
    """-> the Placed first Conv2D of the spec's network, or None."""
    network = spec.network
    for placed in getattr(network, "placed", ()):
        if placed.layer.kind == "conv2d":
            return placed
    return None


def grid(array, digits=5):
    """A small 2-D array as rows of fixed-width numbers."""
    return [" ".join(f"{v:{digits + 3}.{digits}f}" for v in row) for row in array]


def side_by_side(left, right, gap=4):
    width = max(len(line) for line in left)
    return [f"{a:{width}}{' ' * gap}{b}" for a, b in zip(left, right)]


def busiest_position(x_pad, n, kernel, stride, out_hw):
    """The output position whose window holds the most nonzero inputs (the first such): MNIST's
    border is zeros, whose products teach nothing."""
    (kh, kw), (sh, sw) = kernel, stride
    best, where = -1, (0, 0)
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            count = np.count_nonzero(x_pad[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw])
            if count > best:
                best, where = count, (i, j)
    return where


def conv_example(spec, kept, keys, example=None):
    """-> the lines of the worked first convolution, or [] when the network has none."""
    placed = first_conv(spec)
    if placed is None or "scratch" not in keys:
        return []
    layer, l = placed.layer, placed.block
    (C, H, W), (F, Ho, Wo) = placed.n_in, placed.n_out
    kernel, stride, dilation, padding = layer.geometry(placed.n_in)
    if dilation != (1, 1):
        return [f"(the worked convolution leaves out dilation {dilation})"]
    (kh, kw), (sh, sw) = kernel, stride
    records, before = kept["records"], kept["before"]["scratch"]
    m = kept["X"].shape[0]
    if placed.index == 0:
        X = np.asarray(kept["X"], dtype=np.float64).reshape(m, C, H, W)   # rows: C H W, C first
    else:
        X = np.asarray(records["scratch"][f"A{l - 1}"]).T.reshape(m, C, H, W)
    x_pad = pad(X, padding)
    Wk = np.asarray(before[f"W{l}"])
    b = np.asarray(before.get(f"b{l}", np.zeros((F, 1)))).reshape(-1)
    n, f = (example or 0), 0
    i, j = busiest_position(x_pad, n, kernel, stride, (Ho, Wo))
    rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
    top, bottom, left, right = padding
    out = [f"=== the first convolution worked out: Z{l}[n, f, i, j] (scratch/conv.py "
           "conv2d_forward_naive) ===",
           f"Z{l}[n, f, i, j] = Σ_(c,u,v) X_pad[n, c, {sh} i + u, {sw} j + v] · W{l}[f, c, u, v]"
           f" + b{l}[f]",
           f"n = {n}, f = {f}, (i, j) = ({i}, {j}); padding (top, bottom, left, right) {padding}",
           f"  the window: X_pad rows {rows.start}..{rows.stop - 1}, "
           f"columns {cols.start}..{cols.stop - 1}"]
    total = 0.0
    for c in range(C):
        window, w = x_pad[n, c, rows, cols], Wk[f, c]
        products = window * w
        total += products.sum()
        if c >= CHANNELS_SHOWN:
            continue
        out.append(f"channel c = {c}:  X_pad[{n}, {c}, {rows.start}:{rows.stop}, "
                   f"{cols.start}:{cols.stop}]  beside  W{l}[{f}, {c}]")
        out += ["  " + line for line in side_by_side(grid(window), grid(w))]
        out.append(f"  products X_pad · W (their sum {products.sum():.8f}):")
        out += ["  " + line for line in grid(products, 6)]
    if C > CHANNELS_SHOWN:
        out.append(f"channels {CHANNELS_SHOWN}..{C - 1}: their products are in the total below")
    z = total + b[f]
    out.append(f"Σ products = {float(total)!r},  + b{l}[{f}] = {float(b[f])!r}")
    out.append(f"Z{l}[{n}, {f}, {i}, {j}] = {float(z)!r}   (worked out; Δ: each |difference|)")
    row = f * Ho * Wo + i * Wo + j
    out += element_lines(f"Z{l}", records, keys, spec, z,
                         {"scratch": ((row, n), "row f Ho Wo + i Wo + j, column n"),
                          "torch": ((n, f, i, j), "NCHW"), "keras": ((n, i, j, f), "NHWC")})
    out += kernel_gradient(l, spec, records, keys, x_pad, (F, Ho, Wo), kernel, stride, m)
    return out


def framework_value(name, records, key, spec, index):
    """The element at `index` of implementation `key`'s tensor, in its own layout: the frameworks'
    records are kept in scratch's; convert.py's from_scratch puts them back (the Z, dW layouts)."""
    array = np.asarray(records[key][name])
    if key in ("torch", "keras"):
        array = from_scratch(key, name, array, spec.network)
    return float(array[index])


def element_lines(name, records, keys, spec, worked, where):
    """One line per implementation: its value of the element, found in its own layout, and its
    |difference| from the worked value."""
    out = []
    for key in keys:
        base = "scratch" if key.startswith("scratch") else key
        index, words = where[base]
        if key.startswith("scratch"):
            value = float(np.asarray(records[key][name])[index])
        else:
            value = framework_value(name, records, key, spec, index)
        diff = abs(value - worked)
        label = f"{key:13} {name}[{', '.join(str(v) for v in index)}] {words}"
        out.append(f"  {label:58} {value!r:24} Δ {diff:.1e}")
    return out


def kernel_gradient(l, spec, records, keys, x_pad, out_shape, kernel, stride, m):
    """dW[f, c, u, v] = Σ_(n,i,j) dZ[n, f, i, j] X_pad[n, c, sh i + u, sw j + v], written out."""
    F, Ho, Wo = out_shape
    (kh, kw), (sh, sw) = kernel, stride
    f, c, u, v = 0, 0, kh // 2, kw // 2
    if f"dZ{l}" not in records["scratch"]:
        return []
    dZ = np.asarray(records["scratch"][f"dZ{l}"]).T.reshape(m, F, Ho, Wo)
    taps = x_pad[:, c, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw]      # (m, Ho, Wo)
    terms = dZ[:, f] * taps
    total = 0.0
    for term in terms.ravel():                                     # in order n, i, j
        total += term
    nonzero = np.argwhere(terms != 0)
    out = [f"=== the gradient of one kernel element: dW{l}[{f}, {c}, {u}, {v}] ===",
           f"dW{l}[f, c, u, v] = Σ_(n,i,j) dZ{l}[n, f, i, j] · X_pad[n, c, {sh} i + u, {sw} j + v]",
           f"  {m} x {Ho} x {Wo} = {terms.size} terms, {len(nonzero)} of them nonzero; the first:",
           f"  {'n':>3} {'i':>3} {'j':>3} {'dZ' + str(l):>16} {'X_pad':>12} {'product':>16}"]
    for n, i, j in nonzero[:TERMS_SHOWN]:
        out.append(f"  {n:3d} {i:3d} {j:3d} {dZ[n, f, i, j]:16.8e} {taps[n, i, j]:12.8f} "
                   f"{terms[n, i, j]:16.8e}")
    out.append(f"  ... {max(len(nonzero) - TERMS_SHOWN, 0)} more nonzero terms")
    out.append(f"Σ all {terms.size} terms (in order n, i, j) = {float(total)!r}")
    where = {"scratch": ((f, c, u, v), "(F, C, kh, kw)"),
             "torch": ((f, c, u, v), "weight.grad (out, in, kh, kw)"),
             "keras": ((u, v, c, f), "kernel grad (kh, kw, in, out)")}
    out += element_lines(f"dW{l}", records, keys, spec, total, where)
    if spec.l2 or spec.l1 or spec.weight_decay:
        out.append("  (the regularizer's term is added to dW after this sum)")
    return out
