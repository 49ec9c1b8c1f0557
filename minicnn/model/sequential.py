"""Sequential: a stack of layers with Keras' compile, fit, evaluate and predict.

Each method checks what it is given (checks.py) before it changes anything,
then hands the work to the loops (loops.py), which run the runner's steps
(runner.py), over a process team on a multi-core CPU (minicnn/fast/team.py).
Data may be arrays, or a generator of batches (generators.py).
"""
import numbers
import warnings

import numpy as np  # host side: the shuffle flag's type, predicted classes

from .. import backend, losses, optimizers
from .. import metrics as metrics_module
from ..callbacks import History
from ..fast import graph
from ..fast.team import team_for
from ..nn.base import is_count, positive_int
from . import checks, generators, loops
from .topology import Network

DEFAULT_BATCH_SIZE = 32     # Keras' batch_size=None


class Sequential(Network):
    def __init__(self, layers=None, name="sequential"):
        super().__init__(layers, name)
        self.stop_training = False
        self.history = None
        self.training_config = None   # what compile was given, by name (saved with the model)

    @property
    def loss(self):
        return self.runner.loss

    @property
    def optimizer(self):
        return self.runner.optimizer

    @property
    def metrics_names(self):
        """The names of what evaluate returns and fit logs: ["loss", "acc", ...]."""
        return ["loss"] + [metric.name for metric in self.runner.metrics]

    @property
    def metrics(self):
        """The metrics compile was given (names or functions), as Keras keeps them."""
        return [] if self.training_config is None else list(self.training_config["metrics"])

    # ---- training set-up -------------------------------------------------
    def compile(self, loss="categorical_crossentropy", optimizer="sgd", metrics=None,
                loss_weights=None, sample_weight_mode=None, weighted_metrics=None,
                target_tensors=None, **kwargs):
        """Choose loss, optimizer and metrics (objects or Keras names).

        Keras' own order, compile(optimizer, loss), is taken too. A final
        softmax (or sigmoid) followed by a cross-entropy is fused: the loss
        works on the logits (stable log-sum-exp), whether the activation is a
        layer of its own or inside the last layer (Dense(10,
        activation='softmax')); predict() still returns probabilities.
        metrics: e.g. ['accuracy'] (logged as 'acc'); see minicnn/metrics.py.
        Nothing is logged beside the loss without them, as in Keras.
        """
        if kwargs:
            raise TypeError(f"compile: unexpected arguments {sorted(kwargs)}.")
        for name, value, why in (
                ("loss_weights", loss_weights, "weighs the losses of a model with several outputs"),
                ("weighted_metrics", weighted_metrics, "weighs metrics by sample_weight"),
                ("target_tensors", target_tensors, "feeds TensorFlow tensors")):
            if value is not None:
                raise ValueError(f"compile: {name} {why}, which minicnn does not do; leave it None.")
        if sample_weight_mode is not None:
            raise ValueError("compile: sample_weight_mode='temporal' weighs time steps; minicnn's "
                             "sample_weight weighs whole samples: leave it None.")
        if not self.layers:
            raise ValueError("compile: the model has no layers; add() some first.")
        loss_object, optimizer = _loss_and_optimizer(loss, optimizer)  # checked before any change
        if isinstance(metrics, (str, bytes)) or callable(metrics):
            metrics = [metrics]
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: metrics must be a list such as ['accuracy'], got "
                            f"{type(metrics).__name__}.")
        output_shape = self._output_shape_unbuilt()
        chosen = [metrics_module.get(m, loss_object, output_shape) for m in metrics or ()]
        output_shape = self.build()                     # draws the initial weights, once
        if loss_object.per_class and len(output_shape) != 1:
            raise ValueError(
                f"compile: the model outputs {output_shape} per sample, but {loss_object.name} "
                "needs one score per class, (classes,); add Flatten() and Dense(classes) "
                "before the softmax.")
        _unique_names(chosen)
        self.runner.compile(loss_object, optimizer, chosen)
        self.training_config = {"loss": loss if isinstance(loss, str) else loss_object.name,
                                "metrics": list(metrics or ())}
        first = self.layers[0]
        if hasattr(first, "compute_input_grad"):
            first.compute_input_grad = False   # dL/d(images) is never used: skip computing it

    def _output_shape_unbuilt(self):
        """The per-sample output shape, or None when it is not known without building."""
        try:
            shape = self.layers[0].input_shape
            if shape is None:
                return None
            for layer in self.layers:
                shape = layer.output_shape if layer.built else layer.compute_output_shape(shape)
            return tuple(shape)
        except (ValueError, TypeError):     # build() reports a bad stack with its own message
            return None

    def _require_compiled(self, where):
        if self.optimizer is None:
            raise RuntimeError(f"{where}: call compile(loss, optimizer) first.")

    def _checked_data(self, x, y, where, sample_weight=None, class_weight=None):
        """(x, targets, weights or None) on the device, after every check (checks.py)."""
        self.build()
        x = checks.check_x(x, self.layers[0].input_shape, where)
        n = x.shape[0]
        y_host, targets = checks.check_targets_for(self.loss, y, n, self.layers[-1].output_shape,
                                                   where)
        weights = checks.check_sample_weights(sample_weight, class_weight, y_host, n, where)
        return x, targets, weights

    def _result(self, values):
        """What evaluate returns: the loss alone without metrics, else [loss, *metrics]."""
        return values[0] if len(values) == 1 else values

    # ---- one batch, evaluation, prediction ---------------------------------
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimiser step on (x, y); returns the loss (a float), or [loss, *metrics]."""
        self._require_compiled("train_on_batch")
        x, t, w = self._checked_data(x, y, "train_on_batch", sample_weight, class_weight)
        loss, sums = self.runner.train_step(x, t, w)
        n = x.shape[0]
        values = [float(v) / n for v in loops._read(loss, sums)]
        return self._result(values)

    def test_on_batch(self, x, y, sample_weight=None):
        """The loss (and metrics) on one batch, inference mode, no step."""
        self._require_compiled("test_on_batch")
        data = self._checked_data(x, y, "test_on_batch", sample_weight)
        return self._result(loops.evaluate_batches(self.runner, [data], where="test_on_batch"))

    def predict_on_batch(self, x):
        """The model's outputs on one batch, as a host numpy array."""
        self.build()
        x = checks.check_x(x, self.layers[0].input_shape, "predict_on_batch")
        return backend.to_host(loops.predict_batches(self.runner, [x]))

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None):
        """The loss on (x, y) in inference mode (a float), or [loss, *metrics] with metrics
        (their names: model.metrics_names). x may be a generator of batches (then
        ``steps`` says how many; with arrays one pass is made, which is the mean Keras'
        ``steps`` passes over the same arrays give). sample_weight: as in fit.
        verbose=1 (Keras' default) shows a progress bar, then the numbers."""
        self._require_compiled("evaluate")
        checks.check_verbose(verbose, "evaluate")
        if checks.is_generator(x):
            if y is not None:
                raise ValueError("evaluate: with a generator, y comes from its batches; leave y None.")
            return self.evaluate_generator(x, steps=steps, verbose=verbose)
        batch_size = _batch_size(batch_size, "evaluate")
        checks.check_steps(steps, "steps", "evaluate")
        x, t, w = self._checked_data(x, y, "evaluate", sample_weight)
        n = x.shape[0]
        mode = loops.progress_mode(verbose)
        with team_for(self.runner, batch_size, n) as team:
            values = loops.evaluate_batches(self.runner, loops.array_batches(x, t, w, batch_size),
                                            team, steps=-(-n // batch_size), verbose=mode)
        if verbose:
            print(f"{n}/{n} - " + loops._metrics_text(self.metrics_names, values), flush=True)
        return self._result(values)

    def predict(self, x, batch_size=None, verbose=0, steps=None):
        """Model outputs (probabilities for a softmax model), as a host numpy array.
        x may be a generator of batches (then ``steps`` says how many; with arrays,
        ``steps`` is not used: every sample is predicted once)."""
        checks.check_verbose(verbose, "predict")
        if checks.is_generator(x):
            return self.predict_generator(x, steps=steps, verbose=verbose)
        batch_size = _batch_size(batch_size, "predict")
        checks.check_steps(steps, "steps", "predict")
        self.build()
        x = checks.check_x(x, self.layers[0].input_shape, "predict")
        n = x.shape[0]
        batches = (x[i:i + batch_size] for i in range(0, n, batch_size))
        with team_for(self.runner, batch_size, n) as team:
            return backend.to_host(loops.predict_batches(
                self.runner, batches, team, steps=-(-n // batch_size),
                verbose=loops.progress_mode(verbose)))

    def predict_proba(self, x, batch_size=None, verbose=0):
        """predict(), with a warning if the outputs are not probabilities (as Keras)."""
        probabilities = self.predict(x, batch_size=batch_size, verbose=verbose)
        if probabilities.min() < 0.0 or probabilities.max() > 1.0:
            warnings.warn("predict_proba: the model's outputs are not all in [0, 1]; its last "
                          "layer may not be a softmax or a sigmoid.", UserWarning, stacklevel=2)
        return probabilities

    def predict_classes(self, x, batch_size=None, verbose=0):
        """The predicted class of each sample: the top score's index, or for a single
        output (a sigmoid) 1 where it exceeds 0.5 (shape (samples, 1), int32, as Keras)."""
        probabilities = self.predict(x, batch_size=batch_size, verbose=verbose)
        if probabilities.shape[-1] > 1:
            return probabilities.argmax(axis=-1)
        return (probabilities > 0.5).astype("int32")

    # ---- fit -------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            **kwargs):
        """Train for ``epochs`` passes over (x, y) (from ``initial_epoch``); returns a History.

        Keras 2.2's arguments: verbose 0 silent, 1 progress bar per epoch (one
        line per epoch when output is a file or a pipe), 2 one line per epoch;
        validation_split: the last fraction of (x, y), taken before any
        shuffling, is held out for validation; validation_data: (x_val, y_val)
        or (x_val, y_val, val_sample_weights), or a generator; class_weight:
        {class: weight}; sample_weight: one weight per sample (the loss is then
        Keras' weighted mean, sum w l / #{w != 0}); steps_per_epoch with arrays:
        each step trains on all of them, as Keras 2.2 does (batch_size must then
        be None). x may be a generator of batches, as for fit_generator.
        ``nb_epoch`` (Keras 1) is taken for epochs, with a warning.
        """
        epochs = _epochs_argument(epochs, kwargs, "fit")
        if checks.is_generator(x):
            if y is not None or sample_weight is not None:
                raise ValueError("fit: with a generator, y (and sample weights) come from its "
                                 "batches; leave y and sample_weight None.")
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; with a generator pass "
                                 "validation_data.")
            return self.fit_generator(x, steps_per_epoch, epochs, verbose, callbacks,
                                      validation_data, validation_steps, class_weight,
                                      shuffle=shuffle, initial_epoch=initial_epoch)
        self._require_compiled("fit")
        steps_per_epoch = checks.check_steps(steps_per_epoch, "steps_per_epoch", "fit")
        validation_steps = checks.check_steps(validation_steps, "validation_steps", "fit")
        if steps_per_epoch is not None and batch_size is not None:
            raise ValueError("fit: with steps_per_epoch, each step trains on all of x (Keras "
                             "2.2's rule for arrays), so batch_size must be None.")
        batch_size = _batch_size(batch_size, "fit")
        checks.check_verbose(verbose, "fit")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}.")
        callbacks = checks.callback_list(callbacks)
        _check_epochs(epochs, initial_epoch, "fit")
        if checks.is_generator(validation_data):
            raise ValueError("fit: with arrays for x, validation_data must be arrays too, "
                             "(x_val, y_val); use fit_generator for a validation generator.")
        validation_arrays = checks.validation_arrays(validation_data)
        if not (isinstance(validation_split, numbers.Real) and 0.0 <= validation_split < 1.0):
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}.")
        if validation_split and validation_arrays is not None:
            raise ValueError("fit: give validation_data or validation_split, not both.")
        if steps_per_epoch is not None and (validation_arrays is not None or validation_split) \
                and validation_steps is None:
            raise ValueError("fit: with steps_per_epoch, validation needs validation_steps too.")
        x, t, w = self._checked_data(x, y, "fit", sample_weight, class_weight)
        n = x.shape[0]
        validation = None
        if validation_arrays is not None:
            xv, yv, wv = validation_arrays
            validation = self._checked_data(xv, yv, "fit(validation_data)", wv)
        elif validation_split:
            split = int(n * (1.0 - validation_split))            # Keras' rule
            if split in (0, n):
                raise ValueError(f"fit: validation_split={validation_split} of {n} samples "
                                 "leaves no training or no validation samples.")
            validation = (x[split:], t[split:], None if w is None else w[split:])
            x, t, w, n = x[:split], t[:split], (None if w is None else w[:split]), split
        verbose = loops.progress_mode(verbose)
        if verbose and validation is not None:
            print(f"Train on {n} samples, validate on {validation[0].shape[0]} samples", flush=True)
        if steps_per_epoch is None:
            steps, rows = -(-n // batch_size), batch_size
            epoch_batches = loops.shuffled_batches(x, t, w, batch_size, shuffle)
        else:                                                   # each step: the whole arrays
            steps, rows = steps_per_epoch, n
            epoch_batches = lambda: ((x, t, w) for _ in range(steps_per_epoch))  # noqa: E731
        largest = n if validation is None else max(n, validation[0].shape[0])
        with team_for(self.runner, rows, n, t, largest) as team:   # worker processes, if any
            validate = None
            if validation is not None:
                def validate():
                    return loops.evaluate_batches(
                        self.runner, loops.array_batches(*validation, batch_size), team)
            step = team.train_step if team is not None else graph.training_step(self.runner)
            return self._fit_loop(epochs, initial_epoch, verbose, callbacks, epoch_batches, steps,
                                  step, validate, {"batch_size": batch_size, "samples": n,
                                                   "steps": steps_per_epoch})

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True,
                      initial_epoch=0, **kwargs):
        """Train on batches from a generator, an iterator or a Sequence-like object (with
        __len__ and __getitem__), each (x, y) or (x, y, sample_weight); returns a History.

        steps_per_epoch: batches per epoch (len(generator) for a Sequence if None).
        validation_data: arrays (x_val, y_val[, weights]), or a generator with
        validation_steps. The batches are drawn in this process, one at a time:
        max_queue_size, workers and use_multiprocessing are accepted for Keras
        code and have no effect (Keras uses them to prepare batches in threads
        or processes); shuffle reorders a Sequence's batches each epoch.
        """
        epochs = _epochs_argument(epochs, kwargs, "fit_generator")
        self._require_compiled("fit_generator")
        checks.check_verbose(verbose, "fit_generator")
        callbacks = checks.callback_list(callbacks)
        _check_epochs(epochs, initial_epoch, "fit_generator")
        steps_per_epoch = checks.check_steps(steps_per_epoch, "steps_per_epoch", "fit_generator")
        validation_steps = checks.check_steps(validation_steps, "validation_steps", "fit_generator")
        steps, epoch_items = generators.batch_source(generator, steps_per_epoch, "fit_generator",
                                                     "steps_per_epoch", shuffle=bool(shuffle))
        validate = self._generator_validation(validation_data, validation_steps)
        verbose = loops.progress_mode(verbose)

        def epoch_batches():
            for item in epoch_items():
                bx, by, bw = generators.unpack(item, "fit_generator")
                yield self._checked_data(bx, by, "fit_generator", bw, class_weight)
        return self._fit_loop(epochs, initial_epoch, verbose, callbacks, epoch_batches, steps,
                              graph.training_step(self.runner), validate,
                              {"batch_size": None, "samples": None, "steps": steps})

    def _generator_validation(self, validation_data, validation_steps):
        """fit_generator's validation: None, or a function returning [loss, *metrics]."""
        if validation_data is None:
            return None
        if checks.is_generator(validation_data):
            steps, items = generators.batch_source(validation_data, validation_steps,
                                                   "fit_generator(validation_data)",
                                                   "validation_steps")
            return lambda: self._evaluate_items(items(), steps, 0, "fit_generator(validation_data)")
        xv, yv, wv = checks.validation_arrays(validation_data)
        validation = self._checked_data(xv, yv, "fit_generator(validation_data)", wv)
        return lambda: loops.evaluate_batches(
            self.runner, loops.array_batches(*validation, DEFAULT_BATCH_SIZE))

    def _fit_loop(self, epochs, initial_epoch, verbose, callbacks, epoch_batches, steps, step,
                  validate, params):
        """The epochs with their callbacks, for arrays and generators alike."""
        history = History()
        callbacks = [history] + callbacks
        names = self.metrics_names
        logged = names + (["val_" + name for name in names] if validate is not None else []) + ["lr"]
        for callback in callbacks:   # each learns the model and what this fit will log
            callback.set_model(self)
            if callable(getattr(callback, "set_params", None)):   # not every callback has it
                callback.set_params({"epochs": epochs, "verbose": verbose,
                                     "do_validation": validate is not None, "metrics": logged,
                                     **params})
        self.stop_training = False
        self.history = history
        begun = []
        try:  # begun callbacks get on_train_end (files closed) even if training stops on an error
            for callback in callbacks:
                callback.on_train_begin()
                begun.append(callback)
            loops.fit_epochs(self, epochs, initial_epoch, verbose, callbacks, epoch_batches, steps,
                             step, validate)
        finally:
            for callback in begun:
                callback.on_train_end()
        return history

    def evaluate_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        """evaluate() over batches from a generator or Sequence-like object, each (x, y) or
        (x, y, sample_weight): the means over all their samples. max_queue_size, workers
        and use_multiprocessing are accepted for Keras code and have no effect."""
        self._require_compiled("evaluate_generator")
        checks.check_verbose(verbose, "evaluate_generator")
        steps = checks.check_steps(steps, "steps", "evaluate_generator")
        steps, items = generators.batch_source(generator, steps, "evaluate_generator")
        return self._result(self._evaluate_items(items(), steps, loops.progress_mode(verbose),
                                                 "evaluate_generator"))

    def _evaluate_items(self, items, steps, verbose, where):
        def batches():
            for item in items:
                bx, by, bw = generators.unpack(item, where)
                yield self._checked_data(bx, by, where, bw)
        return loops.evaluate_batches(self.runner, batches(), steps=steps, verbose=verbose,
                                      where=where)

    def predict_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        """predict() over batches from a generator or Sequence-like object, each x, (x, y)
        or (x, y, sample_weight) (targets ignored). max_queue_size, workers and
        use_multiprocessing are accepted for Keras code and have no effect."""
        checks.check_verbose(verbose, "predict_generator")
        steps = checks.check_steps(steps, "steps", "predict_generator")
        steps, items = generators.batch_source(generator, steps, "predict_generator")
        self.build()

        def batches():
            for item in items():
                bx = generators.unpack(item, "predict_generator", inputs_only=True)[0]
                yield checks.check_x(bx, self.layers[0].input_shape, "predict_generator")
        return backend.to_host(loops.predict_batches(self.runner, batches(), steps=steps,
                                                     verbose=loops.progress_mode(verbose)))

    # ---- profiling -------------------------------------------------------
    def profile(self, x, y=None, repeats=5, print_fn=print):
        """Time each layer's forward and backward on one training step of the batch x
        (no optimiser step; the model is left unchanged); prints the table, returns the rows."""
        from .. import profiler
        rows = profiler.profile(self, x, y, repeats=repeats)
        print_fn(profiler.format_profile(rows))
        return rows


