"""What one training step and one inference pass run: the model's engine.

Training step, for a batch (x, y) with optional per-sample weights w:
    logits = forward(x)                   # every layer in order, training=True
    loss   = loss(logits, y, w)           # a final softmax/sigmoid fused into the loss
    sums   = metrics(predictions, y)      # each metric added up over the batch, on the device
    g      = dloss/dlogits
    g      = layer.backward(g)            # every layer in reverse order
    optimizer.step(params, grads)

Fusion: a loss names the final activation it can absorb (``loss.absorbs``,
minicnn/nn/losses.py). When the model ends in it, the loss's ``fused`` class
takes the logits instead of the probabilities: a last Activation('softmax')
(or Softmax()) layer is left out of training and evaluation, and a last layer
with the activation inside, Dense(10, activation='softmax'), is run without
it (``WithoutActivation``). predict runs every layer as written.

Sequential owns a Runner; the process team (minicnn/fast/team.py) drives the
same runner in every process through these public methods.
"""
from .. import backend
from .. import metrics as metrics_module
from ..fast.inference import fold_batch_norms
from ..nn.activations import Activation, serialize
from ..nn.base import Layer


def final_activation(layer):
    """(Keras name, standalone) of the activation a model's last layer ends with:
    ("softmax", True) for Activation('softmax') or Softmax(), ("softmax", False) for
    Dense(10, activation='softmax'); (None, False) when it has none (or an unnamed one)."""
    if isinstance(layer, Activation):
        name, standalone = serialize(layer.fn), True
    elif isinstance(getattr(layer, "activation", None), Layer):
        name, standalone = serialize(layer.activation), False
    else:
        name, standalone = serialize(layer), True        # an activation layer itself, or not
    return (name, standalone) if isinstance(name, str) and name != "linear" else (None, False)


def ends_in_softmax(layers):
    """Does the stack end in a softmax layer of its own that a cross-entropy absorbs?"""
    return final_activation(layers[-1]) == ("softmax", True)


class WithoutActivation:
    """A model's last layer as the fused loss sees it: the same layer (its weights,
    grads, name), run without the activation inside it, which the loss absorbed."""

    def __init__(self, layer):
        self.layer = layer
        # what the runner reads of a layer besides forward/backward: the layer's own
        self.name, self.params, self.grads = layer.name, layer.params, layer.grads
        self.regularizers = layer.regularizers

    def forward(self, x, training=False):
        with _ActivationOff(self.layer):
            return self.layer.forward(x, training)

    def backward(self, grad_out):
        with _ActivationOff(self.layer):
            return self.layer.backward(grad_out)

    def __repr__(self):
        return f"WithoutActivation({self.layer!r})"


class _ActivationOff:
    """``with``: the layer's activation is None inside, put back after (even on an error)."""

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        self.activation, self.layer.activation = self.layer.activation, None

    def __exit__(self, *exc):
        self.layer.activation = self.activation


