"""Callbacks driven by a fake model that only has what they use."""
import csv
import os

import numpy as np
import pytest

from minicnn import callbacks
from minicnn.schedules import inverse_time_decay


class FakeOptimizer:
    def __init__(self, lr):
        self.lr = lr


class FakeModel:
    """optimizer.lr, stop_training, save_weights(path) and get/set_weights."""

    def __init__(self, lr=0.01):
        self.optimizer = FakeOptimizer(lr)
        self.stop_training = False
        self.weights = [np.zeros((2, 2)), np.zeros(3)]
        self.saved = []

    def save_weights(self, path):
        with open(path, "w") as f:
            f.write(repr([w.tolist() for w in self.weights]))
        self.saved.append(path)

    def get_weights(self):
        return self.weights            # live arrays, as a careless model might return

    def set_weights(self, weights):
        for w, new in zip(self.weights, weights):
            w[...] = new


def fit(callback, epoch_logs, model=None):
    """Mimic Sequential.fit's calls; epoch e sets every weight to e before its end."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    ran = 0
    for epoch, logs in enumerate(epoch_logs):
        callback.on_epoch_begin(epoch)
        for w in model.weights:
            w[...] = epoch
        logs = dict(logs, lr=model.optimizer.lr)
        callback.on_epoch_end(epoch, logs)
        ran += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return model, ran


# ---- LearningRateScheduler ---------------------------------------------------
def test_scheduler_sets_lr_and_prints_like_keras(capsys):
    seen = []
    cb = callbacks.LearningRateScheduler(inverse_time_decay(0.003, 0.319), verbose=1)

    class Recorder(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.optimizer.lr)

    model = FakeModel(lr=0.5)
    rec = Recorder()
    rec.set_model(model)
    cb.set_model(model)
    for epoch in range(3):
        cb.on_epoch_begin(epoch)
        rec.on_epoch_end(epoch)
    assert seen == [0.003, 0.0022744503, 0.0018315018]
    assert capsys.readouterr().out == (
        "\nEpoch 00001: LearningRateScheduler setting learning rate to 0.003.\n"
        "\nEpoch 00002: LearningRateScheduler setting learning rate to 0.0022744503.\n"
        "\nEpoch 00003: LearningRateScheduler setting learning rate to 0.0018315018.\n")


def test_scheduler_passes_current_lr_and_accepts_one_argument(capsys):
    model, _ = fit(callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5), [{}] * 3, FakeModel(1.0))
    assert model.optimizer.lr == 0.125
    model, _ = fit(callbacks.LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1)), [{}] * 2)
    assert model.optimizer.lr == 0.2
    assert capsys.readouterr().out == ""          # verbose=0 prints nothing


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf"), None, "0.1x"])
def test_scheduler_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="finite number > 0"):
        fit(callbacks.LearningRateScheduler(lambda epoch, lr: bad), [{}])


# ---- ReduceLROnPlateau -------------------------------------------------------
def test_plateau_reduces_after_patience(capsys):
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.02, verbose=1)
    model = FakeModel(lr=0.1)
    cb.set_model(model)
    cb.on_train_begin()
    lrs = []
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.91, 0.92, 0.80, 0.85, 0.85, 0.9, 0.9]):
        cb.on_epoch_end(epoch, {"val_loss": val_loss})
        lrs.append(model.optimizer.lr)
    # best 0.9 at epoch 1; epochs 2, 3 do not improve -> halve; 4 does not, 5 (0.80) does;
    # 6, 7 -> halve (0.025); 8, 9 -> would give 0.0125 but min_lr clips it to 0.02.
    assert lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02]
    out = capsys.readouterr().out
    assert "\nEpoch 00004: ReduceLROnPlateau reducing learning rate to 0.05.\n" in out
    assert out.count("reducing learning rate") == 3


def test_plateau_min_delta_and_max_mode():
    cb = callbacks.ReduceLROnPlateau(monitor="val_acc", factor=0.1, patience=1, min_delta=0.01)
    assert cb._best.mode == "max"
    model = FakeModel(lr=1.0)
    fit(cb, [{"val_acc": 0.5}, {"val_acc": 0.505}], model)   # +0.005 < min_delta: no improvement
    assert model.optimizer.lr == pytest.approx(0.1)


# ---- ModelCheckpoint ---------------------------------------------------------
def test_checkpoint_saves_only_on_improvement(tmp_path, capsys):
    path = str(tmp_path / "w-{epoch:02d}-{val_acc:.2f}.npz")
    cb = callbacks.ModelCheckpoint(path, monitor="val_acc", verbose=1, save_best_only=True,
                                   save_weights_only=True)
    accs = [0.5, 0.7, 0.6, 0.7, 0.9]
    model, _ = fit(cb, [{"val_acc": a, "val_loss": 1 - a} for a in accs])
    names = [os.path.basename(p) for p in model.saved]
    assert names == ["w-01-0.50.npz", "w-02-0.70.npz", "w-05-0.90.npz"]
    assert sorted(os.listdir(tmp_path)) == names
    out = capsys.readouterr().out
    assert "\nEpoch 00001: val_acc improved from -inf to 0.50000, saving model to" in out
    assert "\nEpoch 00004: val_acc did not improve from 0.70000\n" in out


def test_checkpoint_min_mode_and_save_every_epoch(tmp_path):
    model, _ = fit(callbacks.ModelCheckpoint(str(tmp_path / "best"), monitor="val_loss",
                                             save_best_only=True, save_weights_only=True),
                   [{"val_loss": v} for v in (1.0, 0.5, 0.7)])
    assert len(model.saved) == 2
    model, _ = fit(callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}"), save_best_only=False,
                                             save_weights_only=True),
                   [{"val_acc": v} for v in (0.9, 0.1, 0.2)])
    assert [os.path.basename(p) for p in model.saved] == ["e1", "e2", "e3"]


def test_checkpoint_missing_key_warns_and_does_not_save(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w"), monitor="val_acc", save_best_only=True,
                                   save_weights_only=True)
    with pytest.warns(RuntimeWarning, match="val_acc.*not in the logs.*validation data"):
        model, _ = fit(cb, [{"loss": 0.3, "acc": 0.9}])
    assert model.saved == [] and os.listdir(tmp_path) == []


def test_checkpoint_unknown_placeholder_is_explained(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "{val_f1}"), monitor="val_acc")
    with pytest.raises(ValueError, match="val_f1"):
        fit(cb, [{"val_acc": 0.5}])


# ---- EarlyStopping -----------------------------------------------------------
def test_early_stopping_stops_after_patience_and_restores_best():
    cb = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    losses = [1.0, 0.6, 0.7, 0.4, 0.5, 0.45, 0.3, 0.1]
    model, ran = fit(cb, [{"val_loss": v} for v in losses])
    assert ran == 6 and model.stop_training and cb.stopped_epoch == 5
    assert cb.best_epoch == 3
    # the fake model returns live arrays: only a copy keeps epoch 3's weights
    for w in model.weights:
        np.testing.assert_array_equal(w, 3.0)


def test_early_stopping_patience_zero_and_min_delta():
    cb = callbacks.EarlyStopping(monitor="val_acc", patience=0, min_delta=0.05)
    model, ran = fit(cb, [{"val_acc": v} for v in (0.5, 0.6, 0.62, 0.9)])
    assert ran == 3                                 # 0.62 is not 0.05 better than 0.6
    for w in model.weights:
        np.testing.assert_array_equal(w, 2.0)       # not restored by default


def test_early_stopping_restores_best_even_without_stopping():
    cb = callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    model, ran = fit(cb, [{"loss": v} for v in (0.5, 0.2, 0.3)])
    assert ran == 3 and not model.stop_training
    np.testing.assert_array_equal(model.weights[0], 1.0)


# ---- CSVLogger and History ----------------------------------------------------
def test_csv_logger_rows_are_flushed_each_epoch(tmp_path):
    path = tmp_path / "log.csv"
    cb = callbacks.CSVLogger(str(path))
    model = FakeModel(lr=0.01)
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 0.6, "acc": 0.7, "val_loss": 0.5, "lr": 0.01})
    # readable before training ends; columns in the order fit reports them
    assert path.read_text() == "epoch,loss,acc,val_loss,lr\n0,0.6,0.7,0.5,0.01\n"
    cb.on_epoch_end(1, {"loss": 0.5, "acc": 0.8, "val_loss": 0.4, "lr": 0.001})
    cb.on_train_end()
    rows = list(csv.reader(path.open()))
    assert rows == [["epoch", "loss", "acc", "val_loss", "lr"],
                    ["0", "0.6", "0.7", "0.5", "0.01"],
                    ["1", "0.5", "0.8", "0.4", "0.001"]]


def test_csv_logger_append_and_separator(tmp_path):
    path = tmp_path / "log.tsv"
    fit(callbacks.CSVLogger(str(path), separator="\t"), [{"loss": 1.0}])
    fit(callbacks.CSVLogger(str(path), separator="\t", append=True), [{"loss": 2.0}])
    assert path.read_text() == "epoch\tloss\tlr\n0\t1.0\t0.01\n0\t2.0\t0.01\n"
    fit(callbacks.CSVLogger(str(path), separator="\t"), [{"loss": 3.0}])     # overwrite
    assert path.read_text() == "epoch\tloss\tlr\n0\t3.0\t0.01\n"


def test_history_records_each_epoch():
    history = callbacks.History()
    fit(history, [{"loss": 0.9, "acc": 0.5}, {"loss": 0.7, "acc": 0.6}])
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.9, 0.7], "acc": [0.5, 0.6], "lr": [0.01, 0.01]}
    assert repr(history) == "History(2 epochs; last: loss 0.7, acc 0.6, lr 0.01)"
    assert repr(callbacks.History()) == "History(0 epochs)"


def test_auto_mode_and_bad_mode():
    assert callbacks.EarlyStopping(monitor="val_acc")._best.mode == "max"
    assert callbacks.EarlyStopping(monitor="acc")._best.mode == "max"
    assert callbacks.EarlyStopping(monitor="val_loss")._best.mode == "min"
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="best")


# ---- problems found before training --------------------------------------------
NO_VALIDATION = {"metrics": ["loss", "acc", "lr"]}          # what fit logs without validation
WITH_VALIDATION = {"metrics": ["loss", "acc", "val_loss", "val_acc", "lr"]}


def tiny_model():
    """A real Sequential and 12 images of 4x4, for the tests that go through fit."""
    from minicnn import layers
    from minicnn.models import Sequential
    model = Sequential([layers.Flatten(input_shape=(4, 4, 1)), layers.Dense(3), layers.Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x = np.random.default_rng(0).random((12, 4, 4, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(12) % 3]
    return model, x, y


@pytest.mark.parametrize("name, message", [
    ("w-{epoch:q}.npz", r"cannot be formatted \(Unknown format code 'q'.*\{epoch:02d\}"),
    ("w-{val_acc:d}.npz", r"cannot be formatted \(Unknown format code 'd'"),
    ("w-{}.npz", r"cannot be formatted"),
    ("w-{epoch.npz", r"not a valid format string .*write a literal brace as '\{\{'"),
])
def test_checkpoint_bad_filepath_is_found_by_check(tmp_path, name, message):
    cb = callbacks.ModelCheckpoint(str(tmp_path / name), save_best_only=False)
    with pytest.raises(ValueError, match=message):
        cb.check()


def test_checkpoint_bad_format_spec_stops_fit_before_training(tmp_path):
    model, x, y = tiny_model()
    before = [w.copy() for w in model.get_weights()]
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:q}.npz"), save_best_only=False)
    with pytest.raises(ValueError, match="cannot be formatted"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    for w, old in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, old)              # not one step taken
    assert os.listdir(tmp_path) == []
    for name in ("w-{epoch:02d}-{val_acc:.4f}.npz", "best.npz", "w-{loss:.3e}-{{x}}.npz"):
        callbacks.ModelCheckpoint(str(tmp_path / name)).check()   # placeholders that do format


def test_checkpoint_monitor_without_validation_is_refused_by_set_params(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "noval.npz"), monitor="val_acc", save_best_only=True)
    with pytest.raises(ValueError, match=r"ModelCheckpoint: monitor='val_acc' is logged only "
                                         r"with validation data, and this fit has none; pass "
                                         r"validation_data=.*monitor='acc', or save every "
                                         r"epoch with save_best_only=False\."):
        cb.set_params(NO_VALIDATION)
    cb.set_params(WITH_VALIDATION)
    assert cb.params == WITH_VALIDATION
    callbacks.ModelCheckpoint(str(tmp_path / "e.npz"), save_best_only=False).set_params(NO_VALIDATION)
    callbacks.ModelCheckpoint(str(tmp_path / "b.npz"), monitor="loss").set_params(NO_VALIDATION)


def test_checkpoint_placeholders_must_be_logged_keys(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w-{val_acc:.3f}.npz"), save_best_only=False)
    with pytest.raises(ValueError, match=r"cannot be filled in: \{val_acc\} is logged only with "
                                         r"validation data.*or use \{acc\}\."):
        cb.set_params(NO_VALIDATION)
    cb.set_params(WITH_VALIDATION)
    typo = callbacks.ModelCheckpoint(str(tmp_path / "w-{val_f1}.npz"))
    with pytest.raises(ValueError, match=r"\{val_f1\} is not a key fit logs \(epoch, loss, acc, "
                                         r"val_loss, val_acc, lr\); use one of those"):
        typo.set_params(WITH_VALIDATION)


def test_checkpoint_set_params_without_metrics_checks_nothing(tmp_path):
    """A caller that does not say what it logs (e.g. a hand-written loop) gets the old,
    per-epoch behaviour: a warning when the monitored key is missing."""
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w-{val_f1}.npz"))
    cb.set_params({})
    assert cb.params == {}


@pytest.mark.parametrize("make, fix", [
    (lambda: callbacks.EarlyStopping(), "monitor='loss'"),
    (lambda: callbacks.ReduceLROnPlateau(), "monitor='loss'"),
    (lambda: callbacks.EarlyStopping(monitor="val_acc"), "monitor='acc'"),
])
def test_val_monitors_without_validation_are_refused_by_set_params(make, fix):
    cb = make()
    with pytest.raises(ValueError, match=r"monitor='val_\w+' is logged only with validation "
                                         r"data, and this fit has none; pass validation_data="
                                         r"\(x_val, y_val\) or validation_split=0\.1 to fit, "
                                         r"or use " + fix):
        cb.set_params(NO_VALIDATION)
    make().set_params(WITH_VALIDATION)


def test_unknown_monitor_is_refused_by_set_params():
    with pytest.raises(ValueError, match=r"EarlyStopping: monitor='accuracy' is not a key fit "
                                         r"logs \(loss, acc, lr\); use one of those\."):
        callbacks.EarlyStopping(monitor="accuracy").set_params(NO_VALIDATION)


@pytest.mark.parametrize("make", [lambda path: callbacks.CSVLogger(path),
                                  lambda path: callbacks.ModelCheckpoint(path)])
def test_a_folder_given_as_the_file_is_refused_by_check(tmp_path, make):
    with pytest.raises(IsADirectoryError, match=r"is a folder; give the path of a file in it"):
        make(str(tmp_path)).check()


# ---- CSVLogger keeps an old log when fit fails before an epoch ends ----------------
class Interrupt(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        raise KeyboardInterrupt          # e.g. Ctrl-C during the first epoch


@pytest.mark.parametrize("append", [False, True])
def test_csv_logger_leaves_the_old_log_when_fit_fails_early(tmp_path, append):
    path = tmp_path / "log.csv"
    old = "epoch,loss,acc,lr\n0,1.0,0.5,0.01\n"
    path.write_text(old)
    model, x, y = tiny_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.CSVLogger(str(path), append=append), Interrupt()])
    assert path.read_text() == old
    # a fit that finishes an epoch then replaces the log (or, appending, adds to it)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(str(path), append=append)])
    rows = list(csv.reader(path.open()))
    if append:
        assert path.read_text().startswith(old) and len(rows) == 4
    else:
        assert rows[0] == ["epoch", "loss", "acc", "lr"] and len(rows) == 3
    assert [row[0] for row in rows[-2:]] == ["0", "1"]


@pytest.mark.parametrize("make", [lambda d: callbacks.ModelCheckpoint(str(d / "b.npz"), save_best_only=True),
                                  lambda d: callbacks.EarlyStopping(),
                                  lambda d: callbacks.ModelCheckpoint(str(d / "w-{val_loss}.npz"),
                                                              save_best_only=False)])
def test_fit_refuses_a_val_key_without_validation_before_training(tmp_path, make):
    model, x, y = tiny_model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="logged only with validation data"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[make(tmp_path)])
    for w, old in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, old)
    assert os.listdir(tmp_path) == [] and model.history is None
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[make(tmp_path)])
