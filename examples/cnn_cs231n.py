"""A small CNN written as cs231n's assignment 2 writes its layers: forward/backward pairs, caches.

    python -m compare check examples/cnn_cs231n.py

conv - relu - 2x2 max pool - affine - softmax on 1x8x8 images, 3 classes. The layer functions are
the naive loops of cs231n's layers.py (conv_forward_naive, conv_backward_naive,
max_pool_forward_naive, max_pool_backward_naive, affine_forward, affine_backward, relu_forward,
relu_backward, softmax_loss), in cs231n's layouts: x (N, C, H, W), w (F, C, HH, WW), b (F,);
affine's w (D, M). compare.layer_functions runs them over the layer list, one step at a time,
and compares every tensor (Z1 the conv's out, A1 the relu's, P1 the pool's, their gradients, dW,
db, the loss) with torch, Keras and scratch; the update is the spec's optimizer on your gradients.

Verdict: PASS (exit 0). examples/cnn_cs231n_bug.py has one classic bug.
"""
import numpy as np

import compare


def conv_forward_naive(x, w, b, conv_param):
    """out[n, f, i, j] = sum over c, p, q of xp[n, c, i*s + p, j*s + q] * w[f, c, p, q] + b[f],
    xp: x with `pad` zeros on every side."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, _, HH, WW = w.shape
    N, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3))                 # over the examples AND the positions
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - ph) // stride, 1 + (W - pw) // stride))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = np.max(window, axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Each window's gradient to its maximum (the first one, on ties)."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


mine = compare.layer_functions(
    [compare.Conv2D(4, 3, padding=1), compare.Activation("relu"), compare.MaxPool2D(2),
     compare.Flatten(), compare.Dense(3), compare.Activation("softmax")], input_shape=(1, 8, 8),
    conv=(conv_forward_naive, conv_backward_naive),
    max_pool=(max_pool_forward_naive, max_pool_backward_naive),
    affine=(affine_forward, affine_backward), relu=(relu_forward, relu_backward), loss=softmax_loss)
