"""Callbacks: code that ``Sequential.fit`` runs at fixed points of training.

``fit`` calls, in order: ``set_model``, ``on_train_begin``, then per epoch
``on_epoch_begin`` / ``on_batch_end`` (each batch) / ``on_epoch_end``, and
finally ``on_train_end``. Epochs count from 0; messages print them from 1,
as Keras does. ``logs`` at epoch end holds Python floats: 'loss', 'acc',
'lr' and, with validation data, 'val_loss' and 'val_acc'.
"""
import csv
import inspect
import math
import os
import warnings

from .utils import require_folder


class Callback:
    """Base class: every hook does nothing; subclasses override the ones they need."""

    model = None

    def check(self):
        """Raise a clear error now if this callback cannot work (fit calls it before it
        changes anything: no weights, no files, no history yet)."""

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        """After each optimiser step; logs = {"size": batch size} (no metrics, so no host sync)."""

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class _Monitor:
    """The best value seen so far of one logs key, and whether a new value beats it.

    mode "min": improved when value < best - min_delta;
    mode "max": improved when value > best + min_delta.
    "auto" picks "max" for accuracy names ("acc" without "loss"), else "min".
    """

    def __init__(self, owner, monitor, mode="auto", min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}.")
        if mode == "auto":
            mode = "max" if ("acc" in monitor and "loss" not in monitor) else "min"
        self.owner, self.monitor, self.mode = owner, monitor, mode
        self.min_delta = abs(float(min_delta))
        self.reset()

    def reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf

    def current(self, logs):
        """The monitored value as a float, or None (with a warning) if it is not logged."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            hint = ""
            if self.monitor.startswith("val_"):
                hint = " (val_* keys need validation data in fit())"
            warnings.warn(
                f"{self.owner}: monitored key {self.monitor!r} is not in the logs "
                f"(available: {', '.join(sorted(logs or {})) or 'none'}){hint}; skipping.",
                RuntimeWarning, stacklevel=3)
            return None
        return float(value)

    def improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value):
        """True (and ``value`` becomes the best) if ``value`` improves on the best."""
        if not self.improved(value):
            return False
        self.best = value
        return True


class History(Callback):
    """Records every epoch's logs: ``history.history[key]`` is a list with one value per
    epoch; ``stopped`` is None, or why fit stopped early (a NaN or inf loss)."""

    def __init__(self):
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}
        self.stopped = None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        """e.g. History(20 epochs; last: loss 0.0181, acc 0.994, val_loss 0.0187, val_acc 0.9945,
        lr 0.0004249)"""
        text = f"History({len(self.epoch)} epoch{'' if len(self.epoch) == 1 else 's'}"
        if self.epoch:
            text += "; last: " + ", ".join(f"{k} {v[-1]:.4g}" for k, v in self.history.items())
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text + ")"


class LearningRateScheduler(Callback):
    """Sets ``optimizer.lr = schedule(epoch, lr)`` at the start of every epoch.

    A schedule taking only ``epoch`` is accepted too.
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got {schedule!r}.")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _positional_count(schedule) != 1

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.lr)
        out = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        try:
            new_lr = float(out)
        except (TypeError, ValueError):
            new_lr = math.nan
        if not (math.isfinite(new_lr) and new_lr > 0):
            raise ValueError(
                f"LearningRateScheduler: schedule(epoch={epoch}, lr={lr}) returned "
                f"{out!r}; a learning rate must be a finite number > 0.")
        self.model.optimizer.lr = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: LearningRateScheduler setting learning rate "
                  f"to {new_lr}.")


