"""Callbacks: code that ``Sequential.fit`` runs at fixed points of training.

``fit`` calls, in order: ``check`` (before it looks at the data),
``set_model``, ``set_params``, ``on_train_begin``, then per epoch
``on_epoch_begin`` / ``on_batch_begin`` and ``on_batch_end`` (each batch) /
``on_epoch_end``, and finally ``on_train_end``. Epochs count from 0; messages
print them from 1, as Keras does. ``logs`` at epoch end holds Python floats:
'loss', each metric compile was given under its Keras name (e.g. 'acc'),
with validation data the same with 'val_' in front, and 'lr'.
"""
import csv
import inspect
import math
import os
import string
import warnings

from .files import file_path, require_folder
from .nn.base import is_count, is_number


class Callback:
    """Base class: every hook does nothing; subclasses override the ones they need."""

    model = None
    params = None

    def check(self):
        """Raise a clear error now if this callback cannot work (fit calls it before it
        changes anything: no weights, no files, no history yet)."""

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        """What this fit will do, told before training starts. ``params["metrics"]``
        lists the keys every epoch's logs will hold, e.g. ["loss", "acc", "lr"] when
        fit has no validation data; a callback that needs another key raises here."""
        self.params = dict(params or {})

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Before each optimiser step; logs = {"batch": index, "size": batch size}."""

    def on_batch_end(self, batch, logs=None):
        """After each optimiser step; logs = {"batch": index, "size": batch size} (no metrics,
        so no host sync)."""

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
        if not (isinstance(monitor, str) and monitor):
            raise TypeError(f"{owner}: monitor must be the name of a logs key such as "
                            f"'val_loss' or 'acc', got {monitor!r}.")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}.")
        if not is_number(min_delta) or not math.isfinite(min_delta):
            raise ValueError(f"{owner}: min_delta must be a finite number (the smallest change "
                             f"that counts as an improvement, e.g. 1e-4), got {min_delta!r}.")
        if mode == "auto":
            mode = "max" if ("acc" in monitor and "loss" not in monitor) else "min"
        self.owner, self.monitor, self.mode = owner, monitor, mode
        self.min_delta = abs(float(min_delta))
        self.reset()

    def require(self, params, otherwise=""):
        """Raise now if fit says (in ``params["metrics"]``) it will never log the monitored
        key; ``otherwise`` names one more way out. No "metrics" (fit did not say): no check."""
        keys = (params or {}).get("metrics")
        if keys is None or self.monitor in keys:
            return
        text = _missing_key(self.monitor, list(keys), lambda key: f"monitor={key!r}")
        raise ValueError(f"{self.owner}: {text}{otherwise}.")

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
        self._takes_lr = _takes_lr(schedule)

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

    new lr = max(lr * factor, min_lr); the patience count then starts again, after
    ``cooldown`` epochs in which no epoch counts against it (Keras 2.2's arguments, in
    its order; ``epsilon`` is its old name for min_delta).
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        if "epsilon" in kwargs:
            warnings.warn("ReduceLROnPlateau: epsilon is Keras' old name for min_delta; write "
                          "min_delta.", UserWarning, stacklevel=2)
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected arguments {sorted(kwargs)}.")
        if not (is_count(cooldown) and cooldown >= 0):
            raise ValueError(f"ReduceLROnPlateau: cooldown must be an int >= 0 (epochs to wait "
                             f"after a reduction), got {cooldown!r}.")
        if not (is_number(factor) and 0.0 < factor < 1.0):
            raise ValueError(f"ReduceLROnPlateau: factor must be a number in (0, 1) (what lr "
                             f"is multiplied by, e.g. 0.1), got {factor!r}.")
        _patience("ReduceLROnPlateau", patience)
        if not (is_number(min_lr) and math.isfinite(min_lr) and min_lr >= 0):
            raise ValueError(f"ReduceLROnPlateau: min_lr must be a finite number >= 0 (the "
                             f"lowest lr it sets, e.g. 1e-5), got {min_lr!r}.")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_lr, self.verbose, self.cooldown = float(min_lr), verbose, int(cooldown)
        self._best = _Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.wait = self.cooldown_counter = 0

    def set_params(self, params):
        super().set_params(params)
        self._best.require(params)

    def on_train_begin(self, logs=None):
        self._best.reset()
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._best.current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:           # Keras' order: count the cooldown down first
            self.cooldown_counter -= 1
            self.wait = 0
        if self._best.update(current):
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.wait = 0
        old_lr = float(self.model.optimizer.lr)
        new_lr = max(old_lr * self.factor, self.min_lr)
        if new_lr < old_lr:
            self.cooldown_counter = self.cooldown
            self.model.optimizer.lr = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate "
                      f"to {new_lr}.")


class ModelCheckpoint(Callback):
    """Saves the model at the end of epochs, with Keras 2.2's defaults: every epoch
    (``period`` epochs apart), the whole model (``model.save``: architecture, weights,
    optimizer), or only the weights with ``save_weights_only=True``.

    ``filepath`` may contain ``{epoch:02d}`` (1-based) and any logs key, e.g.
    ``{val_loss:.4f}``. With ``save_best_only`` it saves only when ``monitor``
    (default 'val_loss') improves on its best value so far.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", period=1):
        self.filepath = file_path("ModelCheckpoint", "filepath", filepath, "runs/best.npz")
        if not (is_count(period) and period >= 1):
            raise ValueError(f"ModelCheckpoint: period must be an int >= 1 (epochs between "
                             f"saves), got {period!r}.")
        self.monitor = monitor
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.verbose, self.period = verbose, int(period)
        self._best = _Monitor("ModelCheckpoint", monitor, mode)
        self.epochs_since_last_save = 0

    def check(self):
        """The filepath's folder exists and its placeholders format (with stand-in values:
        epoch 1, 0.5 for every logs key), so a typo shows now, not after an epoch."""
        if self.filepath.lower().endswith((".h5", ".hdf5", ".keras")):
            stem = os.path.splitext(os.path.basename(self.filepath))[0] or "model"
            raise ValueError(f"ModelCheckpoint: {self.filepath!r} names an HDF5 file; minicnn "
                             f"writes its own .npz format: name it {stem + '.npz'!r}.")
        _folder_exists("ModelCheckpoint", self.filepath)
        fields = self._fields()
        if not fields:                  # with placeholders, the path is a file's by its name
            _not_a_folder("ModelCheckpoint", self.filepath, "best.npz")
        try:
            self.filepath.format(**{key: 1 if key == "epoch" else 0.5 for key in fields})
        except (ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
            raise ValueError(
                f"ModelCheckpoint: filepath {self.filepath!r} cannot be formatted ({err}); "
                "write placeholders as {epoch:02d} or {val_acc:.4f}: a logs key, then an "
                "optional format spec for a number.") from None

    def set_params(self, params):
        """fit's logs keys are known now: every placeholder and the monitor must be one."""
        super().set_params(params)
        keys = (params or {}).get("metrics")
        if keys is None:
            return
        for key in self._fields():
            if key != "epoch" and key not in keys:
                text = _missing_key(key, ["epoch"] + list(keys), lambda k: "{" + k + "}")
                raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} cannot be "
                                 f"filled in: {text}.")
        if self.save_best_only:
            self._best.require(params, ", or save every epoch with save_best_only=False")

    def _fields(self):
        """The names of the filepath's placeholders ('epoch', 'val_acc', ...)."""
        try:
            return [name for _, name, _, _ in string.Formatter().parse(self.filepath)
                    if name is not None]
        except ValueError as err:      # e.g. a lone '{'
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} is not a valid "
                             f"format string ({err}); write a literal brace as '{{{{' or "
                             "'}}}}'.") from None

    def on_train_begin(self, logs=None):
        self._best.reset()
        self.epochs_since_last_save = 0

    def _save(self, path):
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        if not self.save_best_only:
            path = self._path(epoch, logs)
            self._say(epoch, f"saving model to {path}")
            self._save(path)
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
        self._save(path)

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

    (patience=0: at the first epoch that does not improve.) ``baseline``: a value
    the monitored quantity must beat; until it does, no epoch counts as an
    improvement. With ``restore_best_weights`` the weights of the best epoch
    are copied then and put back into the model when training ends, whether it
    stopped early or not (none are put back if no epoch beat the baseline).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False):
        _patience("EarlyStopping", patience)
        if baseline is not None and not (is_number(baseline) and math.isfinite(baseline)):
            raise ValueError(f"EarlyStopping: baseline must be a finite number or None, got "
                             f"{baseline!r}.")
        self.monitor, self.patience = monitor, int(patience)
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self._best = _Monitor("EarlyStopping", monitor, mode, min_delta)

    def set_params(self, params):
        super().set_params(params)
        self._best.require(params)

    def on_train_begin(self, logs=None):
        self._best.reset()
        if self.baseline is not None:
            self._best.best = self.baseline
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
    finished epoch even if training dies. The file is opened at the end of the
    first epoch, not before: a fit that fails sooner leaves an old log as it was.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = file_path("CSVLogger", "filename", filename, "runs/log.csv")
        if not (isinstance(separator, str) and len(separator) == 1):
            raise ValueError(f"CSVLogger: separator must be one character such as ',' or "
                             f"'\\t', got {separator!r}.")
        self.separator, self.append = separator, append
        self._file = self._writer = self._keys = None

    def check(self):
        _folder_exists("CSVLogger", self.filename)
        _not_a_folder("CSVLogger", self.filename, "log.csv")

    def on_train_begin(self, logs=None):
        self.on_train_end()  # close a file left open by an interrupted fit
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:          # the first epoch of this fit: open (and empty) now
            has_rows = (self.append and os.path.exists(self.filename)
                        and os.path.getsize(self.filename) > 0)
            self._file = open(self.filename, "a" if self.append else "w", newline="")
            self._writer = csv.writer(self._file, delimiter=self.separator, lineterminator="\n")
            self._keys = list(logs)
            if not has_rows:            # a log appended to has its header already
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [logs.get(k, "NA") for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """Stops training when the epoch's loss is NaN or inf. (fit does this by itself, and
    also puts back the weights from before the failed epoch; this is Keras' name.)"""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions, as Keras' LambdaCallback: on_epoch_begin(epoch, logs),
    on_epoch_end(epoch, logs), on_batch_begin(batch, logs), on_batch_end(batch, logs),
    on_train_begin(logs), on_train_end(logs); any left out does nothing."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None):
        self._hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                       "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end,
                       "on_train_begin": on_train_begin, "on_train_end": on_train_end}
        for name, function in self._hooks.items():
            if function is not None and not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be a function, got {function!r}.")

    def _call(self, name, *args):
        if self._hooks[name] is not None:
            self._hooks[name](*args)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs or {})

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs or {})

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs or {})

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs or {})

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs or {})


