"""The strict CuPy stand-in: same numbers as numpy, and it catches host leaks."""
import copy

import numpy as np
import pytest

from minicnn import backend
from tests.strict_xp import StrictArray, from_strict, installed, strict, to_strict


def _pair(shape=(3, 4), seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return a, to_strict(a)


def _same(s, expected):
    assert isinstance(s, StrictArray)
    got = from_strict(s)
    assert got.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


# ---- it computes what numpy computes ----------------------------------------
def test_matmul_and_dot():
    a, sa = _pair((3, 4))
    b, sb = _pair((4, 5), seed=1)
    _same(sa @ sb, a @ b)
    _same(strict.matmul(sa, sb), a @ b)
    _same(strict.dot(sa, sb), a @ b)
    _same(sa.dot(sb), a @ b)
    _same(sb.__rmatmul__(sa), a @ b)
    _same(strict.einsum("ij,jk->ik", sa, sb), a @ b)


def test_reductions_with_axis_and_zero_d_results():
    a, sa = _pair((2, 3, 4))
    _same(sa.sum(axis=0), a.sum(axis=0))
    _same(sa.mean(axis=(0, 2), keepdims=True), a.mean(axis=(0, 2), keepdims=True))
    _same(sa.max(axis=1), a.max(axis=1))
    _same(sa.argmax(axis=-1), a.argmax(axis=-1))
    _same(sa.var(axis=0), a.var(axis=0))
    _same(strict.std(sa, axis=2), np.std(a, axis=2))
    total = sa.sum()  # a 0-d device array, like CuPy, not a Python float
    assert isinstance(total, StrictArray) and total.ndim == 0
    assert isinstance(strict.sum(sa), StrictArray) and isinstance(sa[0, 1, 2], StrictArray)
    np.testing.assert_allclose(from_strict(total), a.sum(), rtol=1e-6)


def test_operators_in_place_and_out():
    a, sa = _pair()
    _same(2.0 - sa * 3 / (abs(sa) + 1) ** 2, 2.0 - a * 3 / (abs(a) + 1) ** 2)
    _same(np.float32(2.0) * sa, np.float32(2.0) * a)  # numpy scalar constants mix
    _same(np.float32(0.0) < sa, np.float32(0.0) < a)
    _same(-sa, -a)
    _same((sa > 0) & (sa < 1), (a > 0) & (a < 1))
    view = sa[0]
    ident = id(sa)
    sa += 1.0
    sa *= np.float32(2)
    assert id(sa) == ident
    a = (a + 1.0) * np.float32(2)
    _same(view, a[0])  # in place: the earlier view sees the update
    out = strict.maximum(sa, 0, out=sa)
    assert out is sa
    a = np.maximum(a, 0)
    _same(sa, a)
    _same(sa.clip(0.5, 2.0), a.clip(0.5, 2.0))
    _same(sa.cumsum(axis=1), a.cumsum(axis=1))


def test_slicing_and_assignment():
    a, sa = _pair((4, 5))
    _same(sa[1:, ::2], a[1:, ::2])
    _same(sa[..., None], a[..., None])
    idx = np.array([3, 0, 0])
    _same(sa[to_strict(idx)], a[idx])
    _same(sa[sa > 0], a[a > 0])
    sa[0] = 7.0
    sa[1:3, 1:3] = to_strict(np.ones((2, 2), np.float32))
    sa[sa < 0] = 0.0
    a[0] = 7.0
    a[1:3, 1:3] = 1.0
    a[a < 0] = 0.0
    _same(sa, a)
    sa.T[0] = -1.0  # a view writes through
    a.T[0] = -1.0
    _same(sa, a)
    _same(sa.reshape(5, 4).transpose(1, 0).astype(np.float64), a.reshape(5, 4).T.astype(np.float64))


def test_ufunc_at_and_list_arguments():
    acc, sacc = np.zeros(4, np.float32), to_strict(np.zeros(4, np.float32))
    idx = np.array([0, 1, 1, 3])
    strict.add.at(sacc, to_strict(idx), 1.0)
    np.add.at(acc, idx, 1.0)
    _same(sacc, acc)
    a, sa = _pair()
    _same(strict.concatenate([sa, sa], axis=0), np.concatenate([a, a], axis=0))
    _same(strict.stack((sa, sa)), np.stack((a, a)))


def test_stride_tricks():
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    sx = to_strict(x)
    st = strict.lib.stride_tricks
    shape, strides = (2, 5, 5, 2, 2), x.strides + x.strides[1:]
    _same(st.as_strided(sx, shape=shape, strides=strides),
          np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides))
    _same(st.sliding_window_view(sx, (3, 3), axis=(1, 2)),
          np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2)))


def test_random_generator():
    rng = strict.random.default_rng(3)
    r = rng.random((2, 3), dtype=strict.float32)
    assert isinstance(r, StrictArray) and r.dtype == np.float32
    _same(r, np.random.default_rng(3).random((2, 3), dtype=np.float32))


