"""The one place that knows which array library runs the maths.

Library code never imports numpy or cupy for array work: it calls ``xp()`` and
uses whatever module is active. Parameters and activations use ``floatx()``.
The only host <-> device transfers are ``to_device`` and ``to_host``.

State kept here: the active array module, its name, the float dtype, the
seed, the two random generators and the dropout stream of the GPU backend.
(The thread and process counts live in minicnn/fast/threads.py and
minicnn/fast/team.py.)
"""
import numbers

import numpy  # host side only: the default module and host conversions

from . import philox

_xp = numpy
_name = "numpy"
_floatx = "float32"
_seed = None
_host_rng = numpy.random.default_rng()  # initialisation, shuffling (host)
_rng = numpy.random.default_rng()       # dropout masks on NumPy (on the device)


def _stream_key_of(n):
    """The dropout stream's 64-bit Philox key for seed n (a random one for None)."""
    return int(numpy.random.SeedSequence(None if n is None else [n, 2]).generate_state(
        1, numpy.uint64)[0])


_stream_key = _stream_key_of(None)   # dropout masks on other backends: Philox's key
_stream = None    # [key, draws so far] as a device uint64 array of the active module, once used


def xp():
    """The active array module (numpy or cupy): ``xp().zeros(...)`` etc."""
    return _xp


def get_backend():
    """Name of the active backend: "numpy" or "cupy"."""
    return _name


def _load_cupy():
    """Import cupy and check a CUDA device exists; raise a helpful error if not."""
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError(
            "set_backend('cupy'): CuPy is not installed. Install the extra that "
            "matches your CUDA toolkit, e.g. pip install -e \".[cuda12]\" (or "
            "\".[cuda13]\"), or use set_backend('numpy').") from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise RuntimeError(
            "set_backend('cupy'): CuPy is installed but no CUDA device can be "
            f"used ({err}). Check the NVIDIA driver, or use set_backend('numpy').") from err
    if count < 1:
        raise RuntimeError(
            "set_backend('cupy'): CuPy is installed but no CUDA device was "
            "found. Use set_backend('numpy') on this machine.")
    return cupy


def set_backend(name):
    """Select the array library: "numpy" (CPU) or "cupy" (CUDA GPU).

    Raises before changing anything if the name is unknown or CuPy is unusable.
    """
    if name == "numpy":
        module = numpy
    elif name == "cupy":
        module = _load_cupy()
    else:
        raise ValueError(
            f"Unknown backend {name!r}: choose 'numpy' (CPU) or 'cupy' (GPU).")
    use_array_module(module, name)


def use_array_module(module, name):
    """Install any numpy-compatible module as the backend.

    ``set_backend`` is the public way in; this hook lets the tests run the
    library through a strict stand-in module that behaves like CuPy.
    """
    global _xp, _name, _rng, _stream, _stream_key
    _xp, _name = module, name
    _rng = _make_rng(None if _seed is None else _seed + 1)
    _stream = None                       # made again on the new module, from its first draw
    _stream_key = _stream_key_of(_seed)


def set_floatx(dtype):
    """Dtype of parameters and activations: "float32" (default) or "float64"."""
    global _floatx
    if dtype not in ("float32", "float64"):
        raise ValueError(f"Unknown floatx {dtype!r}: choose 'float32' or 'float64'.")
    _floatx = dtype


def floatx():
    """The active float dtype name ("float32" unless changed)."""
    return _floatx


def _make_rng(n):
    return _xp.random.default_rng(n)


