"""The fast paths and the readable reference paths compute the same numbers.

Layers with a fast path take ``reference=True`` to run the textbook version
instead; one training step of the assignment's Go Crazy model must agree.
"""
import os
import sys

import numpy as np

import minicnn
from minicnn import backend as B

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import assignment4  # noqa: E402


def one_step(reference, floatx="float32"):
    B.set_floatx(floatx)
    try:
        minicnn.seed(5)
        model = assignment4.go_crazy()
        for layer in model.layers:
            if hasattr(layer, "reference"):
                layer.reference = reference
        # SGD: the update is linear in the gradient (Adam's first step is ~lr*sign(g),
        # which would magnify float32 noise on near-zero gradients)
        model.compile("categorical_crossentropy", assignment4.SGD(lr=0.01))
        rng = np.random.default_rng(0)
        x = rng.random((16, 28, 28, 1)).astype(floatx)
        y = rng.integers(0, 10, 16)
        loss, _ = model._train_step(x, y, y)
        grads = [B.to_host(layer.grads[key]) for layer, key in model._train_slots]
        return float(loss), grads, model.get_weights(), model.predict(x)
    finally:
        B.set_floatx("float32")


def test_go_crazy_step_fast_equals_reference_float64():
    """Same maths: in float64 the two paths agree to rounding (about 1e-13 here)."""
    fast, ref = one_step(False, "float64"), one_step(True, "float64")
    assert abs(fast[0] - ref[0]) < 1e-10 * abs(ref[0])
    for a, b in zip(fast[1] + fast[2] + [fast[3]], ref[1] + ref[2] + [ref[3]]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def assert_close_to_scale(a, b, tol):
    """max |a - b| within tol of b's largest entry."""
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= tol * np.abs(b).max(), (np.abs(a - b).max(), np.abs(b).max())


def test_go_crazy_step_fast_equals_reference_float32():
    """In float32 the paths round differently (other summation orders, parts
    summed per thread), and eight batch norms over 16 samples amplify that to
    ~1e-3 of a gradient's scale; a wrong formula would be off by O(1)."""
    fast, ref = one_step(False), one_step(True)
    assert abs(fast[0] - ref[0]) < 1e-5 * abs(ref[0])
    for a, b in zip(fast[1], ref[1]):
        assert_close_to_scale(a, b, 5e-3)
    for a, b in zip(fast[2], ref[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast[3], ref[3], rtol=1e-4, atol=1e-6)
