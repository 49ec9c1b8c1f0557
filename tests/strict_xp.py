"""A strict, CPU-only stand-in for CuPy, used to test the GPU code path without a GPU.

What it emulates
----------------
On the CuPy backend, arrays live on the device. Host (numpy) code cannot read
them without an explicit copy, and the two kinds of array do not mix. Code
that works on the NumPy backend can therefore break on a GPU in ways that no
CPU test sees:

* a direct ``np.something(x)`` call where ``B.xp().something(x)`` was meant;
* a host array passed to the device module, or a host array and a device array
  in one expression;
* a hidden device->host conversion: ``float(loss)``, ``if mask.any():``,
  ``x.item()``, ``x.tolist()``, ``np.asarray(x)``, or iterating over an array.

``StrictArray`` wraps a private numpy array and turns each of these into a
``TypeError`` that names the cause. The rules are stricter than CuPy's, which
accepts some of them (``float()`` and ``bool()`` on a 0-d array, some numpy
functions by dispatch) but pays for each with a slow, synchronising transfer.
The only ways across are explicit: ``module.asarray``/``module.array`` (host to
device), and ``module.asnumpy`` or ``StrictArray.get`` (device to host). These
are exactly what ``minicnn.backend.to_device``/``to_host`` call.

``strict`` (a ``StrictModule``) mirrors numpy's namespace for the library: its
functions take StrictArrays and return StrictArrays, and they reject numpy
arrays. dtypes, other classes and constants (``float32``, ``newaxis``, ``pi``)
are numpy's own objects. Reductions and integer indexing return 0-d arrays,
as CuPy's do, never Python or numpy scalars.

Use it as ``B.use_array_module(strict, "strict")``, or through the
``strict_backend`` pytest fixture (tests/conftest.py) or ``installed()``.
"""
import contextlib
import functools
import types

import numpy as np

_HINT = "use B.to_host(a) (module.asnumpy / a.get()) to copy to the host explicitly"


def _implicit(what, arr=None):
    where = "" if arr is None else f" (StrictArray shape={arr.shape}, dtype={arr.dtype})"
    return TypeError(f"implicit host conversion via {what}{where}: on CuPy this is a "
                     f"hidden device->host copy or an error; {_HINT}.")


def _host_array_error(where):
    return TypeError(f"numpy array passed to the device module ({where}): move it with "
                     "to_device (B.to_device) first; host and device arrays do not mix.")


# ---- crossing the wrapper boundary ------------------------------------------
def _unwrap(obj, where, seen):
    """Replace StrictArrays by their data (recording them in ``seen``); reject numpy arrays."""
    if isinstance(obj, StrictArray):
        seen[id(obj._a)] = obj
        return obj._a
    if isinstance(obj, np.ndarray):
        raise _host_array_error(where)
    if type(obj) in (list, tuple):
        return type(obj)(_unwrap(x, where, seen) for x in obj)
    if type(obj) is dict:
        return {k: _unwrap(v, where, seen) for k, v in obj.items()}
    return obj


def _wrap(res, seen=None):
    """Device view of a numpy result; an input returned as-is keeps its wrapper (``out=``)."""
    if isinstance(res, np.ndarray):
        if seen and id(res) in seen and seen[id(res)]._a is res:
            return seen[id(res)]
        return StrictArray(res)
    if isinstance(res, np.generic):  # CuPy reductions give 0-d arrays, not scalars
        return StrictArray(np.asarray(res))
    if isinstance(res, np.random.Generator):
        return _StrictGenerator(res)
    if type(res) in (list, tuple):
        return type(res)(_wrap(x, seen) for x in res)
    return res


def _call(fn, where, args, kwargs):
    seen = {}
    args = _unwrap(args, where, seen)
    kwargs = _unwrap(kwargs, where, seen)
    return _wrap(fn(*args, **kwargs), seen)


def _device_callable(fn, where):
    """``fn`` behind the device rules: StrictArrays in and out, numpy arrays refused."""
    @functools.wraps(fn)
    def device_function(*args, **kwargs):
        return _call(fn, where, args, kwargs)
    return device_function


def _operand(other, op):
    """The numpy value to combine with a StrictArray in an operator, or NotImplemented."""
    if isinstance(other, StrictArray):
        return other._a
    if isinstance(other, np.ndarray):
        raise TypeError(f"unsupported operand for {op}: a numpy.ndarray mixed with a "
                        "StrictArray (CuPy raises here too); move it with to_device first.")
    if isinstance(other, (bool, int, float, complex, np.generic)):
        return other
    return NotImplemented


# ---- the array --------------------------------------------------------------
_OPERATOR_UFUNCS = {"add", "subtract", "multiply", "divide", "true_divide", "floor_divide",
                    "remainder", "power", "divmod", "bitwise_and", "bitwise_or",
                    "bitwise_xor", "left_shift", "right_shift"}
_COMPARISON_UFUNCS = {"less", "less_equal", "equal", "not_equal", "greater", "greater_equal"}


