"""What one training step and one inference pass run: the model's engine.

Training step, for a batch (x, y):
    logits = forward(x)                   # every layer in order, training=True
    loss   = cross_entropy(logits, y)     # softmax fused into the loss
    g      = dloss/dlogits
    g      = layer.backward(g)            # every layer in reverse order
    optimizer.step(params, grads)

Sequential owns a Runner; the process team (minicnn/fast/team.py) drives the
same runner in every process through these public methods.
"""
from ..fast.inference import fold_batch_norms
from ..nn.activations import Activation, Softmax


def ends_in_softmax(layers):
    """Does the stack end in a softmax layer that the loss can absorb?"""
    last = layers[-1]
    return isinstance(last, Softmax) or (isinstance(last, Activation)
                                         and isinstance(last.fn, Softmax))


class Runner:
    def __init__(self, layers):
        self.layers = layers            # the model's own list: add() appends to it
        self.loss = self.optimizer = None
        self.logit_layers = layers      # the layers whose output the loss takes (see compile)
        self.slots = []                 # (layer, key) of every trainable array, in step order
        self.busy = False               # True while a process team runs this model's calls

    def compile(self, loss, optimizer):
        """Take the loss and optimizer; a final softmax is fused into the loss, which
        then takes the logits (the output of the layer before)."""
        self.loss, self.optimizer = loss, optimizer
        self.logit_layers = self.layers[:-1] if ends_in_softmax(self.layers) else self.layers
        self.slots = [(layer, key) for layer in self.layers if layer.trainable
                      for key in layer.params]

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

    def gradients(self, x, targets, labels, batch_total=None):
        """Forward and backward on a batch: every layer's grads; (summed loss, correct count)
        as device scalars.

        batch_total: the batch these rows are part of (a process team's step);
        the loss is a mean over the whole batch, so their gradient is scaled by n/N.
        """
        logits = self.forward(x, True, self.logit_layers)
        loss = self.loss.forward(logits, targets, validate=False)
        correct = (logits.argmax(axis=1) == labels).sum()
        g = self.loss.backward()
        if batch_total is not None and batch_total != x.shape[0]:
            g *= x.shape[0] / batch_total
        for layer in reversed(self.logit_layers):
            g = layer.backward(g)
        return loss * x.shape[0], correct

    def apply_gradients(self):
        params = [layer.params[key] for layer, key in self.slots]
        grads = [layer.grads[key] for layer, key in self.slots]
        self.optimizer.step(params, grads)

    def train_step(self, x, targets, labels):
        """One optimiser step; returns (summed loss, correct count) as device scalars."""
        loss, correct = self.gradients(x, targets, labels)
        self.apply_gradients()
        return loss, correct

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
