"""The model API of Keras 2.2's Sequential: shapes with a None batch axis, get_layer,
pop, layer get_weights/set_weights, predict_classes/predict_proba, configs and JSON,
whole-model files (save, load_model: training goes on where it stopped), and the
callbacks' Keras 2.2 defaults (ModelCheckpoint, EarlyStopping, TensorBoard)."""
import json
import os
import types

import numpy as np
import pytest

import minicnn
from minicnn import callbacks, losses
from minicnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from minicnn.models import Sequential, load_model, model_from_json
from minicnn.optimizers import SGD, Adam


def cnn(seed=0):
    minicnn.seed(seed)
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), BatchNormalization(),
                       MaxPooling2D(2), Dropout(0.25), Flatten(), Dense(3, activation="softmax")])


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1)).astype("float32"), rng.integers(0, 3, n)


# ---- shapes, layers, weights -----------------------------------------------------------
def test_shapes_carry_keras_none_batch_axis():
    model = cnn()
    assert model.input_shape == (None, 8, 8, 1)
    assert model.output_shape == (None, 3)
    assert Sequential().input_shape is None
    model.compile(optimizer="sgd")                 # compile and fit use the per-sample shapes
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    rebuilt = Sequential([Flatten(), Dense(2)])
    assert rebuilt.build((None, 3, 3, 1)) == (2,)  # Keras' build(batch shape) is taken too


def test_get_layer_by_name_or_index():
    model = cnn()
    assert model.get_layer("max_pooling2d_1") is model.layers[2]
    assert model.get_layer(index=-1) is model.layers[-1]
    assert model.get_layer(name="ignored", index=0) is model.layers[0]     # index first, as Keras
    with pytest.raises(ValueError, match="no layer named 'conv9'.*conv2d_1"):
        model.get_layer("conv9")
    with pytest.raises(ValueError, match="index 6, but the model has 6 layers"):
        model.get_layer(index=6)
    with pytest.raises(ValueError, match="give a layer name or an index"):
        model.get_layer()


def test_pop_removes_the_last_layer_and_asks_for_compile_again():
    model = cnn()
    model.compile(optimizer="sgd")
    model.pop()
    assert model.output_shape == (None, 36) and len(model.layers) == 5
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(*data(), verbose=0)
    model.add(Dense(2))
    model.add(Activation("softmax"))
    model.compile(optimizer="sgd")
    model.fit(data()[0], data()[1] % 2, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="no layers"):
        Sequential().pop()


def test_layer_weights_in_keras_order_set_in_place():
    model = cnn()
    model.build()
    norm = model.layers[1]
    names = ["gamma", "beta", "moving_mean", "moving_variance"]
    weights = norm.get_weights()
    assert [w.shape for w in weights] == [(4,)] * 4
    for got, key in zip(weights, names):
        group = norm.params if key in norm.params else norm.state
        np.testing.assert_array_equal(got, group[key])
    arrays = [norm.params["gamma"], norm.state["moving_variance"]]
    new = [w + i + 1.0 for i, w in enumerate(weights)]
    norm.set_weights(new)
    assert norm.params["gamma"] is arrays[0] and norm.state["moving_variance"] is arrays[1]
    for got, want in zip(norm.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    kernel, bias = model.layers[0].get_weights()
    assert kernel.shape == (3, 3, 1, 4) and bias.shape == (4,)
    with pytest.raises(ValueError, match=r"expects 2 arrays \(kernel, bias\), got 1"):
        model.layers[0].set_weights([kernel])
    with pytest.raises(ValueError, match=r"kernel has shape \(3, 3, 1, 4\), got \(3, 3, 1, 5\)"):
        model.layers[0].set_weights([np.zeros((3, 3, 1, 5)), bias])
    with pytest.raises(ValueError, match="finite real numbers"):
        model.layers[0].set_weights([kernel * np.nan, bias])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], kernel)   # unchanged
    assert Dense(3).get_weights() == []


def test_trainable_and_non_trainable_weights():
    model = cnn()
    model.layers[-1].trainable = False
    assert len(model.trainable_weights) == 4          # conv kernel, bias; gamma, beta
    assert len(model.non_trainable_weights) == 4      # dense kernel, bias; moving statistics
    total = sum(w.size for w in model.trainable_weights + model.non_trainable_weights)
    assert total == model.count_params()