def _loss_and_optimizer(loss, optimizer):
    """(loss object, optimizer object): minicnn's order compile(loss, optimizer), or
    Keras' compile(optimizer, loss) when the two are clearly the other way round."""
    try:
        return losses.get(loss), optimizers.get(optimizer)
    except ValueError as err:
        try:
            swapped = losses.get(optimizer), optimizers.get(loss)
        except (ValueError, TypeError):
            raise err from None
        return swapped


def _unique_names(metrics):
    """Keras' rule for two metrics of one name: the second is logged as name_1, and so on."""
    seen = {"loss"}
    for metric in metrics:
        base, name, i = metric.name, metric.name, 1
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        if name != metric.name:
            metric.name = name
        seen.add(name)


def _batch_size(batch_size, where):
    return DEFAULT_BATCH_SIZE if batch_size is None else positive_int(batch_size, f"{where}: batch_size")


def _epochs_argument(epochs, kwargs, where):
    """epochs, or Keras 1's nb_epoch in its place (with a warning); other unknown
    keyword arguments are refused, as Keras refuses them."""
    if "nb_epoch" in kwargs:
        warnings.warn(f"{where}: the nb_epoch argument is Keras 1's name for epochs; "
                      f"write epochs={kwargs['nb_epoch']!r}.", UserWarning, stacklevel=3)
        epochs = kwargs.pop("nb_epoch")
    if kwargs:
        raise TypeError(f"{where}: unrecognized keyword arguments {sorted(kwargs)}.")
    return epochs


def _check_epochs(epochs, initial_epoch, where):
    if not is_count(epochs) or epochs < 0:
        raise ValueError(f"{where}: epochs must be an int >= 0, got {epochs!r}.")
    if not is_count(initial_epoch) or initial_epoch < 0:
        raise ValueError(f"{where}: initial_epoch must be an int >= 0 (the epoch to start "
                         f"counting from), got {initial_epoch!r}.")