class TensorBoard(Callback):
    """Keras' TensorBoard writes TensorFlow event files, which minicnn does not."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "TensorBoard: minicnn writes no TensorFlow event files; log every epoch's numbers "
            "with minicnn.callbacks.CSVLogger('log.csv') (and plot a History with "
            "minicnn.viz.plot_history).")


def _folder_exists(who, path):
    """files.require_folder, unless the folder holds a {placeholder} filled in later."""
    if "{" not in os.path.dirname(os.path.abspath(path)):
        require_folder(who, path, "before fit")


def _not_a_folder(who, path, example):
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path} is a folder; give the path of a file in it, "
                                f"e.g. os.path.join(folder, {example!r}).")


def _takes_lr(schedule):
    """True to call schedule(epoch, lr), False for schedule(epoch); a TypeError if it
    accepts neither. A schedule whose signature Python cannot read gets (epoch, lr)."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return True
    for args, takes_lr in (((0, 0.1), True), ((0,), False)):
        try:
            signature.bind(*args)
            return takes_lr
        except TypeError:
            pass
    raise TypeError(f"LearningRateScheduler: schedule{signature} cannot be called as "
                    "schedule(epoch, lr) or schedule(epoch); write it as, e.g., "
                    "def schedule(epoch, lr): return lr * 0.9.")


def _patience(who, patience):
    if not (is_count(patience) and patience >= 0):
        raise ValueError(f"{who}: patience must be an int >= 0 (epochs to wait without "
                         f"improvement), got {patience!r}.")


def _missing_key(key, keys, show):
    """Why the logs key ``key`` will not be there, given the ``keys`` fit logs, and what to
    do instead; ``show`` writes a key as the user wrote it (monitor='x' or {x})."""
    if key.startswith("val_") and key[4:] in keys:
        return (f"{show(key)} is logged only with validation data, and this fit has none; "
                "pass validation_data=(x_val, y_val) or validation_split=0.1 to fit, or use "
                f"{show(key[4:])}")
    return f"{show(key)} is not a key fit logs ({', '.join(keys)}); use one of those"