class StrictArray:
    """A "device" array: numpy data behind a wall that only explicit transfers cross."""

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, data):
        if not isinstance(data, np.ndarray):
            raise TypeError("StrictArray wraps a numpy.ndarray; use to_strict() or "
                            "module.asarray().")
        self._a = data

    # -- numpy protocols: a direct numpy call on a device array is a bug ------
    def __array__(self, dtype=None, copy=None):
        raise _implicit("numpy.asarray/numpy.array (__array__)", self)

    def __array_function__(self, func, types_, args, kwargs):
        raise TypeError(f"{func.__module__}.{func.__name__}() was called directly on a "
                        f"StrictArray: library code must call B.xp().{func.__name__}, or "
                        f"{_HINT}.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # `np.float32(2) * a` and `np.float32(2) < a` reach numpy's ufunc with the
        # numpy scalar (a 0-d array for comparisons) first. CuPy accepts these, so
        # do we. Any other route here is a direct numpy call: reject it.
        name = ufunc.__name__
        if (method == "__call__" and not kwargs and len(inputs) == 2
                and isinstance(inputs[1], StrictArray)
                and (isinstance(inputs[0], np.generic) and name in _OPERATOR_UFUNCS
                     or isinstance(inputs[0], (np.generic, np.ndarray))
                     and np.ndim(inputs[0]) == 0 and name in _COMPARISON_UFUNCS)):
            return _wrap(ufunc(inputs[0], inputs[1]._a))
        call = name if method == "__call__" else f"{name}.{method}"
        raise TypeError(f"numpy.{call}() was called directly on a StrictArray (or mixed "
                        f"one with numpy arrays): library code must call B.xp().{call}, or "
                        f"{_HINT}.")

    # -- implicit host conversions raise: float(), bool(), .item()... are set up
    #    by the table after the class; format() with a spec is the one here.
    def __format__(self, spec):
        if spec:
            raise _implicit(f"format spec {spec!r} (f-string/format)", self)
        return str(self)

    # -- explicit device -> host ----------------------------------------------
    def get(self, stream=None):
        """A numpy copy of the data (CuPy's explicit transfer)."""
        strict.to_host_count += 1
        return self._a.copy()

    # -- attributes -----------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))
    real = property(lambda self: StrictArray(self._a.real))
    imag = property(lambda self: StrictArray(self._a.imag))

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        body = np.array2string(self._a, separator=", ", prefix="StrictArray(")
        return f"StrictArray({body}, dtype={self._a.dtype})"

    def __str__(self):
        return f"StrictArray({self._a})"

    def __copy__(self):
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"StrictArray has no attribute {name!r}: the stand-in exposes "
                             "only what CuPy arrays share with numpy; add it to "
                             "tests/strict_xp.py if CuPy has it.")

    # -- indexing: device or Python indices only -------------------------------
    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, "an index", {})])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, "an index", {})] = _unwrap(value, "an assigned value", {})

    # -- unary operators ------------------------------------------------------
    def __neg__(self):
        return StrictArray(-self._a)

    def __pos__(self):
        return StrictArray(+self._a)

    def __abs__(self):
        return StrictArray(abs(self._a))

    def __invert__(self):
        return StrictArray(~self._a)


def _binary_operator(dunder):
    def op(self, other):
        o = _operand(other, dunder)
        if o is NotImplemented:
            return NotImplemented
        return _wrap(getattr(self._a, dunder)(o))
    op.__name__ = dunder
    return op


def _inplace_operator(dunder):
    def op(self, other):
        o = _operand(other, dunder)
        if o is NotImplemented:
            return NotImplemented
        getattr(self._a, dunder)(o)  # numpy updates the data in place
        return self
    op.__name__ = dunder
    return op


def _method(name):
    def method(self, *args, **kwargs):
        return _call(getattr(self._a, name), f"StrictArray.{name}", args, kwargs)
    method.__name__ = name
    return method


def _forbidden(what):
    def conversion(self, *args):
        raise _implicit(what, self)
    return conversion


for _name, _what in (("__float__", "float()"), ("__int__", "int()"), ("__complex__", "complex()"),
                     ("__index__", "__index__ (use as an int, a shape or an index)"),
                     ("__bool__", "bool() (an `if`/`and`/`or`/`assert` on an array)"),
                     ("item", ".item()"), ("tolist", ".tolist()"),
                     ("__iter__", "iteration over the elements"),
                     ("__reversed__", "reversed()"), ("__contains__", "the `in` operator")):
    setattr(StrictArray, _name, _forbidden(_what))
for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
            "and", "or", "xor", "lshift", "rshift"):
    setattr(StrictArray, f"__{_op}__", _binary_operator(f"__{_op}__"))
    setattr(StrictArray, f"__r{_op}__", _binary_operator(f"__r{_op}__"))
    setattr(StrictArray, f"__i{_op}__", _inplace_operator(f"__i{_op}__"))
