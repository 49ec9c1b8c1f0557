"""Bad input to a layer or the loss: a clear error naming the layer and shapes,
raised before any state changes."""
import numpy as np
import pytest

import minicnn
from minicnn import layers
from minicnn.losses import SoftmaxCrossEntropy


def f32(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("layer", [layers.Conv2D(4, 3), layers.MaxPooling2D(2)])
def test_image_layers_reject_wrong_rank(layer):
    with pytest.raises(ValueError, match=r"expects images \(H, W, C\).*\(5, 6\)"):
        layer.forward(f32(2, 5, 6))
    assert not layer.built and not layer.params


def test_dense_rejects_images_and_suggests_flatten():
    with pytest.raises(ValueError, match="Flatten"):
        layers.Dense(3).forward(f32(2, 4, 4, 1))


@pytest.mark.parametrize("make", [lambda: layers.Conv2D(4, 3), lambda: layers.BatchNormalization(),
                                  lambda: layers.MaxPooling2D(2), lambda: layers.Dropout(0.5),
                                  lambda: layers.Dense(3)])
def test_wrong_channel_count_after_build(make):
    layer = make()
    shape = (3, 6, 6, 2) if not isinstance(layer, layers.Dense) else (3, 5)
    layer.forward(f32(*shape), training=True)
    before = {k: v.copy() for k, v in {**layer.params, **layer.state}.items()}
    bad = shape[:-1] + (shape[-1] + 1,)
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}.*{bad[-1]}\)"):
        layer.forward(f32(*bad), training=True)
    for k, v in {**layer.params, **layer.state}.items():
        np.testing.assert_array_equal(v, before[k])      # nothing changed


@pytest.mark.parametrize("make", [lambda: layers.Conv2D(4, 3), lambda: layers.BatchNormalization(),
                                  lambda: layers.MaxPooling2D(2), lambda: layers.ReLU(),
                                  lambda: layers.Flatten()])
def test_integer_input_is_a_type_error(make):
    with pytest.raises(TypeError, match=r"floating-point input.*uint8.*astype"):
        make().forward(np.zeros((2, 6, 6, 1), dtype=np.uint8))


@pytest.mark.parametrize("make,shape", [(lambda: layers.Conv2D(4, 3), (0, 6, 6, 2)),
                                        (lambda: layers.MaxPooling2D(2), (0, 6, 6, 2)),
                                        (lambda: layers.BatchNormalization(), (0, 6, 6, 2)),
                                        (lambda: layers.Dense(3), (0, 5)), (lambda: layers.ReLU(), ())])
def test_an_empty_batch_is_refused_before_building(make, shape):
    layer = make()
    with pytest.raises(ValueError, match="no samples"):
        layer.forward(np.zeros(shape, np.float32), training=True)
    assert not layer.built and not layer.params


def test_backward_before_forward_and_wrong_gradient_shape():
    layer = layers.Conv2D(2, 3)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(f32(1, 3, 3, 2))
    layer.forward(f32(1, 5, 5, 1))
    with pytest.raises(ValueError, match=r"grad_out has shape \(1, 4, 4, 2\).*\(1, 3, 3, 2\)"):
        layer.backward(f32(1, 4, 4, 2))


def test_batchnorm_training_on_one_value_per_channel():
    layer = layers.BatchNormalization()
    with pytest.raises(ValueError, match="at least 2 values"):
        layer.forward(f32(1, 3), training=True)


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match="does not fit"):
        layers.Conv2D(2, 5).forward(f32(1, 4, 4, 1))


@pytest.mark.parametrize("kwargs,match", [
    (dict(filters=0, kernel_size=3), "filters"), (dict(filters=2, kernel_size=3, padding="full"), "padding"),
    (dict(filters=2, kernel_size=(3, 3, 3)), "kernel_size"),
    (dict(filters=2, kernel_size=3, activation="swish"), "activation")])
def test_bad_conv_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Conv2D(**kwargs)