def seed(n):
    """Seed the generators used for initialisation, shuffling and dropout.

    Call it before the model is built (compile draws the initial weights). The same
    seed gives bit-identical runs on NumPy for the same process and thread counts,
    chosen with minicnn.fast.set_processes(n) and set_threads(n) (by default the
    process team adapts to other programs' load, see minicnn/fast/team.py).
    ``n``: an int >= 0 (Python's or NumPy's; not a float or a string).
    """
    global _seed, _host_rng, _rng, _stream_key
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"seed: n must be an int, got {type(n).__name__} {n!r}.")
    if n < 0:
        raise ValueError(f"seed: n must be >= 0, got {n}.")
    _seed = int(n)
    _host_rng = numpy.random.default_rng(_seed)
    _rng = _make_rng(_seed + 1)
    _stream_key = _stream_key_of(_seed)
    if _stream is not None:              # in place: a captured CUDA graph reads this array
        _stream[...] = _stream_start()


def host_rng():
    """numpy Generator for initial weights and shuffling: the same weights on every backend."""
    return _host_rng


def rng():
    """The backend's own Generator (numpy or cupy): dropout masks on NumPy (on other
    backends they come from the dropout stream, dropout_stream)."""
    return _rng


def rng_state():
    """What dropout draws next, for code that must leave it as it found it (profiling,
    diagnostics) and puts it back with set_rng_state: (the generator's state where it can
    be read, NumPy's, else None; a device copy of the dropout stream, or None on NumPy)."""
    try:
        state = _rng.bit_generator.state
    except AttributeError:
        state = None
    stream = None if _name == "numpy" else dropout_stream().copy()
    return (state if isinstance(state, dict) else None), stream


def set_rng_state(state):
    """Put back what rng_state returned (in place: the stream keeps its array)."""
    generator, stream = state
    if generator is not None:
        _rng.bit_generator.state = generator
    if stream is not None and _stream is not None:
        _stream[...] = stream


# ---- the dropout stream of the GPU backend: Philox4x32-10 ------------------------------
def _stream_start():
    """[key, 0]: the stream's state before its first draw, on the device."""
    return to_device(numpy.array([_stream_key, 0], dtype=numpy.uint64))


def dropout_stream():
    """The dropout stream's state as a device uint64 array [key, draws so far].

    On every backend but NumPy, dropout masks come from Philox4x32-10
    (minicnn/philox.py): word j of draw d is output word j % 4 of
    philox(counter = (j // 4 low and high 32 bits, d low and high 32 bits), key).
    The key comes from minicnn.seed; the draw count lives on the device and
    is advanced there (advance_dropout_stream), so a captured CUDA graph
    (minicnn/fast/graph.py) draws new masks at every replay, the same masks the
    eager step would draw. The array keeps its identity: seed() and
    set_rng_state write into it.
    """
    global _stream
    if _stream is None:
        _stream = _stream_start()
    return _stream


def advance_dropout_stream():
    """Count one draw, on the device (no transfer)."""
    draws = dropout_stream()[1:2]
    draws += numpy.uint64(1)


