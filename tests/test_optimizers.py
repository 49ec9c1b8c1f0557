"""Optimizers against float64 hand-written steps of their formulas."""
import math

import numpy as np
import pytest

from minicnn import optimizers
from minicnn.optimizers import SGD, Adam
from tests import strict_xp

SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]
STEPS = 5


def _problem(seed, dtype):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return params, grads


def _sgd_reference(params, grads, lrs, momentum=0.0, nesterov=False, weight_decay=0.0):
    p = [x.astype(np.float64) for x in params]
    v = [np.zeros_like(x) for x in p]
    for step, lr in zip(grads, lrs):
        for i, grad in enumerate(step):
            g = grad.astype(np.float64) + weight_decay * p[i]
            v[i] = momentum * v[i] - lr * g
            p[i] = p[i] + (momentum * v[i] - lr * g if nesterov else v[i])
    return p


def _adam_reference(params, grads, lrs, b1=0.9, b2=0.999, eps=1e-7):
    p = [x.astype(np.float64) for x in params]
    m = [np.zeros_like(x) for x in p]
    v = [np.zeros_like(x) for x in p]
    for t, (step, lr) in enumerate(zip(grads, lrs), start=1):
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, grad in enumerate(step):
            g = grad.astype(np.float64)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            p[i] = p[i] - lr_t * m[i] / (np.sqrt(v[i]) + eps)
    return p


def _run(opt, params, grads, lrs):
    ids = [id(p) for p in params]
    for step, lr in zip(grads, lrs):
        opt.lr = lr
        opt.step(params, step)
    assert [id(p) for p in params] == ids
    assert opt.iterations == len(grads)


SGD_CASES = [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(weight_decay=0.01),
    dict(momentum=0.8, nesterov=True, weight_decay=0.05),
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=lambda k: ",".join(k) or "plain")
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-6)])
def test_sgd_matches_formula_in_place(kwargs, dtype, tol):
    params, grads = _problem(0, dtype)
    start = [p.copy() for p in params]
    lrs = [0.1, 0.1, 0.05, 0.2, 0.01]          # lr changed between steps
    _run(SGD(lr=lrs[0], **kwargs), params, grads, lrs)
    expected = _sgd_reference(start, grads, lrs, **kwargs)
    for p, e, s in zip(params, expected, start):
        assert p.dtype == np.dtype(dtype)
        assert not np.allclose(p, s)              # it really moved
        np.testing.assert_allclose(p, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-6)])
def test_adam_matches_formula_in_place(dtype, tol):
    params, grads = _problem(1, dtype)
    start = [p.copy() for p in params]
    lrs = [0.01, 0.01, 0.003, 0.02, 0.001]
    _run(Adam(lr=lrs[0]), params, grads, lrs)
    expected = _adam_reference(start, grads, lrs)
    for p, e in zip(params, expected):
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p, e, rtol=tol, atol=tol)


def test_adam_custom_betas():
    params, grads = _problem(2, "float64")
    start = [p.copy() for p in params]
    lrs = [0.05] * STEPS
    _run(Adam(lr=0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-3), params, grads, lrs)
    expected = _adam_reference(start, grads, lrs, b1=0.5, b2=0.9, eps=1e-3)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-12)


def test_first_step_values_by_hand():
    p = np.array([1.0, -2.0], dtype=np.float32)
    SGD(lr=0.5).step([p], [np.array([2.0, 4.0], dtype=np.float32)])
    np.testing.assert_array_equal(p, [0.0, -4.0])
    # Adam's first step moves every coordinate by about lr, against the gradient's sign.
    q = np.array([1.0, 1.0], dtype=np.float32)
    Adam(lr=0.1).step([q], [np.array([3.0, -0.5], dtype=np.float32)])
    np.testing.assert_allclose(q, [0.9, 1.1], atol=1e-6)


def test_no_float64_leaks_into_float32_state():
    params, grads = _problem(3, "float32")
    for opt in (SGD(momentum=0.9, weight_decay=1e-3), Adam()):
        opt.step(params, grads[0])
        for slots in opt._slots.values():
            assert all(s.dtype == np.float32 for s in slots)
        assert all(t.dtype == np.float32 for t in opt._scratch.values())


@pytest.mark.parametrize("make,n_state", [
    (lambda: SGD(lr=0.1), 0),
    (lambda: SGD(lr=0.1, momentum=0.9), 1),
    (lambda: Adam(lr=0.01), 2),
], ids=["sgd", "momentum", "adam"])
def test_state_is_what_the_formula_needs_and_scratch_is_separate(make, n_state):
    """Plain SGD keeps no state, momentum a velocity, Adam two moments; the NumPy
    path's one scratch array per parameter is not state (a GPU kernel needs none)."""
    params, grads = _problem(2, "float32")
    opt = make()
    opt.step(params, grads[0])
    assert [len(opt._slots.get(i, ())) for i in range(len(params))] == [n_state] * len(params)
    assert sorted(opt._scratch) == list(range(len(params)))


@pytest.mark.parametrize("make", [
    lambda: SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: Adam(lr=0.01),
], ids=["sgd", "adam"])
def test_step_on_strict_device_backend(make):
    """On the CuPy stand-in: only xp calls, no host conversions, same numbers as numpy."""
    params, grads = _problem(4, "float32")
    expected = [p.copy() for p in params]
    on_host = make()
    for step in grads:
        on_host.step(expected, step)
    with strict_xp.installed() as xp:
        device = [xp.asarray(p) for p in params]
        ids = [id(p) for p in device]
        opt = make()
        for step in grads:
            opt.step(device, [xp.asarray(g) for g in step])
        assert [id(p) for p in device] == ids
        got = [xp.asnumpy(p) for p in device]
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, e)


def test_mismatched_lists_and_shapes_are_rejected():
    opt = SGD(momentum=0.9)
    with pytest.raises(ValueError, match="parallel"):
        opt.step([np.zeros(3)], [])
    opt.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.zeros(4)], [np.ones(4)])


def test_invalid_hyper_parameters():
    with pytest.raises(ValueError, match="lr"):
        SGD(lr=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="beta_1"):
        Adam(beta_1=1.0)


def test_get():
    sgd = optimizers.get("sgd")
    assert isinstance(sgd, SGD) and sgd.lr == 0.01 and sgd.momentum == 0.0
    adam = optimizers.get("Adam")
    assert isinstance(adam, Adam) and adam.lr == 0.001 and adam.epsilon == 1e-7
    mine = Adam(lr=0.5)
    assert optimizers.get(mine) is mine
    with pytest.raises(ValueError, match="Unknown optimizer 'lbfgs'.*'adam'.*'sgd'"):
        optimizers.get("lbfgs")
    with pytest.raises(ValueError):
        optimizers.get(None)


def test_repr():
    assert repr(SGD(lr=0.1, momentum=0.9)) == \
        "SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"
    assert repr(Adam()) == "Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)"
