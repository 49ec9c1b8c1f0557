"""Learning-rate schedules for ``callbacks.LearningRateScheduler``.

Each factory returns a callable with the Keras signature
``schedule(epoch, lr) -> new lr``: ``epoch`` counts from 0 and the current
``lr`` is accepted but ignored, so a schedule depends on the epoch only.
"""
import math

from .nn.base import is_count, is_number


class Schedule:
    """Base class: subclasses implement ``value(epoch)``; ``__call__`` checks the epoch."""

    def __call__(self, epoch, lr=None):
        if not (is_number(epoch) and math.isfinite(epoch) and epoch == int(epoch) and epoch >= 0):
            raise ValueError(f"{self!r}: epoch must be a whole number >= 0 (0 for the first "
                             f"epoch), got {epoch!r}.")
        return self.value(int(epoch))

    def value(self, epoch):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class inverse_time_decay(Schedule):
    """lr = lr0 / (1 + k * epoch), rounded to ``decimals`` places (None: no rounding).

    The rounding to 10 decimals reproduces the values Keras prints, e.g.
    0.003 / (1 + 0.319 * epoch) gives 0.0022744503 at epoch 1.
    """

    def __init__(self, lr0, k, decimals=10):
        self.lr0 = _positive("inverse_time_decay", "lr0", lr0)
        self.k = _non_negative("inverse_time_decay", "k", k)
        if decimals is not None and not (is_count(decimals) and decimals >= 0):
            raise ValueError(f"inverse_time_decay: decimals must be an int >= 0 (places to round "
                             f"to) or None for no rounding, got {decimals!r}.")
        self.decimals = None if decimals is None else int(decimals)

    def value(self, epoch):
        lr = self.lr0 / (1.0 + self.k * epoch)
        return lr if self.decimals is None else round(lr, self.decimals)


class step_decay(Schedule):
    """lr = lr0 * drop ** floor(epoch / every): multiply by ``drop`` every ``every`` epochs."""

    def __init__(self, lr0, drop, every):
        self.lr0 = _positive("step_decay", "lr0", lr0)
        self.drop = _fraction("step_decay", "drop", drop)
        self.every = _count("step_decay", "every", every, 1)

    def value(self, epoch):
        return self.lr0 * self.drop ** (epoch // self.every)


class exponential_decay(Schedule):
    """lr = lr0 * rate ** epoch."""

    def __init__(self, lr0, rate):
        self.lr0 = _positive("exponential_decay", "lr0", lr0)
        self.rate = _fraction("exponential_decay", "rate", rate)

    def value(self, epoch):
        return self.lr0 * self.rate ** epoch


class cosine_decay(Schedule):
    """lr = lr_min + (lr0 - lr_min) * (1 + cos(pi * e / epochs)) / 2, with e = min(epoch, epochs).

    Starts at lr0 and would reach lr_min at epoch ``epochs``; over a run of
    ``epochs`` epochs (0 .. epochs-1) the last value stays above lr_min.
    """

    def __init__(self, lr0, epochs, lr_min=0.0):
        self.lr0 = _positive("cosine_decay", "lr0", lr0)
        self.epochs = _count("cosine_decay", "epochs", epochs, 1)
        self.lr_min = _non_negative("cosine_decay", "lr_min", lr_min)
        if self.lr_min >= self.lr0:
            raise ValueError(f"cosine_decay: lr_min ({lr_min!r}) must be below lr0 ({lr0!r}).")

    def value(self, epoch):
        e = min(epoch, self.epochs)
        cos = math.cos(math.pi * e / self.epochs)
        return self.lr_min + (self.lr0 - self.lr_min) * (1.0 + cos) / 2.0


class one_cycle(Schedule):
    """One-cycle policy over ``epochs`` epochs (0 .. L, with L = epochs - 1).

    lo = lr_max / start_div, hi = lr_max / final_div,
    peak epoch P = floor(pct_start * L + 0.5), at most L - 1.
    Warm-up, epoch <= P:  lr = lo + (lr_max - lo) * epoch / P     (P = 0: no warm-up)
    Anneal,  epoch >= P:  lr = hi + (lr_max - hi) * (1 + cos(pi * (epoch - P) / (L - P))) / 2
    so lr rises linearly to lr_max at P, then falls to hi at epoch L (and stays there).
    """

    def __init__(self, lr_max, epochs, start_div=25.0, final_div=1e4, pct_start=0.3):
        self.lr_max = _positive("one_cycle", "lr_max", lr_max)
        self.epochs = _count("one_cycle", "epochs", epochs, 2)
        self.start_div = _at_least_one("start_div", start_div)
        self.final_div = _at_least_one("final_div", final_div)
        if not (is_number(pct_start) and 0.0 <= pct_start < 1.0):
            raise ValueError(f"one_cycle: pct_start must be a number in [0, 1) (the share of "
                             f"the run spent warming up, e.g. 0.3), got {pct_start!r}.")
        self.pct_start = float(pct_start)

    def value(self, epoch):
        last = self.epochs - 1
        peak = min(max(math.floor(self.pct_start * last + 0.5), 0), last - 1)
        if epoch < peak:
            lo = self.lr_max / self.start_div
            return lo + (self.lr_max - lo) * epoch / peak
        hi = self.lr_max / self.final_div
        t = min(epoch - peak, last - peak) / (last - peak)
        return hi + (self.lr_max - hi) * (1.0 + math.cos(math.pi * t)) / 2.0


# ---- argument checks --------------------------------------------------------
def _positive(who, name, value):
    if not (is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{who}: {name} must be a finite number > 0, got {value!r}.")
    return float(value)


def _non_negative(who, name, value):
    if not (is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def _fraction(who, name, value):
    """A factor in (0, 1] that the learning rate is multiplied by."""
    if not (is_number(value) and 0.0 < value <= 1.0):
        raise ValueError(f"{who}: {name} must be a number in (0, 1] (the factor the learning "
                         f"rate is multiplied by, e.g. 0.5), got {value!r}.")
    return float(value)


def _count(who, name, value, minimum):
    """An int (Python's or NumPy's) >= minimum, as a Python int."""
    if not (is_count(value) and value >= minimum):
        raise ValueError(f"{who}: {name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _at_least_one(name, value):
    if not (is_number(value) and math.isfinite(value) and value >= 1):
        raise ValueError(f"one_cycle: {name} must be a number >= 1, got {value!r}.")
    return float(value)