def dropout_words(size):
    """The next draw of the dropout stream: ``size`` uint32 words (device), the draw counted."""
    state = dropout_stream()
    blocks = -(-size // 4)                                   # four words per counter
    c0, c1 = philox.split_words(_xp.arange(blocks, dtype=numpy.uint64))
    draw_low, draw_high = philox.split_words(state[1:2])
    key = philox.split_words(state[0:1])
    c2, c3 = _xp.broadcast_to(draw_low, c0.shape), _xp.broadcast_to(draw_high, c0.shape)
    words = _xp.stack(philox.philox4x32((c0, c1, c2, c3), key), axis=1)   # (blocks, 4)
    advance_dropout_stream()
    return words.reshape(-1)[:size]


def keep_threshold(keep):
    """A word of the dropout stream keeps its unit when below this uint32: keep * 2**32,
    rounded (so keep is a multiple of 2**-32)."""
    return numpy.uint32(min(round(keep * 2.0 ** 32), 2 ** 32 - 1))


def keep_mask(shape, keep):
    """Boolean array of ``shape`` whose entries are True with probability ``keep`` (dropout)."""
    return keep_mask_rows(shape, keep)(slice(None))


def keep_mask_rows(shape, keep):
    """One dropout mask of ``shape`` as a function: rows -> mask[rows], for
    ``rows`` a slice of the first axis.

    The mask is fixed now, and its rows can be drawn in any order, by any
    thread, with the same bits whatever the split; the generator moves past
    the whole mask at once. NumPy: 16 random bits per entry, four from each
    64-bit output of the generator, True below round(keep * 2**16), so keep is
    rounded to a multiple of 2**-16 (0.9 becomes 0.899994); three times faster
    than float32 uniforms. A part's bits come from a copy of the generator
    advanced to that part's place in the stream. NumPy rows not made of whole
    64-bit draws: float32 uniforms below keep, drawn at once. Other backends
    (CuPy): one draw of the dropout stream (dropout_stream), a word per entry,
    True below keep_threshold(keep), drawn at once.
    """
    n, per_row = int(shape[0]), 1
    for d in shape[1:]:
        per_row *= int(d)
    if _name != "numpy":
        whole = dropout_words(n * per_row).reshape(tuple(shape)) < keep_threshold(keep)
        return lambda rows: whole[rows]
    bit_gen = getattr(_rng, "bit_generator", None)
    if per_row % 4 or not hasattr(bit_gen, "advance"):
        whole = _rng.random(tuple(shape), dtype="float32") < keep
        return lambda rows: whole[rows]
    start_state = bit_gen.state
    bit_gen.advance(n * per_row // 4)                   # past the whole mask
    threshold = numpy.uint16(min(round(keep * 65536), 65535))

    def rows_of_mask(rows):
        first, last, _ = rows.indices(n)
        part = type(bit_gen)()
        part.state = start_state
        part.advance(first * per_row // 4)
        bits = part.random_raw((last - first) * per_row // 4).view(numpy.uint16)
        return (bits < threshold).reshape((last - first,) + tuple(shape[1:]))
    return rows_of_mask


def synchronize():
    """Wait until the GPU has finished all queued work (a no-op on NumPy).

    GPU calls return before the work is done; time a piece of GPU code only
    between two synchronize() calls.
    """
    if _name == "cupy":
        _xp.cuda.Device().synchronize()


def to_device(a, dtype=None):
    """Copy a host (numpy) array to the active backend, optionally casting."""
    if _name == "numpy":
        return numpy.asarray(a, dtype=dtype)
    return _xp.asarray(a, dtype=dtype)


def to_host(a):
    """Copy a backend array to a numpy array (a no-op on the numpy backend)."""
    if _xp is numpy or isinstance(a, (numpy.ndarray, list, tuple)) or numpy.isscalar(a):
        return numpy.asarray(a)
    return _xp.asnumpy(a)


# ---- Keras' backend functions: `from minicnn import backend as K` ----------------------
# Keras 2.2 code calls these as K.image_data_format(), K.epsilon(), K.set_value(...).
# minicnn has no graph and no symbolic tensors: they act on plain arrays and numbers.
_epsilon = 1e-7
_CHANNELS_LAST_ONLY = ("minicnn is channels-last only, images (samples, height, width, channels); "
                       "transpose channels-first data with x.transpose(0, 2, 3, 1).")


def image_data_format():
    """The layout of image arrays: always 'channels_last', (samples, height, width, channels)."""
    return "channels_last"


def set_image_data_format(data_format):
    """Accept 'channels_last', the one layout minicnn has; 'channels_first' is a ValueError."""
    normalize_data_format(data_format, "set_image_data_format")


def normalize_data_format(value, who="normalize_data_format"):
    """'channels_last' for None or 'channels_last'; a ValueError naming ``who`` otherwise."""
    if value is None or (isinstance(value, str) and value.lower() == "channels_last"):
        return "channels_last"
    if isinstance(value, str) and value.lower() == "channels_first":
        raise ValueError(f"{who}('channels_first'): {_CHANNELS_LAST_ONLY}")
    raise ValueError(f"{who}: unknown data format {value!r}; use 'channels_last'.")


def image_dim_ordering():
    """Keras 1's name for the layout: 'tf' (channels last)."""
    return "tf"


def set_image_dim_ordering(dim_ordering):
    """Keras 1's setter: 'tf' (channels last) is accepted; 'th' (channels first) is a ValueError."""
    if dim_ordering == "th":
        raise ValueError(f"set_image_dim_ordering('th'): {_CHANNELS_LAST_ONLY}")
    if dim_ordering != "tf":
        raise ValueError(f"set_image_dim_ordering: unknown ordering {dim_ordering!r}; use 'tf'.")


def epsilon():
    """The small constant Keras code reads as K.epsilon(): 1e-7 unless set_epsilon changed it.
    Only code that calls epsilon() sees a change: minicnn's layers and optimizers take their
    epsilon as a constructor argument."""
    return _epsilon


def set_epsilon(value):
    """Set what epsilon() returns: a finite number > 0."""
    global _epsilon
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ValueError(f"set_epsilon: value must be a finite number > 0 such as 1e-7, got {value!r}.")
    _epsilon = float(value)


def cast_to_floatx(x):
    """x as a host NumPy array of floatx() (Keras' K.cast_to_floatx)."""
    return numpy.asarray(to_host(x), dtype=_floatx)


def clear_session():
    """What Keras' clear_session() resets, as far as minicnn has it.

    Keras frees its TensorFlow graph and restarts the global layer numbering. minicnn has
    no graph (a model is Python objects, freed when nothing refers to it any more) and
    each model numbers its own layers (conv2d_1, conv2d_2, ...), so neither needs
    resetting. What it does: after seed(n), it restarts both random generators at n, so
    the next model draws the same initial weights, shuffles and dropout masks as the first
    model after seed(n) did. Without a seed it changes nothing.
    """
    if _seed is not None:
        seed(_seed)


def _is_array(x):
    """A host (NumPy) array or an array of the active backend."""
    return isinstance(x, numpy.ndarray) or isinstance(x, getattr(_xp, "ndarray", numpy.ndarray))


def int_shape(x):
    """The shape of an array as a tuple of ints (Keras' K.int_shape)."""
    if not hasattr(x, "shape"):
        raise TypeError(f"int_shape: expected an array, got {type(x).__name__}.")
    return tuple(int(d) for d in x.shape)


def get_value(x):
    """K.get_value(x): x.get_value() for an object that has one; a host NumPy copy of an
    array (host or device); a Python float for a number (model.optimizer.lr is one)."""
    if callable(getattr(x, "get_value", None)):
        return x.get_value()
    if _is_array(x):
        host = to_host(x)
        return host.copy() if host is x else host        # a copy: changing it leaves x alone
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return float(x)
    raise TypeError(f"get_value: expected an array, a number or an object with a get_value() "
                    f"method, got {type(x).__name__}.")


def set_value(x, value):
    """K.set_value(x, value): ``x.set_value(value)`` for an object that has that method;
    for an array (host or device), its contents replaced in place by ``value`` (same shape,
    cast to x's dtype). A Python number cannot be changed in place: that is a TypeError,
    which for a learning rate says to write ``model.optimizer.lr = value``."""
    if callable(getattr(x, "set_value", None)):
        x.set_value(value)
        return
    if _is_array(x):
        if isinstance(x, numpy.ndarray):
            new = numpy.asarray(to_host(value), dtype=x.dtype)
        else:
            new = to_device(value, dtype=x.dtype)
        if tuple(new.shape) != tuple(x.shape):
            raise ValueError(f"set_value: value has shape {tuple(new.shape)} but x has shape "
                             f"{tuple(x.shape)}; give a value of x's shape.")
        x[...] = new
        return
    if isinstance(x, numbers.Number):
        raise TypeError(f"set_value: x is the number {x!r}, which cannot be changed in place. For "
                        f"a learning rate write model.optimizer.lr = {value!r} (in minicnn it is a "
                        "plain number attribute); for an array pass the array itself.")
    raise TypeError(f"set_value: expected an array or an object with a set_value() method, got "
                    f"{type(x).__name__}.")
