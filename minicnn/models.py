"""Sequential: a stack of layers with Keras' summary, compile, fit, evaluate, predict.

Training step, for a batch (x, y):
    logits = forward(x)                   # every layer in order, training=True
    loss   = cross_entropy(logits, y)     # softmax fused into the loss
    g      = dloss/dlogits
    g      = layer.backward(g)            # every layer in reverse order
    optimizer.step(params, grads)

On CuPy the data is moved to the device once, and metrics accumulate there;
the host reads them once per epoch (or every few dozen batches for the bar).
"""
import contextlib
import io
import math
import numbers
import os
import re
import sys
import time
import zipfile

import numpy as np  # host side: data checks, weights files

from . import backend as B
from . import callbacks as C
from . import losses, memory, optimizers
from . import parallel as P
from .layers.activations import Activation, Softmax
from .layers.base import Layer, is_count, positive_int
from .layers.conv import Conv2D
from .layers.dropout import Dropout
from .layers.normalization import BatchNormalization
from .utils import file_path, require_folder, write_atomically


class Sequential:
    def __init__(self, layers=None, name="sequential"):
        self.name = name
        self.layers = []
        self.loss = self.optimizer = None
        self.stop_training = False
        self.history = None
        self._counts = {}
        self._team_at_work = False      # True while a parallel.Team runs this model's calls
        if isinstance(layers, Layer):
            raise TypeError(f"Sequential: pass a list of layers, Sequential([{type(layers).__name__}"
                            "(...), ...]), not one layer.")
        for layer in layers or []:
            self.add(layer)

    # ---- building --------------------------------------------------------
    def add(self, layer):
        """Append a layer; the first one should carry input_shape=(H, W, C)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential: expected a layer (minicnn.layers), got "
                            f"{type(layer).__name__} {layer!r}.")
        if layer.name is None:
            kind = _snake(type(layer).__name__)
            self._counts[kind] = self._counts.get(kind, 0) + 1
            layer.name = f"{kind}_{self._counts[kind]}"
        self.layers.append(layer)

    @property
    def input_shape(self):
        return self.layers[0].input_shape if self.layers else None

    def build(self, input_shape=None):
        """Build every layer, threading the shapes through; idempotent."""
        if not self.layers:
            raise ValueError("Sequential: the model has no layers; add() some first.")
        shape = input_shape or self.layers[0].input_shape
        if shape is None:
            raise ValueError("Sequential: unknown input shape; give the first layer "
                             "input_shape=(H, W, C), e.g. Conv2D(8, 3, input_shape=(28, 28, 1)).")
        shape = tuple(shape)
        for layer in self.layers:
            if layer.built and tuple(layer.input_shape) != shape:
                raise ValueError(f"{layer.name}: built for input {layer.input_shape}, "
                                 f"but the previous layer outputs {shape}.")
            if not layer.built:
                layer.build(shape)
            shape = layer.output_shape
        return shape

    @property
    def output_shape(self):
        return self.build()

    # ---- inspecting ------------------------------------------------------
    def count_params(self):
        self.build()
        return sum(layer.count_params() for layer in self.layers)

    def _param_counts(self):
        trainable = non_trainable = 0
        for layer in self.layers:
            n_params = sum(int(p.size) for p in layer.params.values())
            n_state = sum(int(s.size) for s in layer.state.values())
            if layer.trainable:
                trainable += n_params
            else:
                non_trainable += n_params
            non_trainable += n_state
        return trainable, non_trainable

    def receptive_fields(self):
        """[(receptive field, jump)] after each layer; (None, None) once Flatten is passed.

        r_out = r_in + (k - 1) * j_in,   j_out = j_in * s   (r = j = 1 at the input),
        along the height axis (kernel_size[0], strides[0]); the assignment's are square.
        """
        self.build()
        r, j, out = 1, 1, []
        for layer in self.layers:
            if len(layer.output_shape) != 3:
                r = j = None
            if r is not None:
                r, j = r + (layer.rf_kernel - 1) * j, j * layer.rf_stride
            out.append((r, j))
        return out

    def summary(self, print_fn=print):
        """Keras' summary table, plus each layer's receptive field and jump."""
        self.build()
        widths = (29, 26, 10, 9, 5)
        line = "_" * sum(widths)
        rows = [f'Model: "{self.name}"', line,
                _row(("Layer (type)", "Output Shape", "Param #", "RF", "Jump"), widths),
                "=" * sum(widths)]
        for i, (layer, (r, j)) in enumerate(zip(self.layers, self.receptive_fields())):
            shape = "(None, " + ", ".join(str(d) for d in layer.output_shape) + ")"
            kind = getattr(layer, "type_name", type(layer).__name__)
            label = f"{layer.name} ({kind})"
            rows.append(_row((label, shape, f"{layer.count_params()}",
                              "-" if r is None else str(r), "-" if j is None else str(j)), widths))
            rows.append(line if i < len(self.layers) - 1 else "=" * sum(widths))
        trainable, non_trainable = self._param_counts()
        rows += [f"Total params: {trainable + non_trainable:,}",
                 f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {non_trainable:,}", line,
                 "RF: receptive field of one output pixel, in input pixels; "
                 "Jump: input pixels between neighbouring outputs."]
        print_fn("\n".join(rows))

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
        fused = self._fused_softmax()
        if not fused and isinstance(getattr(last, "activation", None), Softmax):
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
        self.loss, self.optimizer, self._fused = loss, optimizer, fused
        self._train_slots = [(layer, key) for layer in self.layers if layer.trainable
                             for key in layer.params]
        first = self.layers[0]
        if hasattr(first, "compute_input_grad"):
            first.compute_input_grad = False   # dL/d(images) is never used: skip computing it

    def _fused_softmax(self):
        """Does the model end in a softmax layer that the loss can absorb?"""
        last = self.layers[-1]
        return isinstance(last, Softmax) or (
            isinstance(last, Activation) and isinstance(last.fn, Softmax))

    def _logit_layers(self):
        """Layers whose output is the loss input (all but a fused final softmax)."""
        return self.layers[:-1] if self._fused else self.layers

    # ---- data checks -----------------------------------------------------
    def _check_x(self, x, where):
        """Shape, dtype and finiteness of inputs, once, on the way in; returns a device array."""
        self.build()
        expected = tuple(self.input_shape)
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"{where}: x must be an array (numpy or cupy), got "
                            f"{type(x).__name__}; convert it with np.asarray(x, dtype='float32').")
        shape = tuple(x.shape)
        if len(shape) != len(expected) + 1 or shape[1:] != expected:
            raise ValueError(f"{where}: x must have shape (samples, {', '.join(map(str, expected))}) "
                             f"to match the model's input, got {shape}.")
        if shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples.")
        kind = x.dtype.kind
        if kind != "f":
            raise TypeError(f"{where}: x has dtype {x.dtype}; convert it to floats first, e.g. "
                            f"x.astype('{B.floatx()}') / 255 for images.")
        x = B.to_device(x, dtype=B.floatx())
        if not bool(B.to_host(B.xp().isfinite(x).all())):
            raise ValueError(f"{where}: x contains NaN or inf values (or values beyond "
                             f"{B.floatx()}'s range); clean the data first.")
        if B.get_backend() == "numpy":
            memory.keep_freed_memory()          # batches reuse freed arrays (minicnn/memory.py)
        return x

    def _check_y(self, y, n, where):
        """Targets: integer labels (N,) or one-hot (N, K); returns (targets, labels) on device."""
        k = self.output_shape[-1]
        if not hasattr(y, "shape"):                     # a list, or something that is no array
            try:
                y = np.asarray(y)
            except (TypeError, ValueError) as err:      # e.g. rows of different lengths
                raise TypeError(f"{where}: y must be an array of labels (samples,) or one-hot "
                                f"rows (samples, classes); np.asarray failed: {err}") from err
        y_host = B.to_host(y)
        if y_host.dtype.kind not in "biuf":
            raise TypeError(f"{where}: y must hold integer labels (samples,) or one-hot float "
                            f"rows (samples, classes), got {type(y).__name__} of dtype "
                            f"{y_host.dtype}; e.g. np.asarray(labels, dtype='int64').")
        if y_host.shape[:1] != (n,):
            rows = y_host.shape[0] if y_host.ndim else "no"
            raise ValueError(f"{where}: x has {n} samples but y has {rows} rows; they must match.")
        if y_host.ndim == 1:
            if y_host.dtype.kind not in "iu":
                raise TypeError(f"{where}: 1-D labels must be integers, got {y_host.dtype}; "
                                "convert with y.astype('int64'), or pass one-hot rows (N, K).")
            if n and (y_host.min() < 0 or y_host.max() >= k):
                raise ValueError(f"{where}: labels must be in [0, {k - 1}] for a model with {k} "
                                 f"outputs, got values in [{y_host.min()}, {y_host.max()}].")
            labels = y_host.astype(np.int64)
            targets = labels
        elif y_host.ndim == 2:
            if y_host.shape[1] != k:
                raise ValueError(f"{where}: one-hot y has {y_host.shape[1]} classes but the model "
                                 f"outputs {k}; use to_categorical(y, {k}).")
            if not np.isfinite(y_host).all():
                raise ValueError(f"{where}: y contains NaN or inf values.")
            if n and (y_host.min() < 0 or y_host.max() > 1):
                raise ValueError(f"{where}: one-hot (or soft) targets must lie in [0, 1], got "
                                 f"values in [{y_host.min()}, {y_host.max()}].")
            if n and not np.allclose(y_host.sum(axis=1), 1.0, atol=1e-3):
                raise ValueError(f"{where}: each row of one-hot (or soft) targets must sum to 1.")
            labels = y_host.argmax(axis=1)
            targets = y_host.astype(B.floatx())
        else:
            raise ValueError(f"{where}: y must be labels (samples,) or one-hot (samples, classes), "
                             f"got shape {y_host.shape}.")
        return B.to_device(targets), B.to_device(labels)

    def _require_compiled(self, where):
        if self.optimizer is None:
            raise RuntimeError(f"{where}: call compile(loss, optimizer) first.")

    # ---- the steps -------------------------------------------------------
    def _forward(self, x, training, layers):
        for layer in layers:
            x = layer.forward(x, training=training)
        return x

    @staticmethod
    def _folded_for_inference(layers):
        """``layers`` for inference, each BatchNormalization folded into the Conv2D after it.

        In inference a batch norm is x * scale + shift per channel, and a
        Dropout is the identity; a Conv2D without padding that follows can take
        the affine into its kernel and bias (Conv2D.with_input_affine), which
        saves the batch norm's passes over memory. Anything else is kept as is.
        """
        out, i = [], 0
        while i < len(layers):
            layer, j = layers[i], i + 1
            while j < len(layers) and isinstance(layers[j], Dropout):
                j += 1
            if (isinstance(layer, BatchNormalization) and j < len(layers)
                    and isinstance(layers[j], Conv2D) and layers[j].takes_affine_input()):
                out.append(layers[j].with_input_affine(*layer.inference_affine()))
                i = j + 1
            else:
                out.append(layer)
                i += 1
        return out

    def _train_step(self, xb, tb, lb):
        """One optimiser step; returns (summed loss, correct count) as device scalars."""
        loss, correct = self._gradients(xb, tb, lb)
        self._apply_gradients()
        return loss, correct

    def _gradients(self, xb, tb, lb, batch_total=None):
        """Forward and backward on a batch: every layer's grads, (summed loss, correct count).

        batch_total: the batch these rows are part of (minicnn/parallel.py); the
        loss is a mean over the whole batch, so their gradient is scaled by n/N.
        """
        logits = self._forward(xb, True, self._logit_layers())
        loss = self.loss.forward(logits, tb, validate=False)
        correct = (logits.argmax(axis=1) == lb).sum()
        g = self.loss.backward()
        if batch_total is not None and batch_total != xb.shape[0]:
            g *= xb.shape[0] / batch_total
        for layer in reversed(self._logit_layers()):
            g = layer.backward(g)
        return loss * xb.shape[0], correct

    def _apply_gradients(self):
        params = [layer.params[key] for layer, key in self._train_slots]
        grads = [layer.grads[key] for layer, key in self._train_slots]
        self.optimizer.step(params, grads)

    def train_on_batch(self, x, y):
        """One optimiser step on (x, y); returns [loss, accuracy] as floats."""
        self._require_compiled("train_on_batch")
        x = self._check_x(x, "train_on_batch")
        t, lab = self._check_y(y, x.shape[0], "train_on_batch")
        loss, correct = self._train_step(x, t, lab)
        return [float(B.to_host(loss)) / x.shape[0], float(B.to_host(correct)) / x.shape[0]]

    def _inference_layers(self, which):
        """The layers inference runs, batch norms folded: "logits" (the loss's input) or "outputs"."""
        return self._folded_for_inference(self._logit_layers() if which == "logits"
                                          else self.layers)

    def _inference(self, which, team=None):
        """A function: a batch -> its "logits" or "outputs" in inference mode, with the
        weights as they are now; over the team's processes when there is one."""
        if team is not None:
            team.refold()
            return lambda xb: team.infer(xb, which)
        layers = self._inference_layers(which)
        return lambda xb: self._forward(xb, False, layers)

    def _evaluate_device(self, x, t, lab, batch_size, team=None):
        """(mean loss, accuracy) over already-checked device data, inference mode."""
        loss_sum = correct = 0.0
        n = x.shape[0]
        logits_of = self._inference("logits", team)
        for i in range(0, n, batch_size):
            logits = logits_of(x[i:i + batch_size])
            loss_sum = loss_sum + self.loss.forward(logits, t[i:i + batch_size], validate=False) \
                * logits.shape[0]
            correct = correct + (logits.argmax(axis=1) == lab[i:i + batch_size]).sum()
        loss_sum, correct = (float(v) for v in B.to_host(B.xp().stack([loss_sum, correct])))
        return loss_sum / n, correct / n

    def evaluate(self, x, y, batch_size=32, verbose=0):
        """[loss, accuracy] on (x, y), inference mode."""
        self._require_compiled("evaluate")
        positive_int(batch_size, "evaluate: batch_size")
        _check_verbose(verbose, "evaluate")
        x = self._check_x(x, "evaluate")
        t, lab = self._check_y(y, x.shape[0], "evaluate")
        with self._team(batch_size, x.shape[0]) as team:
            loss, acc = self._evaluate_device(x, t, lab, batch_size, team)
        if verbose:
            print(f"loss: {loss:.4f} - acc: {acc:.4f}")
        return [loss, acc]

    def predict(self, x, batch_size=32):
        """Model outputs (probabilities for a softmax model), as a host numpy array."""
        positive_int(batch_size, "predict: batch_size")
        x = self._check_x(x, "predict")
        with self._team(batch_size, x.shape[0]) as team:
            outputs_of = self._inference("outputs", team)
            outs = [outputs_of(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        return B.to_host(B.xp().concatenate(outs, axis=0))

    def _team(self, batch_size, n_samples, targets=None, largest=None):
        """A context holding a parallel.Team that splits each batch over the CPU cores,
        or None where one process is better: CuPy, one core, small batches or little
        data, or layers on their reference paths (which keep their textbook arithmetic).
        A call made while a team is at work (predict in a callback during fit) runs in
        this process: the team's workers are waiting for the next step. ``largest``:
        the most samples any batch is cut from (n_samples if None), which bounds the
        team's batch buffers."""
        size = P.get_processes()
        if (self._team_at_work or B.get_backend() != "numpy" or size < 2
                or batch_size < P.MIN_ROWS * size or n_samples < P.MIN_SAMPLES
                or any(getattr(layer, "reference", False) for layer in self.layers)):
            return contextlib.nullcontext()
        rows = min(batch_size, n_samples if largest is None else largest)
        return P.Team(self, size, rows, targets)

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
        _check_verbose(verbose, "fit")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}.")
        callbacks = _callback_list(callbacks)
        if not is_count(epochs) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}.")
        validation_data = _validation_pair(validation_data)
        if not (isinstance(validation_split, numbers.Real) and 0.0 <= validation_split < 1.0):
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}.")
        if validation_split and validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both.")
        x = self._check_x(x, "fit")
        n = x.shape[0]
        t, lab = self._check_y(y, n, "fit")
        validation = None
        if validation_data is not None:
            vx = self._check_x(validation_data[0], "fit(validation_data)")
            vt, vlab = self._check_y(validation_data[1], vx.shape[0], "fit(validation_data)")
            validation = (vx, vt, vlab)
        elif validation_split:
            split = int(n * (1.0 - validation_split))            # Keras' rule
            if split in (0, n):
                raise ValueError(f"fit: validation_split={validation_split} of {n} samples "
                                 "leaves no training or no validation samples.")
            validation = (x[split:], t[split:], lab[split:])
            x, t, lab, n = x[:split], t[:split], lab[:split], split
        if verbose == 1 and not _is_terminal():
            verbose = 2
        history = C.History()
        cbs = [history] + callbacks
        logged = ["loss", "acc"] + (["val_loss", "val_acc"] if validation is not None
                                    else []) + ["lr"]
        for cb in cbs:   # each learns the model and what this fit will log, before it starts
            cb.set_model(self)
            if callable(getattr(cb, "set_params", None)):       # not every callback has it
                cb.set_params({"epochs": epochs, "batch_size": batch_size, "metrics": logged})
        self.stop_training = False
        self.history = history
        largest = n if validation is None else max(n, validation[0].shape[0])
        with self._team(batch_size, n, t, largest) as team:   # worker processes, if any
            begun = []
            try:  # begun callbacks get on_train_end (files closed) even if training stops on an error
                for cb in cbs:
                    cb.on_train_begin()
                    begun.append(cb)
                self._fit_epochs(x, t, lab, batch_size, epochs, verbose, shuffle, cbs, team,
                                 validation)
            finally:
                for cb in begun:
                    cb.on_train_end()
        return history

    def _fit_epochs(self, x, t, lab, batch_size, epochs, verbose, shuffle, cbs, team, validation):
        """fit's epochs: train, validate, report, call back; stops early when asked to."""
        for epoch in range(epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            start = time.perf_counter()
            saved = self._training_state()                    # to undo this epoch if it fails
            logs = self._train_epoch(x, t, lab, batch_size, shuffle, verbose, cbs, team)
            if logs is None:                                  # non-finite loss: stopped
                self._restore_training_state(saved)
                self.history.stopped = self._stopped_reason(epoch)
                break
            if validation is not None:
                logs["val_loss"], logs["val_acc"] = self._evaluate_device(
                    *validation, batch_size, team)
            logs["lr"] = float(self.optimizer.lr)
            if verbose:
                print(_epoch_line(time.perf_counter() - start, logs), flush=True)
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break

    def _train_epoch(self, x, t, lab, batch_size, shuffle, verbose, cbs, team=None):
        """One pass over the data; returns {"loss", "acc"}, or None if the loss (or, at the
        end, a weight) went non-finite.

        Metrics add up on the device. The host reads them every batch on NumPy
        (free); on a GPU every 50 batches while a progress bar shows them (one
        sync each), and otherwise only once, at the end of the epoch.
        """
        xp = B.xp()
        n = x.shape[0]
        n_batches = math.ceil(n / batch_size)
        order = B.host_rng().permutation(n) if shuffle else np.arange(n)
        order = B.to_device(order)
        loss_sum, correct, seen = xp.zeros((), dtype=B.floatx()), xp.zeros((), xp.int64), 0
        bar = _progress(n_batches, verbose)
        read_every = 1 if B.get_backend() == "numpy" else (50 if bar is not None else 0)
        self._bad_batch = None
        step = team.train_step if team is not None else self._train_step
        try:
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                batch_loss, batch_correct = step(x[idx], t[idx], lab[idx])
                loss_sum += batch_loss
                correct += batch_correct
                seen += idx.shape[0]
                for cb in cbs:
                    cb.on_batch_end(b, {"size": int(idx.shape[0])})  # no metrics: no host sync
                if read_every and (b % read_every == read_every - 1 or b == n_batches - 1):
                    running, right = (float(v) for v in B.to_host(xp.stack([loss_sum, correct])))
                    running /= seen                          # one read for both numbers
                    if not math.isfinite(running):
                        self._bad_batch = b
                        self.stop_training = True
                        return None
                    if bar is not None:
                        bar.set_postfix_str(f"loss: {running:.4f} - acc: {right / seen:.4f}",
                                            refresh=False)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        finite = xp.stack([xp.isfinite(a).all() for a in self._weight_arrays()]).all()
        loss_sum, correct, finite = (float(v) for v in B.to_host(xp.stack([loss_sum, correct,
                                                                           finite])))
        if not (math.isfinite(loss_sum) and finite):          # (loss read only now on a GPU)
            self.stop_training = True
            return None
        return {"loss": loss_sum / seen, "acc": correct / seen}

    def _stopped_reason(self, epoch):
        if self._bad_batch is None:
            where, when = f"epoch {epoch + 1}", " (found at the end of the epoch)"
        else:
            where = f"epoch {epoch + 1}, batch {self._bad_batch + 1}"
            when = "" if B.get_backend() == "numpy" else \
                " (read every 50 batches on a GPU: in the 50 up to this one)"
        print(f"fit: the training loss or the weights became NaN or inf at {where}{when}; "
              f"training stopped, and the weights and optimizer state from the start of epoch "
              f"{epoch + 1} are back in the model. Try a lower learning rate.",
              file=sys.stderr, flush=True)
        return f"non-finite loss at {where}; the weights from before it are restored"

    def _training_state(self):
        """Copies of every weight and of the optimizer's state (what an epoch changes)."""
        return [a.copy() for a in self._weight_arrays()], self.optimizer.get_state()

    def _restore_training_state(self, saved):
        """Put back what _training_state copied, in place (worker processes share the arrays)."""
        weights, optimizer_state = saved
        for a, w in zip(self._weight_arrays(), weights):
            a[...] = w
        self.optimizer.set_state(optimizer_state)

    # ---- weights ---------------------------------------------------------
    def _weight_slots(self):
        """(layer index, layer, kind, key) in Keras order: kernel, bias, gamma, beta, moving stats."""
        self.build()
        return [(i, layer, kind, key) for i, layer in enumerate(self.layers)
                for kind, group in (("params", layer.params), ("state", layer.state))
                for key in group]

    def _weight_arrays(self):
        """The model's own weight arrays (not copies), in _weight_slots order."""
        return [getattr(layer, kind)[key] for _, layer, kind, key in self._weight_slots()]

    def get_weights(self):
        """Host copies of every weight, in Keras' order."""
        return [np.array(B.to_host(a)) for a in self._weight_arrays()]

    def set_weights(self, weights):
        """Set every weight from a list in get_weights() order; checks all shapes first."""
        slots = self._weight_slots()
        if len(weights) != len(slots):
            raise ValueError(f"set_weights: the model has {len(slots)} weight arrays, got {len(weights)}.")
        host = []
        for (_, layer, kind, key), w in zip(slots, weights):
            current = getattr(layer, kind)[key]
            shape = tuple(w.shape) if hasattr(w, "shape") else np.shape(w)   # host or device
            if shape != tuple(current.shape):
                raise ValueError(f"set_weights: {layer.name}/{key} has shape {tuple(current.shape)}, "
                                 f"got {shape}.")
            host.append(_real_values(B.to_host(w), f"set_weights: {layer.name}/{key}",
                                     "pass finite real numbers"))
        for (_, layer, kind, key), w in zip(slots, host):
            getattr(layer, kind)[key][...] = B.to_device(w, dtype=B.floatx())

    def save_weights(self, path):
        """Write every weight to an .npz file, atomically (temp file, then rename).

        Refuses NaN or inf weights, so that a diverged model never replaces a good file.
        """
        path = _weights_path("save_weights", path)
        arrays = {}
        for i, layer, kind, key in self._weight_slots():
            name = f"{i:03d}/{layer.name}/{key}"
            arrays[name] = _real_values(np.array(B.to_host(getattr(layer, kind)[key])),
                                        f"save_weights: layer {name}",
                                        "the model has diverged; nothing was written")
        require_folder("save_weights", path, "first")
        write_atomically(path, lambda f: np.savez(f, **arrays))

    def load_weights(self, path):
        """Load an .npz written by save_weights (no pickle); the model is unchanged on any error."""
        path = _weights_path("load_weights", path)
        slots = self._weight_slots()
        try:
            with open(path, "rb") as f:
                raw = f.read()
            if raw[:4] != b"PK\x03\x04":               # an .npz is a zip archive
                raise ValueError("not an .npz file (no zip archive); save_weights writes them")
            with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                stored = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as err:
            raise ValueError(f"load_weights: {path} is not a readable minicnn weights file "
                             f"({type(err).__name__}: {err}).") from err
        by_prefix = {}
        for name in stored:
            by_prefix.setdefault(name.split("/")[0], []).append(name)
        matched = []                                    # stored name for each slot, checked
        for i, layer, kind, key in slots:
            prefix, current = f"{i:03d}", getattr(layer, kind)[key]
            names = [nm for nm in by_prefix.get(prefix, []) if nm.endswith("/" + key)]
            if not names:
                raise ValueError(f"load_weights: {path} has no {key!r} for layer {prefix} "
                                 f"{layer.name} ({type(layer).__name__}); the file was saved "
                                 "from a different architecture.")
            if stored[names[0]].shape != tuple(current.shape):
                raise ValueError(f"load_weights: layer {prefix} {layer.name} {key}: the file has "
                                 f"shape {stored[names[0]].shape}, the model {tuple(current.shape)}.")
            _real_values(stored[names[0]], f"load_weights: {path}, layer {prefix} {layer.name} "
                         f"{key}", "the file is corrupt or from a diverged run")
            matched.append(names[0])
        if len(stored) != len(slots):
            raise ValueError(f"load_weights: {path} holds {len(stored)} arrays, the model "
                             f"{len(slots)}; the file was saved from a different architecture.")
        for (_, layer, kind, key), name in zip(slots, matched):
            getattr(layer, kind)[key][...] = B.to_device(stored[name], dtype=B.floatx())

    # ---- profiling -------------------------------------------------------
    def profile(self, x, y=None, repeats=5, print_fn=print):
        """Time each layer's forward and backward on one training step of the batch x
        (no optimiser step; the model is left unchanged); prints the table, returns the rows."""
        from . import profiler
        rows = profiler.profile(self, x, y, repeats=repeats)
        print_fn(profiler.format_profile(rows))
        return rows


# ---- small helpers ----------------------------------------------------------
_HOOKS = ("set_model", "on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end",
          "on_train_end")


def _callback_list(callbacks):
    """fit's callbacks as a list: objects with every hook fit calls (a Callback, or any
    object that has them), each one's check() run before fit changes anything."""
    if callbacks is None:
        return []
    if hasattr(callbacks, "on_epoch_end") or isinstance(callbacks, (str, bytes)) \
            or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a list of callbacks, got "
                        f"{type(callbacks).__name__}; e.g. callbacks=[CSVLogger('log.csv')].")
    callbacks = list(callbacks)
    for cb in callbacks:
        missing = [hook for hook in _HOOKS if not callable(getattr(cb, hook, None))]
        if missing:
            raise TypeError(f"fit: {cb!r} is not a callback (it has no {missing[0]}); use "
                            "minicnn.callbacks or subclass minicnn.callbacks.Callback.")
    for cb in callbacks:
        if callable(getattr(cb, "check", None)):
            cb.check()
    return callbacks


