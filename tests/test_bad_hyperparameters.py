"""Bad hyper-parameters (callbacks, schedules, Dropout, to_categorical, a layer's
input_shape): a clear error that names the argument and what it should be, raised
when the object is made, not at the first epoch; NumPy ints count as ints."""
import math

import numpy as np
import pytest

from minicnn import callbacks, layers
from minicnn import schedules as S
from minicnn.utils import to_categorical


# ---- callbacks and Dropout ----------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda: callbacks.EarlyStopping(patience="3"), ValueError,
     r"EarlyStopping: patience must be an int >= 0 \(epochs to wait.*'3'"),
    (lambda: callbacks.EarlyStopping(patience=1.5), ValueError, r"patience must be an int >= 0.*1\.5"),
    (lambda: callbacks.EarlyStopping(min_delta="0.1"), ValueError, r"min_delta must be a finite number"),
    (lambda: callbacks.EarlyStopping(monitor=None), TypeError, r"monitor must be the name of a logs key"),
    (lambda: callbacks.ReduceLROnPlateau(factor="0.5"), ValueError, r"factor must be a number in \(0, 1\)"),
    (lambda: callbacks.ReduceLROnPlateau(patience=-1), ValueError, r"ReduceLROnPlateau: patience must"),
    (lambda: callbacks.ReduceLROnPlateau(min_lr=float("nan")), ValueError, r"min_lr must be a finite"),
    (lambda: callbacks.ModelCheckpoint(None), TypeError, r"ModelCheckpoint: filepath must be a file path"),
    (lambda: callbacks.ModelCheckpoint("w.npz", monitor=3), TypeError, r"monitor must be the name"),
    (lambda: callbacks.CSVLogger(None), TypeError, r"CSVLogger: filename must be a file path"),
    (lambda: callbacks.CSVLogger("log.csv", separator="::"), ValueError, r"separator must be one char"),
    (lambda: layers.Dropout("0.5"), ValueError, r"Dropout: rate must be a number in \[0, 1\).*'0\.5'"),
    (lambda: layers.Dropout(float("nan")), ValueError, r"Dropout: rate must be a number in \[0, 1\)"),
    (lambda: layers.Dropout(True), ValueError, r"Dropout: rate must be a number in \[0, 1\)"),
])
def test_callback_and_dropout_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_scheduler_refuses_a_function_it_cannot_call():
    with pytest.raises(TypeError, match=r"schedule\(a, b, c\) cannot be called as "
                                        r"schedule\(epoch, lr\) or schedule\(epoch\)"):
        callbacks.LearningRateScheduler(lambda a, b, c: 0.1)
    with pytest.raises(TypeError, match="cannot be called"):
        callbacks.LearningRateScheduler(lambda: 0.1)
    with pytest.raises(TypeError, match="cannot be called"):
        callbacks.LearningRateScheduler(lambda *, epoch: 0.1)
    assert callbacks.LearningRateScheduler(lambda epoch, lr=None, extra=1: 0.1)._takes_lr
    assert not callbacks.LearningRateScheduler(lambda epoch, *, scale=1: 0.1)._takes_lr


# ---- schedules ---------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: S.step_decay(0.1, "0.5", 1), r"step_decay: drop must be a number in \(0, 1\]"),
    (lambda: S.step_decay(0.1, 0.5, 2.0), r"step_decay: every must be an int >= 1"),
    (lambda: S.exponential_decay(0.1, None), r"exponential_decay: rate must be a number"),
    (lambda: S.cosine_decay(0.1, "10"), r"cosine_decay: epochs must be an int >= 1"),
    (lambda: S.one_cycle(0.1, 10, pct_start="0.3"), r"one_cycle: pct_start must be a number"),
    (lambda: S.inverse_time_decay(0.1, 0.1, decimals="x"), r"decimals must be an int >= 0"),
    (lambda: S.inverse_time_decay(0.1, 0.1, decimals=-1), r"decimals must be an int >= 0"),
    (lambda: S.inverse_time_decay(0.1, 0.1, decimals=2.5), r"decimals must be an int >= 0"),
    (lambda: S.inverse_time_decay(True, 0.1), r"lr0 must be a finite number > 0"),
])
def test_schedule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("epoch", [math.nan, math.inf, None, "3", -1, 1.5, True])
def test_schedule_epoch_must_be_a_whole_number(epoch):
    with pytest.raises(ValueError, match=r"epoch must be a whole number >= 0 \(0 for the first"):
        S.step_decay(0.1, 0.5, 1)(epoch)


def test_schedules_take_numpy_ints():
    assert S.cosine_decay(0.1, np.int64(10))(np.int64(0)) == pytest.approx(0.1)
    assert S.one_cycle(0.1, np.int32(10)).epochs == 10
    assert type(S.step_decay(0.1, 0.5, np.int64(2)).every) is int
    assert S.inverse_time_decay(0.003, 0.319, decimals=np.int64(4))(1) == 0.0023


# ---- to_categorical ------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [-1, 0, 2.5, "3", True])
def test_to_categorical_num_classes(num_classes):
    with pytest.raises(ValueError, match=r"to_categorical: num_classes must be a positive int "
                                         r"\(how many classes.*or None"):
        to_categorical([1], num_classes)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        to_categorical([], num_classes)


def test_to_categorical_numpy_int_and_too_few_classes():
    np.testing.assert_array_equal(to_categorical([1], np.int64(3)), [[0, 1, 0]])
    with pytest.raises(ValueError, match=r"label 3 does not fit 3 classes \(labels 0 \.\. 2\); "
                                         r"pass num_classes=4 or more"):
        to_categorical([0, 3], 3)


# ---- a layer's input_shape -----------------------------------------------------
@pytest.mark.parametrize("make, shown", [
    (lambda: layers.Conv2D(4, 3, input_shape=(8.5, 8, 1)), r"\(8\.5, 8, 1\)"),
    (lambda: layers.Conv2D(4, 3, input_shape=(8, 8, 0)), r"\(8, 8, 0\)"),
    (lambda: layers.Dense(3, input_shape=(0,)), r"\(0,\)"),
    (lambda: layers.Dense(3, input_shape=()), r"\(\)"),
    (lambda: layers.Flatten(input_shape="28,28,1"), r"'28,28,1'"),
    (lambda: layers.Flatten(input_shape=(28, True)), r"\(28, True\)"),
])
def test_input_shape_must_be_positive_ints(make, shown):
    with pytest.raises(ValueError, match=r": input_shape must be a tuple of positive ints such "
                                         r"as \(28, 28, 1\) \(no batch axis\), got " + shown):
        make()


def test_input_shape_of_one_int_suggests_a_tuple():
    with pytest.raises(ValueError, match=r"Dense 'fc': input_shape .* got 28; for one axis "
                                         r"write \(28,\)"):
        layers.Dense(3, input_shape=28, name="fc")


def test_input_shape_lists_and_numpy_ints_become_a_tuple_of_ints():
    layer = layers.Conv2D(4, 3, input_shape=[np.int64(8), 8, 1])
    assert layer.input_shape == (8, 8, 1)
    assert all(type(d) is int for d in layer.input_shape)
