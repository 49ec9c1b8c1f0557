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
import warnings

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


# ---- Keras 1 argument names, and Keras 2 arguments at their only supported value ----
# Keras 2.2 still accepts many Keras 1 argument names (keras/legacy/interfaces.py):
# it renames them and warns. Each layer's __init__ is decorated with keras_arguments
# and its table of old -> new names; keras2_call does the renaming and the warning.

# Keras 1's dim_ordering values and the data_format each one means in Keras 2
DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}

# Keras 2 arguments minicnn takes only at the value that means what it does anyway
# (channels-last images, no dilation, no constraints, no activity penalty, one global
# random generator): anything else is refused with the reason.
ONLY_VALUES = {
    "data_format": ((None, "channels_last"), "minicnn's images are channels-last, (N, H, W, C)"),
    "dilation_rate": ((1, (1, 1), [1, 1]), "minicnn has no dilated convolutions"),
    "activity_regularizer": ((None,), "minicnn penalises weights only (kernel_regularizer, "
                             "bias_regularizer), not a layer's output"),
    "noise_shape": ((None,), "minicnn's Dropout draws one value per unit"),
    "seed": ((None,), "minicnn's Dropout draws from the global generator: call minicnn.seed(n)"),
}
for _name in ("kernel_constraint", "bias_constraint", "depthwise_constraint",
              "pointwise_constraint", "beta_constraint", "gamma_constraint"):
    ONLY_VALUES[_name] = ((None,), "minicnn has no weight constraints")


def keras2_call(kind, args, kwargs, renames, only=(), kernel_rows_cols=False):
    """(args, kwargs) of a call to layer ``kind`` rewritten with Keras 2's names.

    renames: {Keras 1 name: its Keras 2 name, or a tuple of names that all get its
    value}; each one found is renamed in place, and one UserWarning lists them all
    with the Keras 2 form of the call.
    only: names from ONLY_VALUES the layer accepts (and drops) at their one value.
    kernel_rows_cols: Conv2D's Keras 1 kernel, Conv2D(16, 3, 3) or nb_row=3, nb_col=3,
    becomes kernel_size=(3, 3).
    """
    notes = []
    if kernel_rows_cols:
        args, kwargs = _keras1_kernel_size(kind, tuple(args), dict(kwargs), notes)
    converted = {}
    for key, value in kwargs.items():
        if key not in renames:
            converted[key] = value
            continue
        new = renames[key] if isinstance(renames[key], tuple) else (renames[key],)
        for name in new:
            if name in kwargs:
                raise TypeError(f"{kind}: got both {key}= (Keras 1) and {name}= (Keras 2); "
                                f"keep only {name}=.")
        if key == "mode":                  # BatchNormalization(mode=0): Keras 1's default
            if value != 0:
                raise ValueError(f"{kind}: mode={value!r} (Keras 1) has no Keras 2 form; "
                                 "only mode=0, the usual per-batch normalisation, exists.")
            notes.append("mode= (dropped)")
            continue
        if key == "dim_ordering":
            value = DIM_ORDERING.get(value, value)
        for name in new:
            converted[name] = value
        notes.append(f"{key}= -> {'= and '.join(new)}=")
    for name in only:
        if name in converted:
            values, why = ONLY_VALUES[name]
            value = converted.pop(name)
            if not any(value == v and type(value) is type(v) for v in values):
                raise ValueError(f"{kind}: {name}={value!r} is not supported ({why}); "
                                 f"leave it out or pass {values[-1]!r}.")
    if notes:
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in converted.items()]
        warnings.warn(f"{kind}: Keras 1 arguments ({', '.join(notes)}); write the Keras 2 "
                      f"form {kind}({', '.join(shown)}).", UserWarning, stacklevel=3)
    return args, converted