def test_predict_classes_and_predict_proba():
    model = cnn()
    model.compile(optimizer="sgd")
    x, _ = data(10)
    probabilities = model.predict_proba(x)
    np.testing.assert_array_equal(model.predict_classes(x), probabilities.argmax(axis=1))
    minicnn.seed(1)
    raw = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(1)])
    raw.build()
    raw.set_weights([np.full((64, 1), 5.0), np.zeros(1)])
    with pytest.warns(UserWarning, match="not all in \\[0, 1\\]"):
        raw.predict_proba(x)
    classes = raw.predict_classes(x)
    assert classes.shape == (10, 1) and classes.dtype == np.int32 and (classes == 1).all()


# ---- configs and JSON -----------------------------------------------------------------------
def test_to_json_and_model_from_json_rebuild_the_architecture():
    model = cnn()
    model.layers[0].trainable = False
    text = model.to_json()
    config = json.loads(text)
    assert config["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in config["config"]["layers"]] == [
        "Conv2D", "BatchNormalization", "MaxPooling2D", "Dropout", "Flatten", "Dense"]
    assert config["config"]["layers"][0]["config"]["input_shape"] == [8, 8, 1]
    assert model.get_config() == config["config"]
    twin = model_from_json(text)
    assert [layer.name for layer in twin.layers] == [layer.name for layer in model.layers]
    assert twin.layers[0].trainable is False and twin.count_params() == model.count_params()
    twin.set_weights(model.get_weights())
    x, _ = data(5)
    np.testing.assert_allclose(twin.predict(x), model.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown layer class 'Conv9D'.*custom_objects"):
        model_from_json(text.replace('"Conv2D"', '"Conv9D"'))


# ---- whole-model files ------------------------------------------------------------------------
def test_load_model_resumes_training_where_it_stopped(tmp_path):
    """The next step after load_model equals the next step of the model that was saved:
    same weights, same Adam moments and step count, same loss, metrics and learning rate."""
    x, y = data(32)
    model = cnn()
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(lr=0.01),
                  metrics=["accuracy", "mae"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    model.optimizer.lr = 0.005                                  # as a schedule might have left it
    path = str(tmp_path / "model.npz")
    model.save(path)
    loaded = load_model(path)
    assert loaded.metrics_names == model.metrics_names == ["loss", "acc", "mean_absolute_error"]
    assert type(loaded.optimizer) is type(model.optimizer) and loaded.optimizer.lr == 0.005
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert type(loaded.loss) is losses.SoftmaxCrossEntropy
    assert loaded.training_config["loss"] == "sparse_categorical_crossentropy"
    minicnn.seed(42)                                            # the same dropout mask for both
    after_saved = model.train_on_batch(x[:8], y[:8])
    minicnn.seed(42)
    after_loaded = loaded.train_on_batch(x[:8], y[:8])
    assert after_loaded == after_saved
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_file_is_read_without_pickle_and_keeps_frozen_layers(tmp_path):
    model = cnn()
    model.layers[0].trainable = False
    path = tmp_path / "frozen.npz"
    model.save(path)                                            # not compiled: no optimizer
    with np.load(path, allow_pickle=False) as archive:
        names = set(archive.files)
        assert "model_config" in names and "training_config" not in names
        assert all(archive[name].dtype != object for name in names)
    loaded = load_model(path)
    assert loaded.layers[0].trainable is False and loaded.optimizer is None
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_hdf5_names_and_weights_only_files_are_explained(tmp_path):
    model = cnn()
    model.compile(optimizer="sgd")
    for call in (lambda: model.save(str(tmp_path / "m.h5")),
                 lambda: load_model(str(tmp_path / "m.h5")),
                 lambda: model.save_weights(str(tmp_path / "w.hdf5")),
                 lambda: model.load_weights(str(tmp_path / "w.h5"))):
        with pytest.raises(ValueError, match=r"HDF5 file; minicnn writes its own \.npz format.*'(m|w)\.npz'"):
            call()
    weights = str(tmp_path / "weights.npz")
    model.save_weights(weights)
    with pytest.raises(ValueError, match="holds weights only.*load_weights"):
        load_model(weights)
    assert os.listdir(tmp_path) == ["weights.npz"]


# ---- callbacks -------------------------------------------------------------------------------
def test_model_checkpoint_keras_defaults_save_the_whole_model_every_epoch(tmp_path):
    x, y = data()
    model = cnn()
    model.compile(optimizer=SGD(lr=0.05), metrics=["accuracy"])
    every = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}.npz"))
    assert (every.monitor, every.save_best_only, every.save_weights_only, every.period) == (
        "val_loss", False, False, 1)
    weights_only = callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}.npz"), save_weights_only=True,
                                             period=2)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[every, weights_only])    # no validation needed
    assert sorted(os.listdir(tmp_path)) == ["m-01.npz", "m-02.npz", "m-03.npz", "w-2.npz"]
    last = load_model(str(tmp_path / "m-03.npz"))
    for a, b in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    at_two = cnn()
    at_two.load_weights(str(tmp_path / "w-2.npz"))
    with pytest.raises(ValueError, match="HDF5"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "w.{epoch:02d}.hdf5"))])


