"""Activations: ReLU, softmax, linear, and Keras' other element-wise ones.

Conv2D and Dense take ``activation="relu"`` (or any name of ``get``) and run
one of these after their own output, exactly like a separate Activation layer
would. Each element-wise activation y = f(x) has the gradient
dL/dx = dL/dy * f'(x); its class writes f and f' (``slope``):

    tanh          y = tanh(x)                              f' = 1 - y^2
    sigmoid       y = 1 / (1 + exp(-x))                    f' = y * (1 - y)
    hard_sigmoid  y = clip(0.2 * x + 0.5, 0, 1)            f' = 0.2 where |x| < 2.5, else 0
    elu           y = x if x > 0 else alpha * (exp(x) - 1) f' = 1 if x > 0 else y + alpha
    selu          y = scale * elu(x, alpha), fixed alpha and scale
    softplus      y = log(1 + exp(x))                      f' = sigmoid(x)
    softsign      y = x / (1 + |x|)                        f' = 1 / (1 + |x|)^2
    exponential   y = exp(x)                               f' = y
    LeakyReLU     y = x if x > 0 else alpha * x            f' = 1 if x > 0 else alpha
"""
from .. import backend
from .base import Layer, is_number


class ReLU(Layer):
    """y = max(x, 0);  dL/dx = dL/dy * [y > 0]."""

    def forward(self, x, training=False):
        self._check_input(x)
        y = backend.xp().maximum(x, 0)
        self._y = y
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out * (self._y > 0)


class Softmax(Layer):
    """y_i = exp(x_i) / sum_j exp(x_j) over the last axis;
    dL/dx = y * (g - sum(g * y)) (the Jacobian-vector product)."""

    def forward(self, x, training=False):
        self._check_input(x)
        z = x - x.max(axis=-1, keepdims=True)          # stable: exp of values <= 0
        e = backend.xp().exp(z)
        y = e / e.sum(axis=-1, keepdims=True)
        self._y = y
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        y = self._y
        return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))


class Linear(Layer):
    """y = x;  dL/dx = dL/dy."""

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        return x

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out


class ElementWise(Layer):
    """y = f(x) value by value;  dL/dx = dL/dy * f'(x). A subclass writes ``value(x)``
    (f) and ``slope(x, y)`` (f', from x and the y forward computed)."""

    def forward(self, x, training=False):
        self._check_input(x)
        y = self.value(x)
        self._x, self._y = x, y
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out * self.slope(self._x, self._y)

    def value(self, x):
        raise NotImplementedError

    def slope(self, x, y):
        raise NotImplementedError


class Tanh(ElementWise):
    """y = tanh(x);  f' = 1 - y^2."""

    def value(self, x):
        return backend.xp().tanh(x)

    def slope(self, x, y):
        return 1.0 - y * y


class Sigmoid(ElementWise):
    """y = 1 / (1 + exp(-x));  f' = y * (1 - y)."""

    def value(self, x):
        return sigmoid(x)

    def slope(self, x, y):
        return y * (1.0 - y)


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp(-|x|) <= 1 in both branches."""
    xp = backend.xp()
    e = xp.exp(-abs(x))                                 # in (0, 1]
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class HardSigmoid(ElementWise):
    """y = clip(0.2 * x + 0.5, 0, 1) (Keras 2.2's);  f' = 0.2 on (-2.5, 2.5), else 0."""

    def value(self, x):
        return backend.xp().clip(0.2 * x + 0.5, 0.0, 1.0)

    def slope(self, x, y):
        inside = ((x > -2.5) & (x < 2.5)).astype(x.dtype)     # 1 inside, 0 outside
        return 0.2 * inside


class ELU(ElementWise):
    """y = x for x > 0, alpha * (exp(x) - 1) otherwise;  f' = 1 for x > 0, y + alpha otherwise.
    Keras' ELU layer (and activation="elu", alpha 1.0)."""

    def __init__(self, alpha=1.0, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not is_number(alpha):
            raise ValueError(f"ELU: alpha must be a number, got {alpha!r}.")
        self.alpha = float(alpha)

    def value(self, x):
        xp = backend.xp()
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0.0)))

    def slope(self, x, y):
        positive = (x > 0).astype(x.dtype)                     # 1 where x > 0, else 0
        return positive + (1.0 - positive) * (y + self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class SELU(ElementWise):
    """y = scale * elu(x, alpha) with Klambauer et al.'s alpha and scale (keep a layer's
    mean 0 and variance 1 with lecun_normal weights);  f' = scale * elu'(x)."""
    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def value(self, x):
        xp = backend.xp()
        return self.SCALE * xp.where(x > 0, x, self.ALPHA * xp.expm1(xp.minimum(x, 0.0)))

    def slope(self, x, y):
        positive = (x > 0).astype(x.dtype)                     # 1 where x > 0, else 0
        return self.SCALE * positive + (1.0 - positive) * (y + self.SCALE * self.ALPHA)


class Softplus(ElementWise):
    """y = log(1 + exp(x)), written max(x, 0) + log(1 + exp(-|x|)) (no overflow);
    f' = sigmoid(x)."""

    def value(self, x):
        xp = backend.xp()
        return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-abs(x)))

    def slope(self, x, y):
        return sigmoid(x)