def _keras1_kernel_size(kind, args, kwargs, notes):
    """(args, kwargs) with Conv2D(filters, rows, cols) or nb_row=/nb_col= read as Keras 2.2
    reads them: a (rows, cols) kernel. Only filters and kernel_size may be positional
    (strides and the rest by keyword), as in Keras 2.2."""
    if len(args) == 3 and is_count(args[1]) and is_count(args[2]):
        if "strides" in kwargs or "padding" in kwargs:
            raise ValueError(
                f"{kind}{args}: ambiguous; Keras 1 reads the third number as the kernel's "
                f"width (a {args[1]}x{args[2]} kernel), but with strides= or padding= given "
                f"it looks like a stride. Write kernel_size=({args[1]}, {args[2]}) or "
                f"strides={args[2]} by keyword.")
        notes.append("rows, cols -> kernel_size")
        args = (args[0], (args[1], args[2]))
    elif "nb_row" in kwargs or "nb_col" in kwargs:
        if len(args) == 2 and "nb_col" in kwargs and "nb_row" not in kwargs:
            args = (args[0], (args[1], kwargs.pop("nb_col")))    # Conv2D(16, 3, nb_col=3)
        elif len(args) <= 1 and "nb_row" in kwargs and "nb_col" in kwargs \
                and "kernel_size" not in kwargs:
            rows_cols, renamed = (kwargs["nb_row"], kwargs["nb_col"]), {}
            for key, value in kwargs.items():         # kernel_size takes nb_row's place
                if key == "nb_row":
                    renamed["kernel_size"] = rows_cols
                elif key != "nb_col":
                    renamed[key] = value
            kwargs = renamed
        else:
            raise TypeError(f"{kind}: Keras 1's nb_row= and nb_col= give the kernel's size "
                            "together; write kernel_size=(rows, cols) instead.")
        notes.append("nb_row, nb_col -> kernel_size")
    if len(args) > 2:
        raise TypeError(f"{kind} takes filters and kernel_size by position, got {len(args)} "
                        f"positional arguments {args}; pass strides=, padding= and the "
                        "rest by keyword (as Keras 2.2 requires).")
    return args, kwargs


def keras_arguments(renames=None, only=(), kernel_rows_cols=False):
    """Decorator of a layer's __init__: it also takes the Keras 1 names in ``renames``
    (with a warning) and the Keras 2 arguments in ``only`` at their one supported
    value (see keras2_call). The decorated __init__ sees Keras 2 names only."""
    renames = renames or {}

    def decorate(init):
        def init_with_keras_names(self, *args, **kwargs):
            args, kwargs = keras2_call(type(self).__name__, args, kwargs, renames, only,
                                       kernel_rows_cols)
            init(self, *args, **kwargs)
        init_with_keras_names.__wrapped__ = init     # help() and inspect show init's arguments
        init_with_keras_names.__doc__ = init.__doc__
        return init_with_keras_names
    return decorate


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

    def regularizers(self):
        """{param key: regularizer} for the parameters this layer penalises (Keras'
        kernel_regularizer, bias_regularizer); the model adds each penalty to the loss
        and its gradient to the parameter's (minicnn/model/runner.py). None here."""
        return {}

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

    def get_weights(self):
        """Host copies of this layer's weights in Keras' order: its params (kernel, bias;
        gamma, beta), then its state (moving_mean, moving_variance); [] before build."""
        return [backend.to_host(a).copy() for a in (*self.params.values(), *self.state.values())]

    def set_weights(self, weights):
        """Set this layer's weights from a list in get_weights() order, in place (every
        array the layer holds stays the same object); all counts, shapes and values are
        checked before any is changed."""
        import numpy  # host side: the given arrays are checked on the host
        name = self._describe()
        slots = [(group, key) for group in (self.params, self.state) for key in group]
        if len(weights) != len(slots):
            hint = " (build the layer first, e.g. by building its model)" if not self.built else ""
            raise ValueError(f"{name}: set_weights expects {len(slots)} arrays "
                             f"({', '.join(key for _, key in slots) or 'none'}), got "
                             f"{len(weights)}{hint}.")
        host = []
        for (group, key), w in zip(slots, weights):
            w = numpy.asarray(backend.to_host(w))
            if w.shape != tuple(group[key].shape):
                raise ValueError(f"{name}: set_weights: {key} has shape {tuple(group[key].shape)}, "
                                 f"got {w.shape}.")
            if w.dtype.kind not in "biuf" or not numpy.isfinite(w).all():
                raise ValueError(f"{name}: set_weights: {key} must hold finite real numbers.")
            host.append(w)
        for (group, key), w in zip(slots, host):
            group[key][...] = backend.to_device(w, dtype=group[key].dtype)
