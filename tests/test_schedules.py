"""Schedules against hand-computed values."""
import math

import pytest

from minicnn import schedules as S

# The values Keras printed for 0.003 / (1 + 0.319 * epoch), epochs 0..19.
KERAS_PRINTED = [
    0.003, 0.0022744503, 0.0018315018, 0.0015329586, 0.0013181019, 0.0011560694,
    0.0010295127, 0.0009279307, 0.0008445946, 0.0007749935, 0.0007159905, 0.000665336,
    0.0006213753, 0.0005828638, 0.0005488474, 0.0005185825, 0.000491481, 0.0004670715,
    0.0004449718, 0.000424869,
]


def test_inverse_time_decay_matches_keras_printed_values():
    schedule = S.inverse_time_decay(0.003, 0.319)
    got = [schedule(epoch, 0.123) for epoch in range(20)]   # current lr is ignored
    assert got == KERAS_PRINTED
    assert [str(v) for v in got] == [str(v) for v in KERAS_PRINTED]


def test_inverse_time_decay_without_rounding():
    schedule = S.inverse_time_decay(0.003, 0.319, decimals=None)
    assert schedule(1, None) == 0.003 / 1.319
    assert schedule(1, None) != 0.0022744503


def test_step_decay():
    schedule = S.step_decay(0.1, 0.5, 10)
    assert [schedule(e, 0) for e in (0, 9, 10, 19, 20, 35)] == \
        pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125], rel=1e-15)


def test_exponential_decay():
    schedule = S.exponential_decay(0.01, 0.9)
    assert [schedule(e, 0) for e in (0, 1, 2, 5)] == \
        pytest.approx([0.01, 0.009, 0.0081, 0.0059049], rel=1e-12)


def test_cosine_decay():
    schedule = S.cosine_decay(0.1, 4, lr_min=0.01)
    # 0.01 + 0.09 * (1 + cos(pi * e / 4)) / 2; cos(pi/4) = sqrt(2)/2
    half = math.sqrt(2) / 2
    expected = [0.1, 0.01 + 0.045 * (1 + half), 0.055, 0.01 + 0.045 * (1 - half), 0.01, 0.01]
    assert [schedule(e, 0) for e in range(6)] == pytest.approx(expected, rel=1e-12)
    assert S.cosine_decay(1.0, 10)(5, 0) == pytest.approx(0.5)


def test_one_cycle_shape():
    # 11 epochs (0..10), pct_start 0.3: peak at epoch 3; lo = 0.04, hi = 1e-4.
    schedule = S.one_cycle(1.0, 11, start_div=25.0, final_div=1e4, pct_start=0.3)
    lrs = [schedule(e, 0) for e in range(12)]
    assert lrs[:4] == pytest.approx([0.04, 0.36, 0.68, 1.0], rel=1e-12)
    # anneal over epochs 3..10 (7 steps): hi + (1 - hi) * (1 + cos(pi * k / 7)) / 2
    hi = 1e-4
    anneal = [hi + (1 - hi) * (1 + math.cos(math.pi * k / 7)) / 2 for k in range(8)]
    assert lrs[3:11] == pytest.approx(anneal, rel=1e-12)
    assert lrs[10] == pytest.approx(1e-4) and lrs[11] == pytest.approx(1e-4)
    assert max(lrs) == 1.0


def test_one_cycle_short_runs_still_end_low():
    schedule = S.one_cycle(0.01, 2)
    assert schedule(0, 0) == pytest.approx(0.01)   # no room for warm-up: starts at the peak
    assert schedule(1, 0) == pytest.approx(1e-6)


@pytest.mark.parametrize("make", [
    lambda: S.inverse_time_decay(0.0, 0.3),
    lambda: S.inverse_time_decay(0.003, -1.0),
    lambda: S.step_decay(0.1, 1.5, 10),
    lambda: S.step_decay(0.1, 0.5, 0),
    lambda: S.exponential_decay(-0.1, 0.9),
    lambda: S.exponential_decay(0.1, 0.0),
    lambda: S.cosine_decay(0.1, 0),
    lambda: S.cosine_decay(0.1, 10, lr_min=0.2),
    lambda: S.one_cycle(float("nan"), 10),
    lambda: S.one_cycle(0.1, 1),
    lambda: S.one_cycle(0.1, 10, pct_start=1.0),
    lambda: S.one_cycle(0.1, 10, start_div=0.5),
])
def test_bad_arguments_raise(make):
    with pytest.raises(ValueError):
        make()


def test_bad_epoch_and_repr():
    schedule = S.step_decay(0.1, 0.5, 2)
    with pytest.raises(ValueError, match="epoch"):
        schedule(-1, 0.1)
    with pytest.raises(ValueError, match="epoch"):
        schedule(1.5, 0.1)
    assert repr(schedule) == "step_decay(lr0=0.1, drop=0.5, every=2)"