def test_early_stopping_baseline_must_be_beaten():
    x, y = data()
    model = cnn()
    model.compile(optimizer=SGD(lr=0.01))
    stop = callbacks.EarlyStopping(monitor="loss", baseline=0.0, patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[stop])
    assert history.epoch == [0] and stop.stopped_epoch == 0 and stop.best_weights is None
    reachable = callbacks.EarlyStopping(monitor="loss", baseline=100.0, patience=5)
    assert len(model.fit(x, y, epochs=3, verbose=0, callbacks=[reachable]).epoch) == 3
    with pytest.raises(ValueError, match="baseline must be a finite number"):
        callbacks.EarlyStopping(baseline="0.5")


def test_tensorboard_names_the_alternative_and_lambda_callback_runs():
    with pytest.raises(NotImplementedError, match=r"TensorBoard: .*CSVLogger"):
        callbacks.TensorBoard(log_dir="./logs")
    seen = []
    lam = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, sorted(logs))),
                                   on_train_begin=lambda logs: seen.append("begin"))
    model = cnn()
    model.compile(optimizer="sgd")
    model.fit(*data(), epochs=2, verbose=0, callbacks=[lam, callbacks.TerminateOnNaN()])
    assert seen == ["begin", (0, ["loss", "lr"]), (1, ["loss", "lr"])]


def test_reduce_lr_on_plateau_takes_keras_arguments_in_keras_order():
    # Keras 2.2's order: monitor, factor, patience, verbose, mode, min_delta, cooldown, min_lr
    plateau = callbacks.ReduceLROnPlateau("loss", 0.5, 1, 0, "auto", 0.0, 2, 0.0)
    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(lr=1.0))
    plateau.set_model(model)
    plateau.on_train_begin()
    lrs = []
    for epoch in range(6):
        plateau.on_epoch_end(epoch, {"loss": 1.0})
        lrs.append(model.optimizer.lr)
    # epoch 1 reduces and starts a cooldown of 2, counted down from the next epoch on, as
    # Keras counts it: epoch 2 is skipped, epoch 3 may reduce again
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    with pytest.warns(UserWarning, match="epsilon is Keras' old name for min_delta"):
        assert callbacks.ReduceLROnPlateau(epsilon=0.01)._best.min_delta == 0.01


def test_compile_takes_keras_order_and_refuses_what_it_cannot_do():
    model = cnn()
    model.compile("adam", "mse", ["mae"])                        # Keras: compile(optimizer, loss, metrics)
    assert type(model.optimizer) is Adam and type(model.loss) is losses.MeanSquaredError
    assert model.metrics_names == ["loss", "mean_absolute_error"] and model.metrics == ["mae"]
    with pytest.raises(ValueError, match="loss_weights weighs the losses of a model with several"):
        cnn().compile(optimizer="sgd", loss_weights=[1.0])
    with pytest.raises(ValueError, match="sample_weight_mode='temporal'"):
        cnn().compile(optimizer="sgd", sample_weight_mode="temporal")
    with pytest.raises(ValueError, match="Unknown loss 'adamw'"):
        cnn().compile("adamw", "sgd")
