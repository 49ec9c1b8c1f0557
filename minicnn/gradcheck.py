"""Check a layer's backward pass against central differences, in float64.

For a random upstream gradient G (not all ones: an all-ones G hides real bugs,
e.g. a batch-norm backward with a term deleted still passes), the scalar
    L(x, params) = sum(layer.forward(x) * G)
has dL/dx = layer.backward(G) and dL/dparam = layer.grads[param]. Each is
compared with the numeric derivative
    (L(v + h) - L(v - h)) / (2h)
element by element, or along a few random directions for large tensors.
The reported error of a tensor is max_i |analytic_i - numeric_i| / max_i
max(|analytic_i|, |numeric_i|): the worst error relative to the gradient's size.

A central difference is a derivative only where L is smooth between v - h and v + h.
Where a probe crosses a kink (a ReLU input at 0) or a tie (two equal maxima of a
pooling window), the slopes on its two sides differ, and (L(v+h) - L(v-h)) / (2h) is
their average, which matches no backward pass. Each probe therefore also compares
its one-sided slopes, (L(v+h) - L(v)) / h and (L(v) - L(v-h)) / h; where they differ
by more than KINK_TOLERANCE of the gradient's size, gradcheck warns (KinkWarning),
says how many probes of which tensor crossed one, and what the error is without
them. docs/gradcheck.md explains the thresholds, float64 and kinks.

Usable on your own layers: anything with forward(x, training), backward(g),
and dicts ``params``/``grads`` works.

Command line (prints the table, exits 1 above the threshold; --help lists the layers):
    python -m minicnn.gradcheck Conv2D --input-shape 7,9,3 --filters 4 --kernel-size 3 --strides 2
    python -m minicnn.gradcheck Activation --activation softmax --input-shape 6
"""
import argparse
import math
import sys
import warnings

import numpy as np  # host side: all checking happens on host copies

from . import backend

THRESHOLD = 1e-6
# A probe whose two one-sided slopes differ by more than this share of the gradient's
# size crossed a kink or a tie. Smooth layers differ by about h * (second derivative),
# some 1e-6 of the gradient here; a kink differs by the jump of the slope itself.
KINK_TOLERANCE = 1e-4


class KinkWarning(UserWarning):
    """Some probes of gradcheck crossed a kink or a tie, where L has no derivative."""


def _loss(layer, x, G, training, seed):
    if seed is not None:
        backend.seed(seed)                   # stochastic layers (Dropout) see the same mask every call
    return float(backend.to_host((layer.forward(x, training=training) * G).sum()))


def _elementwise(f, v, h, f0):
    """Numeric gradient of f() with respect to every element of array v (in place, restored),
    and each probe's slope gap |right slope - left slope| (f0: f() at v itself)."""
    flat = v.reshape(-1)
    num = np.empty(flat.shape[0])
    gap = np.empty(flat.shape[0])
    for i in range(flat.shape[0]):
        old = flat[i].copy()
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        num[i] = (up - down) / (2 * h)
        gap[i] = abs((up - f0) - (f0 - down)) / h
    return num.reshape(v.shape), gap.reshape(v.shape)


def _directional(f, v, h, analytic, directions, rng, f0):
    """Compare <analytic, d> with the numeric derivative along random unit directions d;
    returns (analytic values, numeric values, slope gaps), one of each per direction."""
    a_vals, n_vals, gaps = [], [], []
    for _ in range(directions):
        d = rng.standard_normal(v.shape)
        d /= np.linalg.norm(d)
        d_dev = backend.to_device(d, dtype=v.dtype)
        saved = v.copy()
        v += h * d_dev
        up = f()
        v[...] = saved - h * d_dev
        down = f()
        v[...] = saved
        n_vals.append((up - down) / (2 * h))
        gaps.append(abs((up - f0) - (f0 - down)) / h)
        a_vals.append(float((backend.to_host(analytic) * d).sum()))
    return np.array(a_vals), np.array(n_vals), np.array(gaps)


def _scale(a, n):
    return max(float(np.max(np.abs(a))), float(np.max(np.abs(n))), 1e-30)


def _rel_error(a, n):
    return float(np.max(np.abs(a - n))) / _scale(a, n)


