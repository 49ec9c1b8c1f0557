"""Sequential: a stack of layers with Keras' compile, fit, evaluate and predict.

Each method checks what it is given (checks.py) before it changes anything,
then hands the work to the loops (loops.py), which run the runner's steps
(runner.py), over a process team on a multi-core CPU (minicnn/fast/team.py).
"""
import numbers

import numpy as np  # host side: the shuffle flag's type

from .. import backend, losses, optimizers
from ..callbacks import History
from ..fast.team import team_for
from ..nn.activations import Softmax
from ..nn.base import is_count, positive_int
from . import checks, loops
from .runner import ends_in_softmax
from .topology import Network


class Sequential(Network):
    def __init__(self, layers=None, name="sequential"):
        super().__init__(layers, name)
        self.stop_training = False
        self.history = None

    @property
    def loss(self):
        return self.runner.loss

    @property
    def optimizer(self):
        return self.runner.optimizer

    # ---- training set-up -------------------------------------------------
    def compile(self, loss="categorical_crossentropy", optimizer="sgd", metrics=("accuracy",)):
        """Choose loss and optimizer (objects or Keras names).

        A final softmax followed by cross-entropy is fused: the loss works on
        the logits (stable log-sum-exp); predict() still returns probabilities.
        """
        if not self.layers:
            raise ValueError("compile: the model has no layers; add() some first.")
        loss, optimizer = losses.get(loss), optimizers.get(optimizer)   # checked before any change
        if isinstance(metrics, str):
            metrics = [metrics]
        for m in metrics or ():
            if m not in ("accuracy", "acc"):
                raise ValueError(f"compile: unknown metric {m!r}; only 'accuracy' is supported.")
        last = self.layers[-1]
        if not ends_in_softmax(self.layers) and isinstance(getattr(last, "activation", None),
                                                           Softmax):
            raise ValueError(
                f"compile: {last.name} applies softmax inside the layer, which the loss would "
                "apply a second time; write it as its own last layer, Activation('softmax'), "
                "so it is fused with the cross-entropy.")
        output_shape = self.build()                     # draws the initial weights, once
        if len(output_shape) != 1:
            raise ValueError(
                f"compile: the model outputs {output_shape} per sample, but cross-entropy "
                "needs one score per class, (classes,); add Flatten() and Dense(classes) "
                "before the softmax.")
        self.runner.compile(loss, optimizer)
        first = self.layers[0]
        if hasattr(first, "compute_input_grad"):
            first.compute_input_grad = False   # dL/d(images) is never used: skip computing it

    def _require_compiled(self, where):
        if self.optimizer is None:
            raise RuntimeError(f"{where}: call compile(loss, optimizer) first.")

    def _checked_data(self, x, y, where):
        """(x, targets, labels) on the device, after every check (checks.py)."""
        self.build()
        x = checks.check_x(x, self.input_shape, where)
        return (x,) + checks.check_y(y, x.shape[0], self.output_shape[-1], where)

    # ---- one batch, evaluation, prediction ---------------------------------
    def train_on_batch(self, x, y):
        """One optimiser step on (x, y); returns [loss, accuracy] as floats."""
        self._require_compiled("train_on_batch")
        x, t, lab = self._checked_data(x, y, "train_on_batch")
        loss, correct = self.runner.train_step(x, t, lab)
        n = x.shape[0]
        return [float(backend.to_host(loss)) / n, float(backend.to_host(correct)) / n]

    def evaluate(self, x, y, batch_size=32, verbose=0):
        """[loss, accuracy] on (x, y), inference mode."""
        self._require_compiled("evaluate")
        positive_int(batch_size, "evaluate: batch_size")
        checks.check_verbose(verbose, "evaluate")
        x, t, lab = self._checked_data(x, y, "evaluate")
        with team_for(self.runner, batch_size, x.shape[0]) as team:
            loss, acc = loops.evaluate_batches(self.runner, x, t, lab, batch_size, team)
        if verbose:
            print(f"loss: {loss:.4f} - acc: {acc:.4f}")
        return [loss, acc]

    def predict(self, x, batch_size=32):
        """Model outputs (probabilities for a softmax model), as a host numpy array."""
        positive_int(batch_size, "predict: batch_size")
        self.build()
        x = checks.check_x(x, self.input_shape, "predict")
        with team_for(self.runner, batch_size, x.shape[0]) as team:
            return backend.to_host(loops.predict_batches(self.runner, x, batch_size, team))

    # ---- fit -------------------------------------------------------------
    def fit(self, x, y, batch_size=32, epochs=1, verbose=1, validation_data=None,
            callbacks=None, shuffle=True, validation_split=0.0):
        """Train for ``epochs`` passes over (x, y); returns a History.

        verbose: 0 silent, 1 progress bar per epoch (one line per epoch when
        output is not a terminal), 2 one line per epoch. validation_split: as
        in Keras, the last fraction of (x, y), taken before any shuffling,
        is held out and used as validation data instead.
        """
        self._require_compiled("fit")
        positive_int(batch_size, "fit: batch_size")
        checks.check_verbose(verbose, "fit")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}.")
        callbacks = checks.callback_list(callbacks)
        if not is_count(epochs) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}.")
        validation_data = checks.validation_pair(validation_data)
        if not (isinstance(validation_split, numbers.Real) and 0.0 <= validation_split < 1.0):
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}.")
        if validation_split and validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both.")
        x, t, lab = self._checked_data(x, y, "fit")
        n = x.shape[0]
        validation = None
        if validation_data is not None:
            validation = self._checked_data(*validation_data, "fit(validation_data)")
        elif validation_split:
            split = int(n * (1.0 - validation_split))            # Keras' rule
            if split in (0, n):
                raise ValueError(f"fit: validation_split={validation_split} of {n} samples "
                                 "leaves no training or no validation samples.")
            validation = (x[split:], t[split:], lab[split:])
            x, t, lab, n = x[:split], t[:split], lab[:split], split
        if verbose == 1 and not loops.is_terminal():
            verbose = 2
        history = History()
        callbacks = [history] + callbacks
        logged = ["loss", "acc"] + (["val_loss", "val_acc"] if validation is not None
                                    else []) + ["lr"]
        for callback in callbacks:   # each learns the model and what this fit will log
            callback.set_model(self)
            if callable(getattr(callback, "set_params", None)):   # not every callback has it
                callback.set_params({"epochs": epochs, "batch_size": batch_size,
                                     "metrics": logged})
        self.stop_training = False
        self.history = history
        largest = n if validation is None else max(n, validation[0].shape[0])
        with team_for(self.runner, batch_size, n, t, largest) as team:   # worker processes, if any
            begun = []
            try:  # begun callbacks get on_train_end (files closed) even if training stops on an error
                for callback in callbacks:
                    callback.on_train_begin()
                    begun.append(callback)
                loops.fit_epochs(self, x, t, lab, batch_size, epochs, verbose, shuffle,
                                 callbacks, team, validation)
            finally:
                for callback in begun:
                    callback.on_train_end()
        return history

    # ---- profiling -------------------------------------------------------
    def profile(self, x, y=None, repeats=5, print_fn=print):
        """Time each layer's forward and backward on one training step of the batch x
        (no optimiser step; the model is left unchanged); prints the table, returns the rows."""
        from .. import profiler
        rows = profiler.profile(self, x, y, repeats=repeats)
        print_fn(profiler.format_profile(rows))
        return rows