def _check_verbose(verbose, who):
    if isinstance(verbose, str) or verbose not in (0, 1, 2):
        raise ValueError(f"{who}: verbose must be 0 (silent), 1 (progress bar) or 2 (one "
                         f"line per epoch), got {verbose!r}.")


def _weights_path(who, path):
    """A weights file's path as a string (utils.file_path), and not a folder."""
    path = file_path(who, "path", path, "weights.npz")
    if os.path.isdir(path):
        raise ValueError(f"{who}: {path!r} is a folder; give a file name such as 'weights.npz'.")
    return path


def _real_values(a, what, hint):
    """``a`` if it holds finite real numbers; else a ValueError naming ``what``."""
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {a.dtype}, not real numbers ({hint}).")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or inf values ({hint}).")
    return a


def _validation_pair(validation_data):
    """(x_val, y_val), or None; Keras' (x_val, y_val, None) is taken too."""
    if validation_data is None:
        return None
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) == 3 and validation_data[2] is not None:
            raise ValueError("fit: validation_data has sample weights (a third item), which "
                             "minicnn does not support; pass (x_val, y_val).")
        if len(validation_data) in (2, 3):
            return tuple(validation_data[:2])
    raise ValueError("fit: validation_data must be a pair (x_val, y_val).")


def _snake(name):
    """A class name as Keras writes layer names: MaxPooling2D -> max_pooling2d, ReLU -> re_lu."""
    out = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)     # an underscore before each Word
    out = re.sub(r"([a-z])([A-Z])", r"\1_\2", out).lower()     # and inside runs: ReLU -> Re_LU
    return out.replace("convolution2d", "conv2d")


def _row(cells, widths):
    return "".join(str(c)[:w - 1].ljust(w) for c, w in zip(cells, widths)).rstrip()


def _is_terminal():
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


def _progress(total, verbose):
    if verbose != 1:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="batch", file=sys.stdout, mininterval=0.25, leave=True,
                dynamic_ncols=True)


def _epoch_line(seconds, logs):
    parts = [f"{seconds:.1f}s"]
    for key in ("loss", "acc", "val_loss", "val_acc"):
        if key in logs:
            parts.append(f"{key}: {logs[key]:.4f}")
    parts.append(f"lr: {logs['lr']:.6g}")
    return " - ".join(parts)