class Softsign(ElementWise):
    """y = x / (1 + |x|);  f' = 1 / (1 + |x|)^2."""

    def value(self, x):
        return x / (1.0 + abs(x))

    def slope(self, x, y):
        d = 1.0 + abs(x)
        return 1.0 / (d * d)


class Exponential(ElementWise):
    """y = exp(x);  f' = y."""

    def value(self, x):
        return backend.xp().exp(x)

    def slope(self, x, y):
        return y


class LeakyReLU(ElementWise):
    """y = x for x > 0, alpha * x otherwise;  f' = 1 for x > 0, alpha otherwise.
    Keras' LeakyReLU layer (alpha 0.3 by default)."""

    def __init__(self, alpha=0.3, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not is_number(alpha):
            raise ValueError(f"LeakyReLU: alpha must be a number, got {alpha!r}.")
        self.alpha = float(alpha)

    def value(self, x):
        return backend.xp().where(x > 0, x, self.alpha * x)

    def slope(self, x, y):
        positive = (x > 0).astype(x.dtype)                     # 1 where x > 0, else 0
        return positive + self.alpha * (1.0 - positive)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


# the names activation= and Activation() take; "linear" (the identity) is None
_BY_NAME = {"relu": ReLU, "softmax": Softmax, "linear": Linear, "tanh": Tanh,
            "sigmoid": Sigmoid, "hard_sigmoid": HardSigmoid, "elu": ELU, "selu": SELU,
            "softplus": Softplus, "softsign": Softsign, "exponential": Exponential}
# the layers an activation= may also be given as (an object, or its serialize() dict)
_CLASSES = {cls.__name__: cls for cls in (*_BY_NAME.values(), LeakyReLU)}


def get(activation):
    """An activation layer from a Keras name ("relu", "tanh", ...), from a dict
    {"class_name": "LeakyReLU", "config": {"alpha": 0.1}} (what serialize writes), or an
    activation layer as it is; None for "linear" or None (the identity: nothing to run)."""
    if activation is None or activation == "linear":
        return None
    if isinstance(activation, Layer):
        return activation
    if isinstance(activation, dict) and set(activation) == {"class_name", "config"} \
            and activation["class_name"] in _CLASSES:
        return _CLASSES[activation["class_name"]](**activation["config"])
    if not isinstance(activation, str) or activation not in _BY_NAME:
        raise ValueError(f"Unknown activation {activation!r}: choose one of {sorted(_BY_NAME)}.")
    return _BY_NAME[activation]()


def serialize(activation):
    """What get_config stores (JSON-ready): the Keras name of an activation made by get()
    ("linear" for None); {"class_name": ..., "config": {...}} for another activation layer
    (LeakyReLU(0.1), ELU(0.5)); any other layer as it is."""
    if activation is None:
        return "linear"
    if type(activation) not in _CLASSES.values():
        return activation
    arguments = _arguments(activation)
    for name, kind in _BY_NAME.items():
        if type(activation) is kind and arguments == _arguments(kind()):
            return name
    return {"class_name": type(activation).__name__, "config": arguments}


def _arguments(layer):
    """A layer's own arguments: its config less name and input_shape."""
    return {key: value for key, value in layer.get_config().items()
            if key not in ("name", "input_shape")}


class Activation(Layer):
    """Keras' Activation("relu" | "tanh" | ... | "linear") as a layer of its own: any name
    of ``get``, its config dict, or an activation layer."""

    def __init__(self, activation, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        # the argument as given, usually a name such as "relu"; the layer that runs
        # is self.fn (on Conv2D and Dense, .activation is that layer itself, or None)
        self.activation = activation
        self.fn = get(activation) or Linear()                  # a ReLU, Tanh, ... or Linear layer

    def forward(self, x, training=False):
        self._check_input(x)
        y = self.fn.forward(x, training)
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return self.fn.backward(grad_out)

    def get_config(self):
        return {**super().get_config(), "activation": serialize(self.fn)}