class Runner:
    def __init__(self, layers):
        self.layers = layers            # the model's own list: add() appends to it
        self.loss = self.optimizer = None
        self.metrics = []               # metric functions (minicnn/metrics.py), each with a name
        self.logit_layers = layers      # the layers whose output the loss takes (see compile)
        self.slots = []                 # (layer, key) of every trainable array, in step order
        self.busy = False               # True while a process team runs this model's calls

    def compile(self, loss, optimizer, metrics=()):
        """Take the loss, optimizer and metrics. If the model ends in the activation
        the loss absorbs, the loss becomes its fused class, which takes the logits."""
        name, standalone = final_activation(self.layers[-1])
        if loss.absorbs is not None and name == loss.absorbs and loss.fused is not None:
            if type(loss) is not loss.fused:
                loss = loss.fused()
            last = [] if standalone else [WithoutActivation(self.layers[-1])]
            self.logit_layers = self.layers[:-1] + last
        else:
            self.logit_layers = self.layers
        self.loss, self.optimizer, self.metrics = loss, optimizer, list(metrics)
        self.slots = [(layer, key) for layer in self.layers if layer.trainable
                      for key in layer.params]

    def reset(self):
        """Forget what compile chose (the layers changed: compile again)."""
        self.loss = self.optimizer = None
        self.metrics, self.slots, self.logit_layers = [], [], self.layers

    @property
    def fused(self):
        """True when the loss takes logits the last layer's activation would turn into outputs."""
        return self.logit_layers is not self.layers

    @property
    def input_shape(self):
        return self.layers[0].input_shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape

    # ---- training ------------------------------------------------------------
    def forward(self, x, training, layers):
        for layer in layers:
            x = layer.forward(x, training=training)
        return x

    def gradients(self, x, targets, weights=None, batch_total=None):
        """Forward and backward on a batch: every layer's grads; (summed loss, metric sums)
        as a device scalar and a device vector (one sum per metric).

        weights: per-sample weights (N,) or None. batch_total: the batch these
        rows are part of (a process team's step): the team has already scaled
        the weights for the whole batch (batch_weights), and the loss is a mean
        over the whole batch, so the gradient of these rows is scaled by n/N.
        """
        if weights is not None and batch_total is None:
            weights = self.batch_weights(weights)
        logits = self.forward(x, True, self.logit_layers)
        loss = self.loss.forward(logits, targets, weights, validate=False)
        sums = self.metric_sums(targets)
        g = self.loss.backward()
        if batch_total is not None and batch_total != x.shape[0]:
            g *= x.shape[0] / batch_total
        for layer in reversed(self.logit_layers):
            g = layer.backward(g)
        loss = loss + self._penalties(1.0 if batch_total is None else x.shape[0] / batch_total)
        return loss * x.shape[0], sums

    def _penalties(self, share):
        """The weight penalties (Layer.regularizers): their sum, to add to the loss; each
        one's gradient, times ``share``, is added to its parameter's gradient (a process
        team's ranks each add their share of the batch, so the sum is added once)."""
        total = 0.0
        for layer in self.logit_layers:
            for key, regularizer in layer.regularizers().items():
                total = total + regularizer(layer.params[key])
                layer.grads[key] += share * regularizer.gradient(layer.params[key])
        return total

    def penalty(self):
        """The weight penalties' sum alone (no gradients): evaluation adds it to the loss,
        as Keras' evaluate reports the loss training minimises."""
        total = 0.0
        for layer in self.layers:
            for key, regularizer in layer.regularizers().items():
                total = total + regularizer(layer.params[key])
        return total

    def batch_weights(self, weights):
        """Keras 2.2's sample weighting: a batch's loss is sum_n w_n l_n / #{n: w_n != 0}.
        The losses compute (1/N) sum_n w_n l_n, so the weights are scaled by
        N / #{w_n != 0} (by N if every weight is 0: the loss is then 0)."""
        xp = backend.xp()
        nonzero = xp.maximum((weights != 0).sum(), 1)
        return weights * (weights.shape[0] / nonzero).astype(weights.dtype)

    def metric_sums(self, targets):
        """Each metric summed over the last loss.forward's batch: a floatx device vector."""
        xp = backend.xp()
        if not self.metrics:
            return xp.zeros((0,), dtype=backend.floatx())
        predictions = self.loss.predictions()
        return xp.stack([metrics_module.sample_sum(m, targets, predictions) for m in self.metrics])

    def scores(self, logits, targets, weights=None):
        """(summed loss, metric sums) of a batch of logits, no gradients (evaluation)."""
        if weights is not None:
            weights = self.batch_weights(weights)
        loss = self.loss.forward(logits, targets, weights, validate=False)
        return loss * logits.shape[0], self.metric_sums(targets)

    def apply_gradients(self):
        params = [layer.params[key] for layer, key in self.slots]
        grads = [layer.grads[key] for layer, key in self.slots]
        self.optimizer.step(params, grads)

    @staticmethod
    def check_weights(weights):
        """A training step's weights: per-sample floats (N,), or None; else a TypeError."""
        if weights is not None and getattr(weights, "dtype", None) is not None \
                and weights.dtype.kind != "f":
            raise TypeError(f"train_step: weights must be per-sample floats, got dtype "
                            f"{weights.dtype}; labels are no longer passed (metrics read the "
                            "targets).")

    def train_step(self, x, targets, weights=None):
        """One optimiser step; returns (summed loss, metric sums) on the device.
        weights: per-sample float weights (N,), or None. (fit on a GPU runs the same
        step as a CUDA graph where it can: minicnn/fast/graph.py.)"""
        self.check_weights(weights)
        loss, sums = self.gradients(x, targets, weights)
        self.apply_gradients()
        return loss, sums

    # ---- inference -------------------------------------------------------------
    def inference_layers(self, which):
        """The layers inference runs, batch norms folded (minicnn/fast/inference.py):
        "logits" (the loss's input) or "outputs" (every layer)."""
        return fold_batch_norms(self.logit_layers if which == "logits" else self.layers)

    def inference(self, which, team=None):
        """A function: a batch -> its "logits" or "outputs" in inference mode, with the
        weights as they are now; over the team's processes when there is one."""
        if team is not None:
            team.refold()
            return lambda x: team.infer(x, which)
        layers = self.inference_layers(which)
        return lambda x: self.forward(x, False, layers)