class ReduceLROnPlateau(Callback):
    """Multiplies lr by ``factor`` once ``monitor`` has not improved for ``patience`` epochs.

    new lr = max(lr * factor, min_lr); the patience count then starts again.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4,
                 min_lr=0.0, mode="auto", verbose=0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}.")
        if patience < 0 or min_lr < 0:
            raise ValueError("ReduceLROnPlateau: patience and min_lr must be >= 0.")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_lr, self.verbose = float(min_lr), verbose
        self._best = _Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._best.reset()
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._best.current(logs)
        if current is None:
            return
        if self._best.update(current):
            self.wait = 0
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.wait = 0
        old_lr = float(self.model.optimizer.lr)
        new_lr = max(old_lr * self.factor, self.min_lr)
        if new_lr < old_lr:
            self.model.optimizer.lr = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate "
                      f"to {new_lr}.")


class ModelCheckpoint(Callback):
    """Saves the weights with ``model.save_weights(filepath)`` at the end of epochs.

    ``filepath`` may contain ``{epoch:02d}`` (1-based) and any logs key, e.g.
    ``{val_acc:.4f}``. With ``save_best_only`` it saves only when ``monitor``
    improves on its best value so far.
    """

    def __init__(self, filepath, monitor="val_acc", save_best_only=True, mode="auto", verbose=0):
        self.filepath, self.monitor = os.fspath(filepath), monitor
        self.save_best_only, self.verbose = save_best_only, verbose
        self._best = _Monitor("ModelCheckpoint", monitor, mode)

    def check(self):
        _folder_exists("ModelCheckpoint", self.filepath)        # found now, not after an epoch

    def on_train_begin(self, logs=None):
        self._best.reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self.save_best_only:
            path = self._path(epoch, logs)
            self._say(epoch, f"saving model to {path}")
            self.model.save_weights(path)
            return
        current = self._best.current(logs)
        if current is None:
            return
        previous = self._best.best
        if not self._best.update(current):
            self._say(epoch, f"{self.monitor} did not improve from {previous:0.5f}")
            return
        path = self._path(epoch, logs)
        self._say(epoch, f"{self.monitor} improved from {previous:0.5f} to {current:0.5f}, "
                         f"saving model to {path}")
        self.model.save_weights(path)

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as err:
            raise ValueError(
                f"ModelCheckpoint: filepath {self.filepath!r} uses {{{err.args[0]}}}, which is "
                f"not in the logs (available: epoch, {', '.join(sorted(logs))}).") from None

    def _say(self, epoch, message):
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: {message}")


class EarlyStopping(Callback):
    """Stops training after ``patience`` epochs in a row without improvement of ``monitor``.

    (patience=0: at the first epoch that does not improve.) With
    ``restore_best_weights`` the weights of the best epoch are copied then and
    put back into the model when training ends, whether it stopped early or not.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, mode="auto",
                 restore_best_weights=False, verbose=0):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience!r}.")
        self.monitor, self.patience = monitor, int(patience)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self._best = _Monitor("EarlyStopping", monitor, mode, min_delta)

    def on_train_begin(self, logs=None):
        self._best.reset()
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._best.current(logs)
        if current is None:
            return
        if self._best.update(current):
            self.best_epoch, self.wait = epoch, 0
            if self.restore_best_weights:
                self.best_weights = [w.copy() for w in self.model.get_weights()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose > 0:
            print(f"\nEpoch {self.stopped_epoch + 1:05d}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch "
                      f"({self.best_epoch + 1}).")
            self.model.set_weights(self.best_weights)


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` (0-based) then the logs, in the order fit reports them
    (loss, acc, val_loss, val_acc, lr).

    Each row is flushed at once, so the file is complete up to the last
    finished epoch even if training dies.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self._keys = None
        self._header_done = False

    def check(self):
        _folder_exists("CSVLogger", self.filename)

    def on_train_begin(self, logs=None):
        self.on_train_end()  # close a file left open by an interrupted fit
        has_rows = (self.append and os.path.exists(self.filename)
                    and os.path.getsize(self.filename) > 0)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator, lineterminator="\n")
        self._keys = None
        self._header_done = has_rows  # appending to a file that already has a header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = list(logs)
            if not self._header_done:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [logs.get(k, "NA") for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _folder_exists(who, path):
    """utils.require_folder, unless the folder holds a {placeholder} filled in later."""
    if "{" not in os.path.dirname(os.path.abspath(path)):
        require_folder(who, path, "before fit")


def _positional_count(fn):
    """How many positional arguments ``fn`` accepts (2 if it takes *args or is unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = [p.kind for p in params]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return 2
    return sum(k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
               for k in kinds)
