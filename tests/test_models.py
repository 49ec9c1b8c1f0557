"""Sequential end to end: parameter counts of the assignment's models, summary,
fit / evaluate / predict, training versus inference mode, weights files, data
checks, determinism and the training-loop safety nets.

Everything runs on tiny synthetic data (8x8 images, two classes) or on a few
random 28x28 images, so the whole file takes seconds on two cores.
"""
import importlib.util
import math
import os
import re

import numpy as np
import pytest

import minicnn
from minicnn import callbacks
from minicnn.datasets import IDXError, read_idx
from minicnn.fast.inference import batch_norm_affine, fold_batch_norms, with_input_affine
from minicnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from minicnn.models import Sequential
from minicnn.optimizers import SGD, Adam
from minicnn.utils import to_categorical

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "assignment4.py")

# name -> (total, trainable, non-trainable), as the assignment's Keras summaries print them
EXPECTED_PARAMS = {
    "vanilla": (49_220, 49_220, 0),
    "kernel-optimised": (10_524, 10_524, 0),
    "go-crazy": (13_880, 13_688, 192),
    "other-1": (20_010, 19_742, 268),
    "other-2": (12_664, 12_436, 228),
    "other-3": (15_958, 15_650, 308),
    "other-4": (10_844, 10_684, 160),
}