def test_passthrough_and_explicit_transfers():
    assert strict.float32 is np.float32 and strict.dtype is np.dtype
    assert strict.newaxis is None and strict.pi == np.pi and strict.inf == np.inf
    a, sa = _pair()
    assert isinstance(sa, strict.ndarray)
    assert (sa.shape, sa.dtype, sa.ndim, sa.size, len(sa)) == (a.shape, a.dtype, a.ndim, a.size, 3)
    assert (sa.strides, sa.itemsize, sa.nbytes) == (a.strides, a.itemsize, a.nbytes)
    assert sa.flags.c_contiguous and "StrictArray" in repr(sa)
    host = sa.get()
    host[0, 0] = 99.0  # a copy: the device data is unchanged
    assert isinstance(host, np.ndarray) and from_strict(sa)[0, 0] == a[0, 0]
    assert isinstance(copy.deepcopy(sa), StrictArray)
    src = np.ones(3)
    dev = strict.asarray(src, dtype=np.float32)
    src[0] = 5.0  # device memory never aliases the host's
    _same(dev, np.ones(3, np.float32))
    assert strict.asarray(dev) is dev


# ---- it catches what CuPy would reject (or silently synchronise on) -----------
_np_host = np.ones((3, 4), np.float32)

CAUGHT = {
    "np.asarray(s)": (lambda s: np.asarray(s), "implicit host conversion"),
    "np.array(s)": (lambda s: np.array(s), "implicit host conversion"),
    "np.sum(s)": (lambda s: np.sum(s), r"numpy\.sum"),
    "np.maximum(s, 0, out=s)": (lambda s: np.maximum(s, 0, out=s), r"numpy\.maximum"),
    "np.exp(s)": (lambda s: np.exp(s), r"numpy\.exp"),
    "float(s.sum())": (lambda s: float(s.sum()), "implicit host conversion"),
    "int(s.argmax())": (lambda s: int(s.argmax()), "implicit host conversion"),
    "bool(s.any())": (lambda s: bool(s.any()), "implicit host conversion"),
    "if s.all()": (lambda s: 1 if s.all() else 0, "implicit host conversion"),
    "range(s.argmax())": (lambda s: range(s.argmax()), "implicit host conversion"),
    "f'{s.sum():.3f}'": (lambda s: f"{s.sum():.3f}", "implicit host conversion"),
    "s.item()": (lambda s: s.item(), "implicit host conversion"),
    "s.tolist()": (lambda s: s.tolist(), "implicit host conversion"),
    "list(s)": (lambda s: list(s), "implicit host conversion"),
    "s + np_array": (lambda s: s + _np_host, "numpy.ndarray mixed"),
    "np_array + s": (lambda s: _np_host + s, r"numpy\.add"),
    "np_array < s": (lambda s: _np_host < s, r"numpy\.less"),
    "s *= np_array": (lambda s: s.__imul__(_np_host), "numpy.ndarray mixed"),
    "strict.matmul(np_array, s)": (lambda s: strict.matmul(_np_host.T, s), "to_device"),
    "strict.zeros_like(np_array)": (lambda s: strict.zeros_like(_np_host), "to_device"),
    "strict.stack([s, np_array])": (lambda s: strict.stack([s, _np_host]), "to_device"),
    "s[np_index]": (lambda s: s[np.array([0, 1])], "to_device"),
    "s[...] = np_array": (lambda s: s.__setitem__(Ellipsis, _np_host), "to_device"),
    "s.dot(np_array)": (lambda s: s.dot(_np_host.T), "to_device"),
}


@pytest.mark.parametrize("case", sorted(CAUGHT))
def test_catches(case):
    fn, message = CAUGHT[case]
    with pytest.raises(TypeError, match=message):
        fn(_pair()[1])


def test_no_array_interface_or_buffer():
    s = _pair()[1]
    assert not hasattr(s, "__array_interface__") and not hasattr(s, "__array_struct__")
    with pytest.raises(TypeError):
        memoryview(s)


# ---- a planted bug in library-style code is caught -----------------------------
def relu_forward_buggy(x):
    xp = backend.xp()  # noqa: F841  the bug: fetched the module, then called numpy anyway
    return np.maximum(x, 0)


def relu_forward(x):
    xp = backend.xp()
    return xp.maximum(x, 0)


def test_planted_numpy_call_is_caught(strict_backend):
    assert backend.xp() is strict_backend
    x_host = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    x = backend.to_device(x_host, "float32")
    assert isinstance(x, StrictArray)
    with pytest.raises(TypeError, match=r"numpy\.maximum"):
        relu_forward_buggy(x)
    y = relu_forward(x)
    assert isinstance(y, StrictArray)
    np.testing.assert_array_equal(backend.to_host(y), np.maximum(x_host, 0))
    # the same buggy function passes silently on numpy: why the stand-in exists
    backend.set_backend("numpy")
    np.testing.assert_array_equal(relu_forward_buggy(x_host), np.maximum(x_host, 0))


def test_installed_restores_numpy_even_on_failure():
    with pytest.raises(RuntimeError):
        with installed():
            assert backend.get_backend() == "strict"
            backend.seed(0)
            assert isinstance(backend.rng().random((2,), dtype=np.float32), StrictArray)
            raise RuntimeError("boom")
    assert backend.get_backend() == "numpy" and backend.xp() is np