@pytest.mark.parametrize("make,match", [
    (lambda: layers.MaxPooling2D(0), r"pool_size must be a positive int or a pair .*, got 0"),
    (lambda: layers.MaxPooling2D(2, strides=(2, 0)), r"strides must be .*, got \(2, 0\)"),
    (lambda: layers.MaxPooling2D((2, 2, 2)), r"pool_size must be .*, got \(2, 2, 2\)"),
    (lambda: layers.Conv2D(2, 3, strides=0), r"Conv2D: strides must be .*, got 0"),
    (lambda: layers.Conv2D(2, True), r"kernel_size must be .*, got True"),
    (lambda: layers.Dense(0), r"Dense: units must be a positive int, got 0"),
    (lambda: layers.Dense(2.0), r"Dense: units must be a positive int, got 2.0"),
], ids=["pool-0", "pool-stride-0", "pool-3d", "conv-stride-0", "conv-bool", "dense-0", "dense-float"])
def test_sizes_below_one_or_not_whole_are_refused_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_integers_are_accepted_as_sizes():
    # e.g. Dense(np.prod(shape)) or sizes read from an array
    conv = layers.Conv2D(np.int64(2), (np.int32(3), 3), strides=np.int64(1))
    pool = layers.MaxPooling2D(np.int64(2))
    dense = layers.Dense(np.int64(3))
    assert (conv.filters, conv.kernel_size, conv.strides) == (2, (3, 3), (1, 1))
    assert pool.pool_size == (2, 2) and dense.units == 3
    assert all(type(v) is int for v in (conv.filters, *conv.kernel_size, *pool.pool_size, dense.units))
    y = dense.forward(pool.forward(conv.forward(f32(1, 6, 6, 1))).reshape(1, -1))
    assert y.shape == (1, 3)


def test_bad_dropout_and_batchnorm_arguments():
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)
    with pytest.raises(ValueError, match="momentum"):
        layers.BatchNormalization(momentum=1.5)


def test_loss_rejects_labels_out_of_range_and_wrong_class_count():
    loss = SoftmaxCrossEntropy()
    logits = f32(4, 3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for 3 classes.*\[0, 3\]"):
        loss.forward(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\].*\[-1, 2\]"):
        loss.forward(logits, np.array([0, -1, 2, 2]))
    with pytest.raises(ValueError, match=r"one-hot targets of shape \(4, 10\).*3 outputs \(4, 3\)"):
        loss.forward(logits, np.eye(10, dtype=np.float32)[[0, 1, 2, 3]])
    with pytest.raises(TypeError, match="1-D labels must be integers"):
        loss.forward(logits, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="4 samples but 2 rows of targets"):
        loss.forward(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\(batch, classes\)"):
        loss.forward(f32(4), np.array([0, 1, 2, 1]))


def test_loss_matches_naive_and_is_stable():
    from tests import naive
    minicnn.set_floatx("float64")
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    loss = SoftmaxCrossEntropy()
    assert abs(float(loss.forward(logits, labels)) - naive.softmax_xent(logits, labels)) < 1e-12
    onehot = np.eye(4)[labels]
    assert abs(float(loss.forward(logits, onehot)) - naive.softmax_xent(logits, labels)) < 1e-12
    huge = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    value = float(loss.forward(huge, np.array([2])))
    assert np.isfinite(value) and abs(value - 2e4) < 1
    assert np.isfinite(loss.backward()).all()


def test_softmax_inside_the_last_layer_is_fused_at_compile():
    """Keras accepts Dense(3, activation='softmax') as the last layer (minicnn refused it
    before): the loss takes its logits (tests/test_keras_losses_metrics.py checks the numbers)."""
    from minicnn.models import Sequential
    model = Sequential([layers.Flatten(input_shape=(4, 4, 1)), layers.Dense(3, activation="softmax")])
    model.compile("categorical_crossentropy", "adam")
    assert isinstance(model.loss, SoftmaxCrossEntropy)


def test_soft_targets_must_sum_to_one():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match="sum to 1"):
        loss.forward(f32(2, 3), np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32))
