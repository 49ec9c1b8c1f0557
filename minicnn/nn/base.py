"""The contract every layer follows, and the checks of its arguments.

A layer reads top to bottom:
  __init__  hyper-parameters only, no arrays;
  build     parameters from the input shape (batch axis excluded);
  forward   computes the output and caches what backward needs;
  backward  turns dL/d(output) into dL/d(input) and fills ``grads``.

``params`` and ``grads`` are dicts keyed by the Keras names (``kernel``,
``bias``, ``gamma``, ``beta``); ``state`` holds non-trainable arrays
(``moving_mean``, ``moving_variance``).
"""
import numbers

from .. import backend


def is_count(v):
    """A whole number, Python's or NumPy's (np.int64(3) counts; True does not)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_number(v):
    """A real number, Python's or NumPy's (np.float32(0.5) counts; True and '0.5' do not)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def positive_int(v, what):
    """``v`` as an int >= 1, or a ValueError naming ``what``."""
    if not is_count(v) or v < 1:
        raise ValueError(f"{what} must be a positive int, got {v!r}.")
    return int(v)


def pair(v, what):
    """(a, b) from an int or a pair of ints, each >= 1 (kernel, pool and stride sizes)."""
    if is_count(v):
        v2 = (v, v)
    elif isinstance(v, (tuple, list)):
        v2 = tuple(v)
    else:
        v2 = ()
    if len(v2) != 2 or not all(is_count(a) and a >= 1 for a in v2):
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {v!r}.")
    return int(v2[0]), int(v2[1])


def shape_of(v, what):
    """A per-sample shape (no batch axis) as a tuple of ints >= 1; else a ValueError naming
    ``what``."""
    if not (isinstance(v, (tuple, list)) and len(v) > 0
            and all(is_count(d) and d >= 1 for d in v)):
        hint = f"; for one axis write ({v!r},)" if is_count(v) and v >= 1 else ""
        raise ValueError(f"{what} must be a tuple of positive ints such as (28, 28, 1) "
                         f"(no batch axis), got {v!r}{hint}.")
    return tuple(int(d) for d in v)


def textbook_twin(obj):
    """A new object of the textbook class (minicnn/nn) that ``obj``'s class is or derives
    from, made from ``obj.get_config()``: an unbuilt layer, or an optimizer with no state.
    A fast class's textbook class is the nearest base class defined in minicnn/nn."""
    textbook = next(cls for cls in type(obj).__mro__ if cls.__module__.startswith("minicnn.nn."))
    return textbook(**obj.get_config())


class Layer:
    # For the receptive-field columns of Sequential.summary(): the window this
    # layer looks at and how far it steps, in its own input's pixels.
    rf_kernel = 1
    rf_stride = 1
    # True for a layer whose forward looks across the samples of a batch (batch
    # norm's statistics, dropout's one mask): cutting its batch into parts and
    # running each part alone would change its result. The fast package's
    # process team (minicnn/fast/team.py) splits a batch only when no layer says so.
    needs_whole_batch = False

    def __init__(self, input_shape=None, name=None):
        who = f"{type(self).__name__}{'' if name is None else ' ' + repr(name)}"
        self.input_shape = None if input_shape is None else \
            shape_of(input_shape, f"{who}: input_shape")
        self.name = name
        self.params = {}
        self.grads = {}
        self.state = {}
        self.trainable = True
        self.built = False
        self.output_shape = None

    def build(self, input_shape):
        """Create parameters for inputs of ``input_shape`` (no batch axis)."""
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """Output shape (no batch axis) for inputs of ``input_shape``."""
        return tuple(input_shape)

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    # ---- helpers shared by all layers ------------------------------------
    def _describe(self):
        return f"{type(self).__name__}{'' if self.name is None else ' ' + repr(self.name)}"

    def _check_input(self, x):
        """Validate a batch before anything is computed; build on first use.

        Expects a float array of rank len(input_shape)+1, at least one sample,
        whose non-batch axes match the built input shape; raises
        TypeError/ValueError otherwise.
        """
        name = self._describe()
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        if shape is None or dtype is None:
            raise TypeError(f"{name}: expected an array, got {type(x).__name__}.")
        if dtype.kind != "f":
            raise TypeError(
                f"{name}: expected floating-point input ({backend.floatx()}), got dtype "
                f"{dtype} with shape {tuple(shape)}; convert with x.astype('{backend.floatx()}') "
                "(and scale images, e.g. /255).")
        if len(shape) == 0 or shape[0] == 0:
            raise ValueError(f"{name}: the batch holds no samples (input shape {tuple(shape)}); "
                             "pass at least one.")
        if self.built or self.input_shape is not None:
            expected = self.input_shape
            if len(shape) != len(expected) + 1 or tuple(shape[1:]) != tuple(expected):
                raise ValueError(
                    f"{name}: expected input of shape (batch, {', '.join(map(str, expected))}), "
                    f"got {tuple(shape)}.")
        if not self.built:
            self.build(tuple(shape[1:]))

    def _expect_images(self, input_shape):
        """build() of image layers: one (H, W, C) image per sample."""
        if len(input_shape) != 3:
            raise ValueError(f"{self._describe()}: expects images (H, W, C) per sample, "
                             f"got input shape {tuple(input_shape)}.")

    def _check_grad(self, grad_out):
        """backward() needs a prior forward() and a gradient shaped like its output."""
        name = self._describe()
        if not hasattr(self, "_out_shape"):
            raise RuntimeError(f"{name}: backward() called before forward().")
        if tuple(grad_out.shape) != self._out_shape:
            raise ValueError(
                f"{name}: grad_out has shape {tuple(grad_out.shape)}, expected the "
                f"forward output's shape {self._out_shape}.")

    def get_config(self):
        """The constructor's arguments, by their Keras names: type(layer)(**config)
        makes an unbuilt twin (subclasses add their own)."""
        config = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = tuple(self.input_shape)
        return config

    def count_params(self):
        return sum(int(p.size) for p in self.params.values()) + \
            sum(int(s.size) for s in self.state.values())

    def __repr__(self):
        return f"{type(self).__name__}(output_shape={self.output_shape})"
