"""One convolution computed four ways: loops against im2col, timed (docs/im2col_cost.md).

    python docs/im2col_speed.py                # Go Crazy's second convolution, batches 1 and 128
    OPENBLAS_NUM_THREADS=1 python docs/im2col_speed.py --batch 1,16,128   # steadier on a busy machine

The layer is Go Crazy's conv2d_2: a (N, 26, 26, 12) input, a 3x3 kernel, 20 filters, a
(N, 24, 24, 20) output. The four ways compute the same numbers (checked before timing):

    loops      a Python loop over every output value and every product: the definition
    by pixel   a loop over the 576 output positions, one small matrix product each
    by offset  a loop over the 9 kernel offsets, one (M, 12) @ (12, 20) product each
    im2col     minicnn.im2col.im2col, then one (M, 108) @ (108, 20) product (the textbook's way)

The pure-Python loops are timed on 2 images (or 1) and scaled to the batch. The columns
of "im2col" are also timed alone: on a large batch they do not fit in the caches.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from minicnn.im2col import im2col  # noqa: E402


def loops(x, kernel):
    """y[n, i, j, f] = sum over a, b, c of x[n, i+a, j+b, c] * kernel[a, b, c, f], literally."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    y = np.zeros((n, h - kh + 1, w - kw + 1, f), dtype=x.dtype)
    for s in range(n):
        for i in range(h - kh + 1):
            for j in range(w - kw + 1):
                for o in range(f):
                    total = 0.0
                    for a in range(kh):
                        for b in range(kw):
                            for ch in range(c):
                                total += x[s, i + a, j + b, ch] * kernel[a, b, ch, o]
                    y[s, i, j, o] = total
    return y


def by_pixel(x, kernel):
    """One matrix product per output position: its window, flattened, times the kernel."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    k2 = kernel.reshape(kh * kw * c, f)
    y = np.empty((n, h - kh + 1, w - kw + 1, f), dtype=x.dtype)
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            y[:, i, j, :] = x[:, i:i + kh, j:j + kw, :].reshape(n, -1) @ k2
    return y


def by_offset(x, kernel):
    """One matrix product per kernel offset (a, b): every pixel's (a, b) neighbour times
    kernel[a, b], added up; no column matrix at all."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    oh, ow = h - kh + 1, w - kw + 1
    y = np.zeros((n * oh * ow, f), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            y += x[:, a:a + oh, b:b + ow, :].reshape(-1, c) @ kernel[a, b]
    return y.reshape(n, oh, ow, f)


def by_im2col(x, kernel):
    """The textbook's way: the columns, then one matrix product."""
    kh, kw, c, f = kernel.shape
    cols = im2col(x, kh, kw, 1, 1)                                    # (N, H', W', kh*kw*C)
    n, oh, ow, k = cols.shape
    return (cols.reshape(-1, k) @ kernel.reshape(k, f)).reshape(n, oh, ow, f)


WAYS = {"loops": loops, "by pixel": by_pixel, "by offset": by_offset, "im2col": by_im2col}


def extra_memory(way, x, kernel):
    """Bytes of the largest temporary array each way makes besides x, the kernel and y."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    oh, ow = h - kh + 1, w - kw + 1
    size = x.dtype.itemsize
    return {"loops": 0, "by pixel": n * kh * kw * c * size,
            "by offset": n * oh * ow * c * size,
            "im2col": n * oh * ow * kh * kw * c * size}[way]


def best_time(fn, *args, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(batch, seed=0, repeats=5):
    """[(way, seconds, largest temporary in bytes)] for a batch of ``batch`` images, plus the
    im2col copy alone; the ways are first checked to agree."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 26, 26, 12)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 12, 20)).astype(np.float32)
    reference = by_im2col(x[:2], kernel)
    for fn in WAYS.values():
        np.testing.assert_allclose(fn(x[:2], kernel), reference, rtol=1e-4, atol=1e-3)
    rows = []
    for name, fn in WAYS.items():
        if name == "loops":                          # the definition: 2 images (or 1), scaled
            part = x[:min(batch, 2)]
            seconds = best_time(fn, part, kernel, repeats=1) * batch / part.shape[0]
        else:
            seconds = best_time(fn, x, kernel, repeats=repeats)
        rows.append((name, seconds, extra_memory(name, x, kernel)))
    copy = best_time(im2col, x, 3, 3, 1, 1, repeats=repeats)
    rows.append(("  of which the columns", copy, extra_memory("im2col", x, kernel)))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", default="1,128", help="batch sizes, separated by commas (default 1,128)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(f"conv2d_2 of Go Crazy: (N, 26, 26, 12) -> (N, 24, 24, 20), 3x3 kernel, float32, "
          f"numpy {np.__version__}; best of 5 runs")
    for batch in (int(b) for b in args.batch.split(",")):
        rows = measure(batch, args.seed)
        base = dict((name, seconds) for name, seconds, _ in rows)["im2col"]
        print(f"\nbatch {batch}:")
        print(f"{'way':<24}{'ms':>10}{'vs im2col':>11}{'largest temporary':>19}")
        for name, seconds, memory in rows:
            print(f"{name:<24}{1000 * seconds:>10.2f}{seconds / base:>10.1f}x{memory / 2 ** 20:>15.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