def _warn_kinks(name, a, n, gap, error):
    """KinkWarning if some probes of tensor ``name`` crossed a kink or a tie."""
    kinked = gap > KINK_TOLERANCE * _scale(a, n)
    count = int(kinked.sum())
    if count == 0:
        return
    rest = (f"without them the error is {_rel_error(a[~kinked], n[~kinked]):.2e}"
            if count < kinked.size else "no probe was free of them")
    warnings.warn(KinkWarning(
        f"gradcheck: {count} of {kinked.size} probes of {name!r} cross a kink or a tie (their "
        "left and right slopes differ: a ReLU input at 0, equal maxima in a pooling window); "
        f"a central difference there is no derivative, so the error {error:.2e} of {name!r} "
        f"does not measure the backward pass; {rest}. Move the inputs off the kink "
        "(other random values, no exact zeros or ties) and check again."), stacklevel=3)


def gradcheck(layer, x, h=1e-6, training=True, seed=0, max_elements=2000, directions=20):
    """Max relative error of d(input) and of every parameter's gradient.

    layer: a layer (unbuilt, or built under set_floatx("float64")).
    x: host or device array, batch first; it is converted to float64.
    training: the mode forward runs in (BatchNormalization, Dropout differ).
    seed: re-seeded before every forward, so Dropout keeps one fixed mask.
    Tensors with more than max_elements entries are checked along
    ``directions`` random directions instead of element by element.
    Returns {"input": err, "kernel": err, ...}. Warns (KinkWarning) when some probes
    of a tensor cross a kink or a tie, where the central difference is no derivative.
    """
    previous = backend.floatx()
    backend.set_floatx("float64")
    try:
        x = backend.to_device(backend.to_host(x), dtype="float64")
        if not getattr(layer, "built", True):
            layer.build(tuple(x.shape[1:]))
        for name, p in layer.params.items():
            if p.dtype != np.float64:
                raise ValueError(
                    f"gradcheck: parameter {name!r} is {p.dtype}; build the layer under "
                    "minicnn.set_floatx('float64') (or pass an unbuilt layer).")
        rng = np.random.default_rng(1234)
        if seed is not None:
            backend.seed(seed)
        y = layer.forward(x, training=training)
        G = backend.to_device(rng.standard_normal(tuple(y.shape)), dtype="float64")
        dx = layer.backward(G)
        analytic = {"input": dx}
        analytic.update({k: g.copy() for k, g in layer.grads.items()})
        tensors = {"input": x}
        tensors.update(layer.params)

        def f():
            return _loss(layer, x, G, training, seed)

        f0 = f()                                    # L at the point itself: the one-sided slopes
        errors = {}
        for name, v in tensors.items():
            a = backend.to_host(analytic[name])
            if v.size <= max_elements:
                n, gap = _elementwise(f, v, h, f0)
                a = a.reshape(-1)
                n, gap = n.reshape(-1), gap.reshape(-1)
            else:
                a, n, gap = _directional(f, v, h, analytic[name], directions, rng, f0)
            errors[name] = _rel_error(a, n)
            _warn_kinks(name, a, n, gap, errors[name])
        return errors
    finally:
        backend.set_floatx(previous)


def gradcheck_loss(loss, logits, y, h=1e-6):
    """Max relative error of dL/dlogits for a loss with forward(logits, y) and backward()."""
    previous = backend.floatx()
    backend.set_floatx("float64")
    try:
        z = backend.to_device(backend.to_host(logits), dtype="float64")
        y = backend.to_device(backend.to_host(y))                   # labels or targets, host or device
        loss.forward(z, y)
        a = backend.to_host(loss.backward())
        def f():
            return float(backend.to_host(loss.forward(z, y)))
        n, _ = _elementwise(f, z, h, f())
        return {"logits": _rel_error(a, n)}
    finally:
        backend.set_floatx(previous)


# ---- command line ----------------------------------------------------------
# argparse types: a bad value becomes a usage error (exit status 2) that names it.
def _ints(text):
    """'7,9,3' -> (7, 9, 3): sizes, each an int >= 1."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive ints separated by commas, such as 7,9,3; got {text!r}")
    return values


def _positive_int(text):
    """An int >= 1 (a count: samples, filters, units)."""
    return _int_at_least(text, 1)


def _non_negative_int(text):
    """An int >= 0 (a seed)."""
    return _int_at_least(text, 0)


def _int_at_least(text, low):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}")
    return value


def _positive_float(text):
    """A finite number > 0 (the error threshold)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, such as 1e-6; "
                                         f"got {text!r}")
    return value


