"""Naive loop implementations of each layer's forward pass, written for the tests.

Deliberately the most literal code possible: explicit loops over every output
element, so they are easy to trust and share nothing with the library.
"""
import math

import numpy as np


def same_pads(size, k, s):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias, strides=(1, 1), padding="valid"):
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    if padding == "same":
        (top, bottom), (left, right) = same_pads(h, kh, sh), same_pads(w, kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh = (x.shape[1] - kh) // sh + 1
    ow = (x.shape[2] - kw) // sw + 1
    y = np.zeros((n, oh, ow, f))
    for b_ in range(n):
        for i in range(oh):
            for j in range(ow):
                for o in range(f):
                    acc = 0.0 if bias is None else bias[o]
                    for a in range(kh):
                        for bb in range(kw):
                            for ci in range(c):
                                acc += x[b_, i * sh + a, j * sw + bb, ci] * kernel[a, bb, ci, o]
                    y[b_, i, j, o] = acc
    return y


def maxpool(x, pool, strides, padding="valid"):
    n, h, w, c = x.shape
    ph, pw = pool
    sh, sw = strides
    if padding == "same":
        (top, bottom), (left, right) = same_pads(h, ph, sh), same_pads(w, pw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
    oh = (x.shape[1] - ph) // sh + 1
    ow = (x.shape[2] - pw) // sw + 1
    y = np.zeros((n, oh, ow, c))
    for b_ in range(n):
        for i in range(oh):
            for j in range(ow):
                for ci in range(c):
                    best = -np.inf
                    for a in range(ph):
                        for bb in range(pw):
                            best = max(best, x[b_, i * sh + a, j * sw + bb, ci])
                    y[b_, i, j, ci] = best
    return y


def maxpool_grad_first_max(x, pool, strides, g):
    """Gradient of max pooling (valid) where each window's gradient goes to its first maximum."""
    n, h, w, c = x.shape
    ph, pw = pool
    sh, sw = strides
    oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
    dx = np.zeros_like(x)
    for b_ in range(n):
        for i in range(oh):
            for j in range(ow):
                for ci in range(c):
                    best, where = -np.inf, None
                    for a in range(ph):
                        for bb in range(pw):
                            v = x[b_, i * sh + a, j * sw + bb, ci]
                            if v > best:          # strict: the first maximum keeps it
                                best, where = v, (i * sh + a, j * sw + bb)
                    dx[b_, where[0], where[1], ci] += g[b_, i, j, ci]
    return dx


def batchnorm_train(x, gamma, beta, eps):
    c = x.shape[-1]
    y = np.zeros_like(x)
    means, variances = np.zeros(c), np.zeros(c)
    for ci in range(c):
        vals = x[..., ci].ravel()
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / len(vals)
        y[..., ci] = gamma[ci] * (x[..., ci] - mean) / math.sqrt(var + eps) + beta[ci]
        means[ci], variances[ci] = mean, var
    return y, means, variances


def dense(x, kernel, bias):
    n, d = x.shape
    y = np.zeros((n, kernel.shape[1]))
    for b_ in range(n):
        for o in range(kernel.shape[1]):
            y[b_, o] = bias[o] + sum(x[b_, i] * kernel[i, o] for i in range(d))
    return y


def softmax_xent(logits, labels):
    total = 0.0
    for row, t in zip(logits, labels):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[t]
    return total / len(labels)