# ---- helpers ------------------------------------------------------------------
@pytest.fixture(scope="module")
def a4():
    """examples/assignment4.py, imported as a module (its main() is not run)."""
    spec = importlib.util.spec_from_file_location("_assignment4_under_test", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def halves(n=64, seed=0, noise=0.1):
    """Two separable classes of 8x8x1 images: bright left half (0) or bright right half (1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0.0, noise, size=(n, 8, 8, 1)).astype("float32")
    x[y == 0, :, :4, :] += 1.0
    x[y == 1, :, 4:, :] += 1.0
    return x, y


def small_model():
    """Conv -> pool -> dense softmax for 8x8x1 inputs and 2 classes."""
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                       MaxPooling2D(2), Flatten(), Dense(2), Activation("softmax")])


def bn_dropout_model(rate=0.5):
    """Conv + BatchNormalization + Dropout, for the training-versus-inference tests."""
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                       BatchNormalization(), Dropout(rate), Flatten(), Dense(2),
                       Activation("softmax")])


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def assert_same_weights(before, after):
    assert len(before) == len(after)
    for b, a in zip(before, after):
        assert b.shape == a.shape
        np.testing.assert_array_equal(b, a)


def cross_entropy(probs, labels):
    p = probs[np.arange(len(labels)), labels].astype(np.float64)
    return float(-np.mean(np.log(p)))


# ---- the assignment's models: counts, summary, receptive fields ---------------
def test_example_defines_the_seven_models(a4):
    assert list(a4.MODELS) == list(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_param_counts_match_the_assignment(a4, name):
    total, trainable, non_trainable = EXPECTED_PARAMS[name]
    model = a4.MODELS[name][0]()
    assert model.count_params() == total
    assert model._param_counts() == (trainable, non_trainable)
    text = summary_text(model)
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {trainable:,}" in text
    assert f"Non-trainable params: {non_trainable:,}" in text


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_last_conv_sees_the_whole_image(a4, name):
    model = a4.MODELS[name][0]()
    rfs = model.receptive_fields()
    assert len(rfs) == len(model.layers)
    last_conv = max(i for i, layer in enumerate(model.layers) if isinstance(layer, Conv2D))
    assert rfs[last_conv][0] == 28
    assert model.layers[last_conv].output_shape[:2] == (1, 1)
    flatten = next(i for i, layer in enumerate(model.layers) if isinstance(layer, Flatten))
    assert all(r is None for r, _ in rfs[flatten:])


def test_go_crazy_receptive_fields_layer_by_layer(a4):
    # r_out = r_in + (k - 1) * j_in, j_out = j_in * s; BN and Dropout are 1x1, stride 1
    rfs = [r for r, _ in a4.go_crazy().receptive_fields()]
    assert rfs == [3, 3, 3, 5, 5, 5, 5, 6, 10, 10, 10, 14, 14, 14, 18, 18, 18, 22, 22, 22,
                   28, None, None]


def test_summary_layout(a4):
    text = summary_text(a4.go_crazy())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Layer (type)"))
    assert "Output Shape" in header and "Param #" in header
    assert header.index("Layer (type)") < header.index("Output Shape") < header.index("Param #")
    first = next(line for line in lines if line.startswith("conv2d_1 ("))
    assert "(None, 26, 26, 12)" in first
    assert first.split()[-3] == "120"              # Param #, then RF and Jump
    # the column of each field lines up with its header
    assert first.index("(None, 26, 26, 12)") == header.index("Output Shape")
    assert first.index("120") == header.index("Param #")
    last_conv = next(line for line in lines if line.startswith("conv2d_8 ("))
    assert "(None, 1, 1, 10)" in last_conv and "2570" in last_conv
    assert any(line.startswith("flatten_1 (Flatten)") and "(None, 10)" in line for line in lines)


def test_summary_names_conv_layers_conv2d_like_keras(a4):
    # The assignment's Keras 2 summaries print "conv2d_1 (Conv2D)" for its
    # Convolution2D(...) calls: in Keras 2, Convolution2D is only another name of Conv2D.
    text = summary_text(a4.go_crazy())
    first = next(line for line in text.splitlines() if line.startswith("conv2d_1 "))
    assert first.startswith("conv2d_1 (Conv2D)")
    assert "(None, 26, 26, 12)" in first
    direct = summary_text(Sequential([Conv2D(12, 3, input_shape=(28, 28, 1))]))
    assert "conv2d_1 (Conv2D)" in direct


def test_layer_names_follow_keras_snake_case():
    from minicnn.layers import ReLU
    model = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), ReLU(), BatchNormalization(),
                        MaxPooling2D(2), Flatten(), Dense(2), Activation("softmax")])
    names = [line.split(" (")[0] for line in summary_text(model).splitlines()
             if " (" in line and not line.startswith(("Layer", "RF"))]
    assert names == ["conv2d_1", "re_lu_1", "batch_normalization_1", "max_pooling2d_1",
                     "flatten_1", "dense_1", "activation_1"]


# ---- fit, evaluate, predict, train_on_batch ------------------------------------
def test_fit_solves_a_tiny_separable_problem():
    minicnn.seed(0)
    x, y = halves(128, seed=1)
    model = small_model()
    model.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.01), metrics=["accuracy"])
    history = model.fit(x, to_categorical(y, 2), batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.05
    assert history.history["acc"][-1] == 1.0
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.stopped is None                        # ran all its epochs
    assert re.fullmatch(r"History\(8 epochs; last: loss 0\.0\d*, acc 1, lr 0\.01\)", repr(history))
    loss, acc = model.evaluate(x, y)
    assert acc == 1.0 and loss < 0.05


def test_train_on_batch_evaluate_predict_return_types():
    minicnn.seed(1)
    x, y = halves(32)
    model = small_model()
    model.compile(optimizer=Adam(lr=0.01), metrics=["accuracy"])
    before = model.get_weights()
    out = model.train_on_batch(x, y)
    assert isinstance(out, list) and len(out) == 2
    assert all(type(v) is float for v in out)
    assert math.isfinite(out[0]) and 0.0 <= out[1] <= 1.0
    after = model.get_weights()
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))
    ev = model.evaluate(x, y)
    assert isinstance(ev, list) and len(ev) == 2
    assert all(type(v) is float for v in ev)


def test_predict_returns_probabilities_for_an_assignment_model(a4):
    minicnn.seed(2)
    model = a4.go_crazy()
    x = np.random.default_rng(0).random((7, 28, 28, 1)).astype("float32")
    p = model.predict(x, batch_size=4)
    assert isinstance(p, np.ndarray) and p.shape == (7, 10)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


# ---- batch norm folded into the next conv for inference -------------------------
def randomize_batch_norms(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            c = layer.params["gamma"].shape[0]
            layer.params["gamma"][...] = rng.uniform(0.5, 2.0, c)
            layer.params["beta"][...] = rng.normal(0, 0.5, c)
            layer.state["moving_mean"][...] = rng.normal(0, 1, c)
            layer.state["moving_variance"][...] = rng.uniform(0.2, 3.0, c)


def layer_by_layer(model, x):
    for layer in model.layers:
        x = layer.forward(x, training=False)
    return x


def test_predict_folds_batch_norms_and_matches_the_layers(a4):
    minicnn.seed(4)
    model = a4.go_crazy()
    model.build()
    randomize_batch_norms(model, 0)
    x = np.random.default_rng(1).random((9, 28, 28, 1)).astype("float32")
    folded = fold_batch_norms(model.layers)
    kinds = [type(layer).__name__ for layer in folded]
    assert "BatchNormalization" not in kinds and "Dropout" not in kinds   # all six folded
    assert len(folded) == len(model.layers) - 6 - 6
    np.testing.assert_allclose(model.predict(x, batch_size=4), layer_by_layer(model, x),
                               rtol=1e-4, atol=1e-6)
    model.compile("categorical_crossentropy", "sgd", metrics=["accuracy"])
    y = np.arange(9) % 10
    probs = layer_by_layer(model, x)
    assert model.evaluate(x, y)[0] == pytest.approx(cross_entropy(probs, y), rel=1e-4)


def test_batch_norm_is_not_folded_across_padding_or_pooling():
    layers = [Conv2D(4, 3, input_shape=(8, 8, 1)), BatchNormalization(),
              Conv2D(4, 3, padding="same"), BatchNormalization(), MaxPooling2D(2),
              Conv2D(3, 1), BatchNormalization(), Dropout(0.3), Conv2D(2, 2), Flatten()]
    model = Sequential(layers)
    model.build()
    randomize_batch_norms(model, 1)
    folded = fold_batch_norms(model.layers)
    assert folded[1] is layers[1] and folded[3] is layers[3]   # "same" padding; then pooling
    assert folded[6] is not layers[8] and isinstance(folded[6], Conv2D)   # BN, Dropout, conv
    assert len(folded) == len(layers) - 2
    x = np.random.default_rng(2).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x), layer_by_layer(model, x), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="padding"):
        with_input_affine(layers[2], *batch_norm_affine(layers[1]))


# ---- training mode versus inference mode ----------------------------------------
def test_dropout_and_bn_only_act_in_training():
    minicnn.seed(3)
    x, y = halves(48)
    model = bn_dropout_model(0.5)
    model.compile(optimizer=Adam(lr=0.01), metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)   # moving stats away from 0 / 1

    bn = model.layers[1]
    stats = {k: v.copy() for k, v in bn.state.items()}
    first = model.evaluate(x, y)
    second = model.evaluate(x, y, batch_size=5)
    assert first == pytest.approx(second, rel=1e-5)
    assert model.evaluate(x, y) == first                  # deterministic, exactly
    p1, p2 = model.predict(x), model.predict(x)
    np.testing.assert_array_equal(p1, p2)
    assert first[0] == pytest.approx(cross_entropy(p1, y), rel=1e-4)
    assert first[1] == float(np.mean(p1.argmax(axis=1) == y))
    for key, value in stats.items():                      # inference leaves BN stats alone
        np.testing.assert_array_equal(bn.state[key], value)

    h = x
    for layer in model.layers:                            # one forward pass in training mode
        h = layer.forward(h, training=True)
    assert h.shape == p1.shape
    assert not np.allclose(h, p1, atol=1e-4)


def test_bn_moving_stats_change_in_fit_only():
    minicnn.seed(4)
    x, y = halves(48)
    model = bn_dropout_model(0.1)
    model.compile(optimizer=Adam(lr=0.01))
    bn = model.layers[1]
    start = {k: v.copy() for k, v in bn.state.items()}
    model.evaluate(x, y)
    model.predict(x)
    for key, value in start.items():
        np.testing.assert_array_equal(bn.state[key], value)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for key, value in start.items():
        assert not np.array_equal(bn.state[key], value), key


# ---- weights: order, get/set, frozen layers ----------------------------------
def conv_bn():
    return Sequential([Conv2D(3, 3, input_shape=(5, 5, 2)), BatchNormalization()])


def test_get_weights_in_keras_order():
    minicnn.seed(5)
    model = conv_bn()
    model.build()
    conv, bn = model.layers
    conv.params["bias"][...] = 1
    bn.params["gamma"][...] = 2
    bn.params["beta"][...] = 3
    bn.state["moving_mean"][...] = 4
    bn.state["moving_variance"][...] = 5
    w = model.get_weights()
    assert [a.shape for a in w] == [(3, 3, 2, 3), (3,), (3,), (3,), (3,), (3,)]
    np.testing.assert_array_equal(w[0], conv.params["kernel"])
    for value, a in zip([1, 2, 3, 4, 5], w[1:]):
        np.testing.assert_array_equal(a, np.full(3, value, dtype="float32"))
    w[1][...] = -1                                        # host copies, not the live arrays
    np.testing.assert_array_equal(conv.params["bias"], np.ones(3, dtype="float32"))


def test_set_weights_round_trip_and_shape_check():
    minicnn.seed(6)
    model = conv_bn()
    new = [np.full(a.shape, i + 0.5, dtype="float32") for i, a in enumerate(model.get_weights())]
    model.set_weights(new)
    assert_same_weights(new, model.get_weights())
    conv, bn = model.layers
    np.testing.assert_array_equal(bn.state["moving_variance"], np.full(3, 5.5, dtype="float32"))
    np.testing.assert_array_equal(conv.params["kernel"], new[0])

    bad = [w + 10 for w in new]
    bad[2] = np.zeros(4, dtype="float32")                 # gamma with the wrong shape
    with pytest.raises(ValueError, match=r"gamma.*\(3,\).*\(4,\)"):
        model.set_weights(bad)
    assert_same_weights(new, model.get_weights())         # not even the kernel before it
    with pytest.raises(ValueError, match="6 weight arrays, got 5"):
        model.set_weights(bad[:5])
    assert_same_weights(new, model.get_weights())


def test_frozen_layer_stays_fixed_and_counts_as_non_trainable():
    minicnn.seed(7)
    x, y = halves(48)
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        BatchNormalization(), Flatten(), Dense(2), Activation("softmax")])
    model.layers[0].trainable = False
    model.compile(optimizer=Adam(lr=0.01))
    conv, bn, _, dense, _ = model.layers
    frozen = {k: v.copy() for k, v in conv.params.items()}
    others = {("bn", k): v.copy() for k, v in bn.params.items()}
    others.update({("dense", k): v.copy() for k, v in dense.params.items()})
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for key, value in frozen.items():
        np.testing.assert_array_equal(conv.params[key], value)
    for (where, key), value in others.items():
        layer = bn if where == "bn" else dense
        assert not np.array_equal(layer.params[key], value), (where, key)

    total = model.count_params()
    non_trainable = 3 * 3 * 1 * 4 + 4 + 2 * 4            # frozen conv + BN moving stats
    assert model._param_counts() == (total - non_trainable, non_trainable)
    text = summary_text(model)
    assert f"Non-trainable params: {non_trainable:,}" in text
    assert f"Trainable params: {total - non_trainable:,}" in text
    assert f"Total params: {total:,}" in text


# ---- weights files -------------------------------------------------------------
def trained_bn_model(seed=8):
    minicnn.seed(seed)
    x, y = halves(32)
    model = bn_dropout_model(0.1)
    model.compile(optimizer=Adam(lr=0.01))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model, x


def test_save_load_round_trip(tmp_path):
    model, x = trained_bn_model()
    path = tmp_path / "weights.npz"
    model.save_weights(str(path))
    assert os.listdir(tmp_path) == ["weights.npz"]        # no temp file left behind
    with np.load(str(path), allow_pickle=False) as data:
        assert len(data.files) == len(model.get_weights())

    minicnn.seed(99)
    other = bn_dropout_model(0.1)
    other.load_weights(str(path))
    assert_same_weights(model.get_weights(), other.get_weights())
    np.testing.assert_array_equal(model.predict(x), other.predict(x))

    model.save_weights(str(path))                         # overwriting is atomic as well
    assert os.listdir(tmp_path) == ["weights.npz"]


def test_save_load_round_trip_before_any_build(tmp_path):
    # a freshly constructed model (first layer has input_shape) holds its initial weights
    minicnn.seed(9)
    model = small_model()
    path = tmp_path / "initial.npz"
    model.save_weights(str(path))
    other = small_model()
    other.load_weights(str(path))
    assert_same_weights(model.get_weights(), other.get_weights())


def two_convs(second_filters):
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        BatchNormalization(), Conv2D(second_filters, 3), Flatten(), Dense(2),
                        Activation("softmax")])
    model.build()
    return model


def test_load_into_a_different_architecture_names_the_first_mismatch(tmp_path):
    minicnn.seed(10)
    path = str(tmp_path / "six.npz")
    two_convs(6).save_weights(path)
    model = two_convs(5)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"conv2d_2.*kernel.*\(3, 3, 4, 6\).*\(3, 3, 4, 5\)"):
        model.load_weights(path)
    assert_same_weights(before, model.get_weights())      # layers before it untouched too


def test_load_with_fewer_layers_fails_and_changes_nothing(tmp_path):
    minicnn.seed(11)
    path = str(tmp_path / "long.npz")
    two_convs(6).save_weights(path)
    short = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        BatchNormalization()])
    with np.load(path, allow_pickle=False) as data:
        assert len(data.files) > len(short.get_weights())
    before = short.get_weights()
    with pytest.raises(ValueError, match="different architecture"):
        short.load_weights(path)
    assert_same_weights(before, short.get_weights())


def _truncated(raw):
    return raw[: len(raw) // 2]


def _flipped_in_data(raw, model):
    kernel = model.layers[0].params["kernel"].tobytes()
    at = raw.find(kernel)
    if at < 0:                                            # not stored verbatim (compressed)
        at = len(raw) // 2
    out = bytearray(raw)
    out[at + 5] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "bit-flip", "pickled"])
def test_corrupt_weights_file_raises_clearly(tmp_path, damage):
    model, x = trained_bn_model()
    path = tmp_path / "w.npz"
    model.save_weights(str(path))
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(_truncated(raw))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"this is not a weights file\n" * 20)
    elif damage == "bit-flip":
        path.write_bytes(_flipped_in_data(raw, model))
    else:
        np.savez(str(path), evil=np.array([{"a": 1}], dtype=object))
    before, probs = model.get_weights(), model.predict(x)
    with pytest.raises(ValueError, match="load_weights: " + re.escape(str(path))) as err:
        model.load_weights(str(path))
    assert "unsafely" not in str(err.value)          # numpy's hint to allow pickle is not passed on
    assert_same_weights(before, model.get_weights())
    np.testing.assert_array_equal(probs, model.predict(x))


@pytest.mark.parametrize("make", [
    lambda folder: callbacks.ModelCheckpoint(str(folder / "w.npz")),
    lambda folder: callbacks.CSVLogger(str(folder / "log.csv")),
], ids=["checkpoint", "csv"])
def test_a_callback_into_a_missing_folder_fails_before_anything_changes(tmp_path, make):
    minicnn.seed(21)
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam")
    earlier = model.fit(x, y, epochs=1, verbose=0)
    before, iterations = model.get_weights(), model.optimizer.iterations
    log_path = tmp_path / "log.csv"
    log_path.write_text("epoch,loss\n0,0.5\n")                 # an earlier run's log
    missing = tmp_path / "no-such-folder"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + ".*create it before fit"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.CSVLogger(str(log_path)), make(missing)])
    assert_same_weights(before, model.get_weights())
    assert model.optimizer.iterations == iterations
    assert model.history is earlier                              # not replaced
    assert log_path.read_text() == "epoch,loss\n0,0.5\n"         # not truncated


def test_any_object_with_the_hooks_is_a_callback():
    class Counter:                                   # Keras-style duck typing, no base class
        epochs = 0

        def set_model(self, model):
            pass

        def on_train_begin(self, logs=None):
            pass

        def on_epoch_begin(self, epoch, logs=None):
            pass

        def on_batch_end(self, batch, logs=None):
            pass

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

        def on_train_end(self, logs=None):
            pass
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam")
    counter = Counter()
    model.fit(x, y, epochs=2, verbose=0, callbacks=(counter,))
    assert counter.epochs == 2


def test_validation_split_holds_out_the_last_samples_as_keras_does():
    x, y = halves(40)

    def run(**kwargs):
        minicnn.seed(23)
        model = small_model()
        model.compile(optimizer="adam", metrics=["accuracy"])
        xs, ys = (x, y) if "validation_split" in kwargs else (x[:30], y[:30])
        history = model.fit(xs, ys, batch_size=8, epochs=2, verbose=0, **kwargs)
        return history.history, model.get_weights()
    h_split, w_split = run(validation_split=0.25)                 # 40 * 0.75 = 30 for training
    h_data, w_data = run(validation_data=(x[30:], y[30:]))
    assert h_split == h_data and "val_acc" in h_split
    assert_same_weights(w_data, w_split)


@pytest.mark.parametrize("kwargs,message", [
    (dict(validation_split=1.0), r"validation_split must be in \[0, 1\), got 1.0"),
    (dict(validation_split="0.1"), r"validation_split must be in \[0, 1\)"),
    (dict(validation_split=0.99), "leaves no training or no validation samples"),
    (dict(validation_split=0.1, validation_data=halves(8)), "not both"),
], ids=["one", "string", "too-small", "both"])
def test_bad_validation_split_is_refused(kwargs, message):
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, epochs=1, verbose=0, **kwargs)
    assert model.optimizer.iterations == 0


def test_validation_data_with_a_none_third_item_is_keras_compatible():
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, None))
    assert "val_acc" in history.history
    # Keras 2.2 takes validation sample weights as the third item (minicnn refused them before)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, np.ones(16)))
    assert "val_acc" in history.history
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(16,\)"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, np.ones(3)))


@pytest.mark.parametrize("callbacks,message", [
    (callbacks.History(), "callbacks must be a list of callbacks, got History"),
    (["csv"], "'csv' is not a callback (it has no set_model)"),
    ("csv", "callbacks must be a list of callbacks, got str"),
], ids=["not-a-list", "not-a-callback", "a-string"])
def test_callbacks_that_are_not_callbacks_are_refused(callbacks, message):
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam")
    with pytest.raises(TypeError, match=re.escape(message)):
        model.fit(x, y, epochs=1, verbose=0, callbacks=callbacks)


def test_save_into_a_missing_folder_names_the_folder(tmp_path):
    model, _ = trained_bn_model()
    missing = tmp_path / "not-made-yet"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + ".*create it first"):
        model.save_weights(str(missing / "w.npz"))


def test_missing_weights_file_raises_file_not_found(tmp_path):
    model = small_model()
    with pytest.raises(FileNotFoundError):
        model.load_weights(str(tmp_path / "nope.npz"))


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model, _ = trained_bn_model()
    path = tmp_path / "w.npz"
    model.save_weights(str(path))
    good = path.read_bytes()

    def broken_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")              # some bytes, then the disk is "full"
        raise OSError("simulated: no space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    model.layers[0].params["kernel"][...] += 1.0          # different weights to (fail to) save
    with pytest.raises(OSError, match="simulated"):
        model.save_weights(str(path))
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["w.npz"]              # the temp file was removed
    fresh = bn_dropout_model(0.1)
    fresh.load_weights(str(path))


# ---- IDX files --------------------------------------------------------------------
def test_truncated_idx_file_raises_idx_error_naming_it(tmp_path):
    path = tmp_path / "broken-images-idx3-ubyte"
    header = bytes([0, 0, 0x08, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path.write_bytes(header + bytes(100))
    with pytest.raises(IDXError, match=re.escape(str(path)) + ".*truncated"):
        read_idx(str(path))
    assert issubclass(IDXError, ValueError)


def test_corrupt_gzip_idx_file_raises_idx_error_naming_it(tmp_path):
    path = tmp_path / "broken-labels-idx1-ubyte.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00not gzip data" * 4)
    with pytest.raises(IDXError, match=re.escape(str(path))):
        read_idx(str(path))


# ---- determinism --------------------------------------------------------------------
def seeded_run(seed):
    minicnn.seed(seed)
    x, y = halves(48, seed=3)
    xv, yv = halves(16, seed=4)
    model = bn_dropout_model(0.5)
    model.compile(optimizer=Adam(lr=0.01))
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_data=(xv, yv))
    return history.history, model.get_weights()


def test_same_seed_same_history():
    h1, w1 = seeded_run(7)
    h2, w2 = seeded_run(7)
    assert h1 == h2
    assert_same_weights(w1, w2)
    h3, _ = seeded_run(8)
    assert h3 != h1


def test_validation_and_predict_leave_the_training_randomness_alone():
    """Folding a batch norm into the next Conv2D for inference draws no random numbers,
    so validating every epoch or predicting between fits trains the same weights."""
    def run(validate, predict_between):
        minicnn.seed(5)
        x, y = halves(48, seed=3)
        model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                            BatchNormalization(), Conv2D(3, 3), Flatten(), Dense(2),
                            Activation("softmax")])   # the batch norm folds into Conv2D(3, 3)
        model.compile(optimizer=Adam(lr=0.01))
        extra = {"validation_data": halves(16, seed=4)} if validate else {}
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, **extra)
        if predict_between:
            model.predict(x[:8])
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        return model.get_weights()
    plain = run(False, False)
    assert_same_weights(plain, run(True, False))
    assert_same_weights(plain, run(False, True))


# ---- data checks on entry --------------------------------------------------------------
def _bad_shape(x, y):
    return x[..., 0], y, {}


def _bad_size(x, y):
    return np.zeros((len(x), 9, 8, 1), "float32"), y, {}


def _uint8(x, y):
    return (x * 255).clip(0, 255).astype(np.uint8), y, {}


def _nan(x, y):
    x = x.copy()
    x[-1, 3, 3, 0] = np.nan
    return x, y, {}


def _inf(x, y):
    x = x.copy()
    x[5, 0, 0, 0] = np.inf
    return x, y, {}


def _label_too_big(x, y):
    y = y.copy()
    y[-1] = 2
    return x, y, {}


def _label_negative(x, y):
    y = y.copy()
    y[0] = -1
    return x, y, {}


def _one_hot_three(x, y):
    return x, to_categorical(y, 3), {}


def _short_y(x, y):
    return x, y[:-1], {}


def _val_nan(x, y):
    xv = x[:8].copy()
    xv[0, 0, 0, 0] = np.nan
    return x, y, {"validation_data": (xv, y[:8])}


def _val_short(x, y):
    return x, y, {"validation_data": (x[:8], y[:7])}


def _val_single(x, y):
    return x, y, {"validation_data": (x[:8],)}


def _epochs_float(x, y):
    return x, y, {"epochs": 1.5}


@pytest.mark.parametrize("corrupt, error, message", [
    (_bad_shape, ValueError, r"shape \(samples, 8, 8, 1\).*got \(32, 8, 8\)"),
    (_bad_size, ValueError, r"shape.*got \(32, 9, 8, 1\)"),
    (_uint8, TypeError, "dtype uint8"),
    (_nan, ValueError, "NaN"),
    (_inf, ValueError, "inf"),
    (_label_too_big, ValueError, r"labels must be in \[0, 1\].*\[0, 2\]"),
    (_label_negative, ValueError, r"labels must be in \[0, 1\].*\[-1, 1\]"),
    (_one_hot_three, ValueError, "3 classes.*2 outputs"),
    (_short_y, ValueError, "32 samples.*31"),
    (_val_nan, ValueError, r"validation_data.*NaN"),
    (_val_short, ValueError, r"validation_data.*8 samples"),
    (_val_single, ValueError, r"validation_data must be a pair \(x_val, y_val\)"),
    (_epochs_float, ValueError, r"epochs must be an int >= 0, got 1.5"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_bad_data_is_rejected_before_any_training(corrupt, error, message):
    minicnn.seed(12)
    x, y = halves(32)
    model = bn_dropout_model()
    model.compile(optimizer=Adam(lr=0.01))
    before = model.get_weights()
    bx, by, kwargs = corrupt(x, y)
    with pytest.raises(error, match=message):
        model.fit(bx, by, **{"batch_size": 8, "epochs": 1, "verbose": 0, **kwargs})
    assert_same_weights(before, model.get_weights())
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize("corrupt, error, message", [
    (_nan, ValueError, "train_on_batch.*NaN"),
    (_label_too_big, ValueError, r"train_on_batch.*labels must be in \[0, 1\]"),
    (_uint8, TypeError, "train_on_batch.*uint8"),
], ids=["nan", "label", "uint8"])
def test_train_on_batch_checks_data_first(corrupt, error, message):
    minicnn.seed(13)
    x, y = halves(16)
    model = bn_dropout_model()
    model.compile(optimizer=SGD(lr=0.1))
    before = model.get_weights()
    bx, by, _ = corrupt(x, y)
    with pytest.raises(error, match=message):
        model.train_on_batch(bx, by)
    assert_same_weights(before, model.get_weights())


def test_labels_as_a_python_list_train_like_an_array():
    # Keras takes plain lists of labels; so does fit, with the same result as an array.
    def run(labels):
        minicnn.seed(19)
        model = small_model()
        model.compile(optimizer="adam")
        history = model.fit(x, labels, batch_size=8, epochs=1, verbose=0)
        return history.history, model.get_weights()
    x, y = halves(16)
    h_list, w_list = run([int(v) for v in y])
    h_array, w_array = run(y)
    assert h_list == h_array
    assert_same_weights(w_array, w_list)


def test_x_that_is_not_an_array_is_rejected_with_the_fix():
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam")
    with pytest.raises(TypeError, match=r"x must be an array.*got list.*np\.asarray"):
        model.fit(x.tolist(), y, verbose=0)


def test_compile_takes_the_loss_by_name_class_alias_or_object():
    from minicnn import losses
    for loss in ("categorical_crossentropy", losses.categorical_crossentropy,
                 losses.SoftmaxCrossEntropy, losses.SoftmaxCrossEntropy()):
        model = small_model()
        model.compile(loss=loss, optimizer="sgd")
        assert isinstance(model.loss, losses.SoftmaxCrossEntropy)
    with pytest.raises(ValueError, match="Unknown loss 'msee'"):
        small_model().compile(loss="msee")


def test_sequential_takes_only_layers():
    with pytest.raises(TypeError, match="Sequential: expected a layer .*got str 'relu'"):
        Sequential([Flatten(input_shape=(8, 8, 1)), "relu"])


def test_failed_compile_changes_nothing():
    """A bad argument to compile() is refused before the model is touched, so a
    model that was never compiled still says so instead of failing inside fit."""
    model = small_model()
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile(optimizer="adam", metrics=["f1_score"])
    assert not model.layers[0].built                 # no initial weights drawn either
    with pytest.raises(ValueError, match="compile: the model has no layers"):
        Sequential().compile()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(*halves(16), verbose=0)
    per_class_images = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1))])
    with pytest.raises(ValueError, match="needs one score per class"):
        per_class_images.compile(optimizer="sgd")
    assert per_class_images.optimizer is None


def test_evaluate_and_predict_check_data():
    minicnn.seed(14)
    x, y = halves(16)
    model = small_model()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"evaluate.*labels must be in"):
        model.evaluate(x, y + 1)
    with pytest.raises(ValueError, match=r"predict.*shape"):
        model.predict(x[:, :7])


# ---- the training loop's safety nets and logging ----------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_training_and_keeps_the_checkpoint(tmp_path, capsys):
    minicnn.seed(15)
    x, y = halves(64)
    model = small_model()
    model.compile(optimizer=SGD(lr=0.01))
    ckpt = str(tmp_path / "best.npz")
    explode = callbacks.LearningRateScheduler(lambda epoch: 0.01 if epoch == 0 else 1e30)
    keep = callbacks.ModelCheckpoint(ckpt, monitor="loss", save_best_only=True, save_weights_only=True)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[explode, keep])
    err = capsys.readouterr().err
    assert re.search(r"NaN or inf at epoch 2, batch \d+", err), err
    assert "stopped" in err
    assert history.stopped == ("non-finite loss at " + re.search(r"epoch 2, batch \d+", err)[0]
                               + "; the weights from before it are restored")
    assert "from the start of epoch 2 are back in the model" in err
    assert history.epoch == [0]                           # fewer epochs than the 4 requested
    assert len(history.history["loss"]) == 1 and math.isfinite(history.history["loss"][0])

    assert os.path.exists(ckpt)
    restored = small_model()
    restored.load_weights(ckpt)
    assert all(np.isfinite(w).all() for w in restored.get_weights())
    p = restored.predict(x)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # the model itself is back where epoch 1 left it, the checkpoint's weights, and
    # so is its optimizer (4 steps of 16 images; the moments as they were then)
    for mine, saved in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(mine, saved)
    assert model.optimizer.iterations == 4


def test_an_epoch_that_leaves_non_finite_weights_is_undone(capsys):
    """A finite loss but a NaN weight after the last step (found at the end of the
    epoch): the epoch's weights and Adam's moments and step count are put back."""
    minicnn.seed(17)
    x, y = halves(32)
    model = small_model()
    model.compile(optimizer=Adam(lr=0.01))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before, state = model.get_weights(), model.optimizer.get_state()

    class Poison(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1:                                # the epoch's last batch
                model.layers[0].params["kernel"][0, 0, 0, 0] = np.nan
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[Poison()])
    assert "at epoch 1 (found at the end of the epoch)" in capsys.readouterr().err
    assert history.epoch == [] and history.stopped.startswith("non-finite loss at epoch 1")
    for mine, old in zip(model.get_weights(), before):
        np.testing.assert_array_equal(mine, old)
    assert model.optimizer.iterations == state[0] == 2
    for i, slots in state[1].items():
        for now, then in zip(model.optimizer._slots[i], slots):
            np.testing.assert_array_equal(now, then)


def test_lr_scheduler_follows_the_assignment_schedule(a4):
    minicnn.seed(16)
    x, y = halves(32)
    model = small_model()
    model.compile(optimizer=Adam(lr=0.003))
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0,
                        callbacks=[callbacks.LearningRateScheduler(a4.inverse_time)])
    expected = [round(0.003 / (1 + 0.319 * e), 10) for e in range(4)]
    assert history.history["lr"] == expected
    assert history.history["lr"][:2] == [0.003, 0.0022744503]


def test_verbose_2_prints_one_metrics_line_per_epoch(capsys):
    minicnn.seed(17)
    x, y = halves(32)
    model = small_model()
    model.compile(optimizer=Adam(lr=0.01), metrics=["accuracy"])
    capsys.readouterr()
    model.fit(x, y, batch_size=16, epochs=3, verbose=2, validation_data=(x[:8], y[:8]))
    out = capsys.readouterr().out
    metric_lines = [line for line in out.splitlines() if "loss:" in line]
    assert len(metric_lines) == 3
    pattern = (r"loss: \d+\.\d{4} - acc: \d\.\d{4} - val_loss: \d+\.\d{4} - "
               r"val_acc: \d\.\d{4}")
    for line in metric_lines:
        assert re.search(pattern, line), line
    assert "\r" not in out                                # no progress bar


def test_verbose_0_prints_nothing(capsys):
    minicnn.seed(18)
    x, y = halves(32)
    model = small_model()
    model.compile(optimizer=Adam(lr=0.01))
    capsys.readouterr()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x[:8], y[:8]))
    model.evaluate(x, y, verbose=0)                     # (verbose=1 is Keras' default)
    model.predict(x)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ---- to_categorical ---------------------------------------------------------------
def test_to_categorical_values():
    out = to_categorical(np.array([2, 0, 1, 2]), 3)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(to_categorical([1, 3]), [[0, 1, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(to_categorical(np.array([1.0, 0.0]), 2), [[0, 1], [1, 0]])


def test_to_categorical_rejects_bad_labels():
    with pytest.raises(ValueError, match=">= 0"):
        to_categorical(np.array([0, -1, 2]), 3)
    with pytest.raises(ValueError, match=r"label 3 does not fit 3 classes"):
        to_categorical(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="integers"):
        to_categorical(np.array([0.5, 1.0]), 2)


def test_progress_bar_on_a_terminal(monkeypatch, capsys):
    """verbose=1 on a terminal: a tqdm bar per epoch with running loss and accuracy."""
    pytest.importorskip("tqdm")   # a dependency of minicnn: installed wherever minicnn is
    from minicnn.model import loops
    monkeypatch.setattr(loops, "is_terminal", lambda: True)
    minicnn.seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(),
                        Dense(3), Activation("softmax")])
    model.compile("categorical_crossentropy", "adam", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=2, verbose=1, validation_data=(x, y))
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "4/4" in out                         # the bar counted every batch
    assert "loss: " in out and "acc: " in out   # running metrics in the bar
    assert out.count("val_acc: ") == 2          # one epoch line each