# name -> (the options it reads, a builder from the parsed arguments and the class module)
LAYERS = {
    "Conv2D": ("--filters --kernel-size --strides --padding --activation",
               lambda args, kinds: kinds.Conv2D(args.filters, args.kernel_size, strides=args.strides,
                                                padding=args.padding, activation=args.activation)),
    "Dense": ("--units --activation",
              lambda args, kinds: kinds.Dense(args.units, activation=args.activation)),
    "MaxPooling2D": ("--pool-size --strides --padding",
                     lambda args, kinds: kinds.MaxPooling2D(args.pool_size, strides=args.strides,
                                                            padding=args.padding)),
    "BatchNormalization": ("", lambda args, kinds: kinds.BatchNormalization()),
    "Dropout": ("--rate", lambda args, kinds: kinds.Dropout(args.rate)),
    "Activation": ("--activation (required: relu, softmax, tanh, ...)",
                   lambda args, kinds: kinds.Activation(args.activation)),
    "ReLU": ("", lambda args, kinds: kinds.ReLU()),
    "Softmax": ("", lambda args, kinds: kinds.Softmax()),
    "Flatten": ("", lambda args, kinds: kinds.Flatten()),
}
ALIASES = {"Convolution2D": "Conv2D"}


def _layer_name(text):
    """argparse type of the layer argument: a name of LAYERS (or an alias)."""
    name = ALIASES.get(text, text)
    if name not in LAYERS:
        raise argparse.ArgumentTypeError(f"unknown layer {text!r}; choose one of "
                                         f"{', '.join(LAYERS)}")
    return name


def _make_layer(args):
    from . import layers, nn
    kinds = nn if args.textbook else layers     # the textbook's classes, or the fast ones
    if args.layer == "Activation" and args.activation is None:
        raise ValueError("Activation needs the function to check: add --activation NAME, "
                         "e.g. --activation softmax")
    return LAYERS[args.layer][1](args, kinds)


def _layer_list():
    """The --help text that lists every layer and the options it reads."""
    labels = {name: name + "".join(f" or {alias}" for alias, target in ALIASES.items()
                                   if target == name) for name in LAYERS}
    width = max(len(label) for label in labels.values()) + 2
    lines = ["layers, and the options each one reads:"]
    for name, (options, _) in LAYERS.items():
        lines.append(f"  {labels[name]:<{width}}{options or '-'}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minicnn.gradcheck",
                                description="Gradient-check one layer against central differences, in "
                                            "float64\n(docs/gradcheck.md explains the numbers).",
                                epilog=_layer_list(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("layer", type=_layer_name, metavar="LAYER",
                   help=f"the layer to check: {', '.join(LAYERS)}")
    p.add_argument("--input-shape", type=_ints, required=True, help="per-sample shape, e.g. 7,9,3")
    p.add_argument("--batch", type=_positive_int, default=2)
    p.add_argument("--filters", type=_positive_int, default=4)
    p.add_argument("--kernel-size", type=_ints, default=(3,))
    p.add_argument("--strides", type=_ints, default=None)
    p.add_argument("--padding", default="valid")
    p.add_argument("--pool-size", type=_ints, default=(2,))
    p.add_argument("--units", type=_positive_int, default=5)
    p.add_argument("--rate", type=float, default=0.3)
    p.add_argument("--activation", default=None,
                   help="a Keras activation name: Conv2D's and Dense's activation=, or the "
                        "function an Activation layer runs")
    p.add_argument("--inference", action="store_true", help="check the inference-mode pass")
    p.add_argument("--textbook", action="store_true",
                   help="check the textbook class (minicnn.nn) instead of the fast one")
    p.add_argument("--threshold", type=_positive_float, default=THRESHOLD)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    args = p.parse_args(argv)
    unpair = lambda t: t[0] if t and len(t) == 1 else t  # noqa: E731
    args.kernel_size, args.pool_size = unpair(args.kernel_size), unpair(args.pool_size)
    if args.strides is None:
        args.strides = None if args.layer == "MaxPooling2D" else 1
    else:
        args.strides = unpair(args.strides)
    previous = backend.floatx()
    backend.set_floatx("float64")                       # gradcheck's precision, for the parameters
    try:
        layer = _make_layer(args)
        layer.build(args.input_shape)             # e.g. a kernel that does not fit the input
    except ValueError as err:
        p.error(str(err))
    finally:
        backend.set_floatx(previous)
    x = np.random.default_rng(args.seed).standard_normal((args.batch,) + args.input_shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", KinkWarning)
        errors = gradcheck(layer, x, training=not args.inference, seed=args.seed)
    print(f"{'layer':<20} {'tensor':<8} {'max rel. error':>14}  ok")
    worst = 0.0
    for name, err in errors.items():
        worst = max(worst, err)
        print(f"{args.layer:<20} {name:<8} {err:>14.2e}  {'yes' if err < args.threshold else 'NO'}")
    for warning in caught:
        if issubclass(warning.category, KinkWarning):
            print(f"note: {warning.message}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return 0 if worst < args.threshold else 1


if __name__ == "__main__":
    sys.exit(main())