for _op in ("divmod", "rdivmod", "lt", "le", "eq", "ne", "gt", "ge"):
    setattr(StrictArray, f"__{_op}__", _binary_operator(f"__{_op}__"))
for _name in ("reshape", "transpose", "astype", "copy", "sum", "mean", "max", "min",
              "argmax", "argmin", "var", "std", "prod", "fill", "ravel", "flatten", "view",
              "swapaxes", "clip", "cumsum", "cumprod", "dot", "any", "all", "squeeze",
              "repeat", "take", "nonzero", "round", "conj", "sort", "argsort", "diagonal",
              "trace"):
    setattr(StrictArray, _name, _method(_name))


# ---- the module -------------------------------------------------------------
class _StrictUfunc:
    """A numpy ufunc that takes and returns StrictArrays (``at``/``reduce``/... included)."""

    def __init__(self, ufunc):
        self._uf = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _call(self._uf, f"{self.__name__}()", args, kwargs)

    def __getattr__(self, name):
        if name == "_uf":
            raise AttributeError(name)
        attr = getattr(self._uf, name)  # at, reduce, accumulate, outer, nin, nout...
        if callable(attr):
            return _device_callable(attr, f"{self.__name__}.{name}()")
        return attr

    def __repr__(self):
        return f"<strict ufunc {self.__name__!r}>"


class _StrictGenerator:
    """numpy's Generator whose draws come back as StrictArrays (cupy.random.Generator)."""

    def __init__(self, gen):
        self._gen = gen

    def __getattr__(self, name):
        if name == "_gen":
            raise AttributeError(name)
        attr = getattr(self._gen, name)
        if callable(attr):
            return _device_callable(attr, f"Generator.{name}()")
        return attr

    def __repr__(self):
        return f"<strict Generator wrapping {self._gen!r}>"


def _strict_attr(attr, where):
    if isinstance(attr, types.ModuleType):
        return _Namespace(attr, where)
    if isinstance(attr, type):  # dtypes, float32, dtype, finfo...: numpy's own
        return attr
    if isinstance(attr, np.ufunc):
        return _StrictUfunc(attr)
    if callable(attr):
        return _device_callable(attr, f"{where}()")
    return attr  # constants: pi, inf, newaxis...


class _Namespace:
    """A numpy (sub)module seen through the device rules; attributes are looked up lazily."""

    def __init__(self, module, where):
        self._np = module
        self._where = where
        self._cache = {}

    def __getattr__(self, name):
        if name in ("_np", "_where", "_cache"):
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = _strict_attr(getattr(self._np, name), f"{self._where}.{name}")
        return self._cache[name]

    def __dir__(self):
        return sorted(set(dir(self._np)) | set(type(self).__dict__))

    def __repr__(self):
        return f"<strict namespace over {self._np.__name__}>"


class StrictModule(_Namespace):
    """The stand-in for ``cupy``: numpy's namespace with CuPy's host/device rules."""

    ndarray = StrictArray

    def __init__(self):
        super().__init__(np, "strict")
        self.to_host_count = 0          # device -> host copies so far (asnumpy and .get())

    def asarray(self, a, dtype=None, order=None):
        """Host -> device (numpy arrays accepted here); a device array is returned as is."""
        if isinstance(a, StrictArray):
            return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
        return self.array(a, dtype=dtype, order=order)

    asanyarray = asarray

    def array(self, obj, dtype=None, copy=True, order=None, ndmin=0):
        """Host -> device, always a fresh copy (device memory never aliases the host's)."""
        if isinstance(obj, StrictArray):
            return StrictArray(np.array(obj._a, dtype=dtype, copy=copy, order=order or "K",
                                        ndmin=ndmin))
        data = _to_host_tree(obj)
        return StrictArray(np.array(data, dtype=dtype, copy=True, order=order or "K",
                                    ndmin=ndmin))

    def asnumpy(self, a, stream=None, order="C"):
        """Device -> host: a numpy copy (numpy inputs pass through, like cupy.asnumpy)."""
        if isinstance(a, StrictArray):
            self.to_host_count += 1
            return np.array(a._a, order=order, copy=True)
        return np.asarray(a, order=order)

    def get_array_module(self, *args):
        return self if any(isinstance(a, StrictArray) for a in args) else np


def _to_host_tree(obj):
    if isinstance(obj, StrictArray):
        return obj._a
    if type(obj) in (list, tuple):
        return type(obj)(_to_host_tree(x) for x in obj)
    return obj


strict = StrictModule()


def to_strict(a, dtype=None):
    """Test helper: a StrictArray holding a copy of host data ``a``."""
    return strict.asarray(np.asarray(a), dtype=dtype)


def from_strict(s):
    """Test helper: a numpy copy of StrictArray ``s``."""
    return strict.asnumpy(s)


@contextlib.contextmanager
def installed():
    """Run the library on the strict module; always restore the numpy backend afterwards."""
    from minicnn import backend
    backend.use_array_module(strict, "strict")
    try:
        yield strict
    finally:
        backend.set_backend("numpy")
