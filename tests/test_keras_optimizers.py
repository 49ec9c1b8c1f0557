"""Keras 2.2's seven optimizers and their options, against a float64 transcription of
Keras 2.2.4's update formulas (keras/optimizers.py: get_gradients for clipping, each
class's get_updates), step by step.

The reference below is written the way Keras writes it: clipping by
``K.switch(norm >= clipnorm, g * clipnorm / norm, g)`` with one norm over all the
gradients, then ``K.clip``; the decayed rate ``lr * (1 / (1 + decay * iterations))``
with the count before the step; Nadam's ``m_schedule`` kept as a running product
that is multiplied by each step's momentum. Tolerance: every parameter after each
of the 5 steps agrees to 1e-12 relative (plus 1e-12 absolute for entries near 0),
in float64; the two sides differ only in the order of a few float operations.
"""
import inspect
import math

import numpy as np
import pytest

import minicnn
from minicnn import backend, nn, optimizers
from minicnn.layers import Activation, Dense
from minicnn.models import Sequential
from minicnn.nn.base import textbook_twin
from minicnn.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, RMSprop
from tests import strict_xp

SHAPES = [(3, 4), (5,)]                      # two arrays: clipnorm's norm spans both
SCALES = [2.0, 1.0, 0.05, 3.0, 0.02]         # gradient size per step: v must fall for amsgrad
STEPS = len(SCALES)
RTOL = ATOL = 1e-12
CLASSES = {"SGD": SGD, "RMSprop": RMSprop, "Adagrad": Adagrad, "Adadelta": Adadelta,
           "Adam": Adam, "Adamax": Adamax, "Nadam": Nadam}
KERAS_DEFAULTS = {
    "SGD": {"lr": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False},
    "RMSprop": {"lr": 0.001, "rho": 0.9, "epsilon": 1e-7, "decay": 0.0},
    "Adagrad": {"lr": 0.01, "epsilon": 1e-7, "decay": 0.0},
    "Adadelta": {"lr": 1.0, "rho": 0.95, "epsilon": 1e-7, "decay": 0.0},
    "Adam": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "decay": 0.0,
             "amsgrad": False},
    "Adamax": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "decay": 0.0},
    "Nadam": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "schedule_decay": 0.004},
}


# ---- the reference: Keras 2.2.4's formulas in float64 NumPy ----------------------------
def keras_gradients(grads, clipnorm=None, clipvalue=None):
    """Optimizer.get_gradients after the backend's gradients."""
    if clipnorm is not None and clipnorm > 0:
        norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads))
        grads = [g * clipnorm / norm if norm >= clipnorm else g for g in grads]
    if clipvalue is not None and clipvalue > 0:
        grads = [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def keras_lr(config, iterations):
    lr = config["lr"]
    if config.get("decay", 0.0) > 0:
        lr = lr * (1.0 / (1.0 + config["decay"] * iterations))
    return lr


def keras_run(name, config, params, steps):
    """The parameters after each step (a list per step) of Keras 2.2.4's ``name``."""
    config = {**KERAS_DEFAULTS[name], **config}
    params = [p.copy() for p in params]
    zeros = lambda: [np.zeros_like(p) for p in params]          # noqa: E731
    first, second, third = zeros(), zeros(), zeros()            # moments / accumulators
    m_schedule = 1.0
    history = []
    for iterations, raw in enumerate(steps):
        grads = keras_gradients(raw, config.get("clipnorm"), config.get("clipvalue"))
        t = iterations + 1
        if name == "Nadam":
            b1, b2 = config["beta_1"], config["beta_2"]
            cache_t = b1 * (1.0 - 0.5 * 0.96 ** (t * config["schedule_decay"]))
            cache_t_1 = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * config["schedule_decay"]))
            m_schedule_new = m_schedule * cache_t
            m_schedule_next = m_schedule * cache_t * cache_t_1
            m_schedule = m_schedule_new
        lr = keras_lr(config, iterations)
        for k, (p, g) in enumerate(zip(params, grads)):
            if name == "SGD":
                v = config["momentum"] * first[k] - lr * g
                first[k] = v
                params[k] = p + config["momentum"] * v - lr * g if config["nesterov"] else p + v
            elif name == "RMSprop":
                first[k] = config["rho"] * first[k] + (1.0 - config["rho"]) * np.square(g)
                params[k] = p - lr * g / (np.sqrt(first[k]) + config["epsilon"])
            elif name == "Adagrad":
                first[k] = first[k] + np.square(g)
                params[k] = p - lr * g / (np.sqrt(first[k]) + config["epsilon"])
            elif name == "Adadelta":
                rho, eps = config["rho"], config["epsilon"]
                first[k] = rho * first[k] + (1.0 - rho) * np.square(g)
                update = g * np.sqrt(second[k] + eps) / np.sqrt(first[k] + eps)
                params[k] = p - lr * update
                second[k] = rho * second[k] + (1 - rho) * np.square(update)
            elif name == "Adam":
                b1, b2 = config["beta_1"], config["beta_2"]
                lr_t = lr * (np.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t))
                first[k] = b1 * first[k] + (1.0 - b1) * g
                second[k] = b2 * second[k] + (1.0 - b2) * np.square(g)
                if config["amsgrad"]:
                    third[k] = np.maximum(third[k], second[k])
                    params[k] = p - lr_t * first[k] / (np.sqrt(third[k]) + config["epsilon"])
                else:
                    params[k] = p - lr_t * first[k] / (np.sqrt(second[k]) + config["epsilon"])
            elif name == "Adamax":
                b1, b2 = config["beta_1"], config["beta_2"]
                lr_t = lr / (1.0 - b1 ** t)
                first[k] = b1 * first[k] + (1.0 - b1) * g
                second[k] = np.maximum(b2 * second[k], np.abs(g))
                params[k] = p - lr_t * first[k] / (second[k] + config["epsilon"])
            elif name == "Nadam":
                g_prime = g / (1.0 - m_schedule_new)
                first[k] = b1 * first[k] + (1.0 - b1) * g
                m_t_prime = first[k] / (1.0 - m_schedule_next)
                second[k] = b2 * second[k] + (1.0 - b2) * np.square(g)
                v_t_prime = second[k] / (1.0 - b2 ** t)
                m_t_bar = (1.0 - cache_t) * g_prime + cache_t_1 * m_t_prime
                params[k] = p - config["lr"] * m_t_bar / (np.sqrt(v_t_prime) + config["epsilon"])
        history.append([p.copy() for p in params])
    return history


# ---- helpers ---------------------------------------------------------------------------
def problem(seed, dtype="float64"):
    """Start parameters and STEPS lists of gradients (their size set by SCALES)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    steps = [[(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES] for scale in SCALES]
    return params, steps


def run(optimizer, params, steps):
    """Step ``optimizer`` through ``steps`` in place; the parameters after each step."""
    history = []
    for grads in steps:
        optimizer.step(params, grads)
        history.append([p.copy() for p in params])
    return history


CASES = [
    ("SGD", {}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "decay": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "clipnorm": 1.0}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "clipvalue": 0.5, "decay": 0.1}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "rho": 0.5, "epsilon": 1e-3, "decay": 0.2, "clipnorm": 1.5}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "epsilon": 1e-4, "decay": 0.3, "clipvalue": 0.5}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "epsilon": 1e-4, "decay": 0.1, "clipnorm": 2.0}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"lr": 0.1, "beta_2": 0.5, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3, "decay": 0.2}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "decay": 0.1, "clipnorm": 1.0, "clipvalue": 0.3}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "beta_1": 0.5, "beta_2": 0.8, "decay": 0.2, "clipvalue": 0.5}),
    ("Nadam", {}),
    ("Nadam", {"lr": 0.01, "beta_1": 0.8, "beta_2": 0.9, "schedule_decay": 0.3, "clipnorm": 1.0}),
    ("Nadam", {"clipnorm": 2.5, "clipvalue": 1.0, "epsilon": 1e-4}),
]


def case_id(case):
    name, config = case
    return name + "".join(f"-{key}" for key in config)


# ---- the formulas --------------------------------------------------------------------
@pytest.mark.parametrize("textbook", [False, True], ids=["public", "textbook"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_first_five_steps_match_keras_formulas(case, textbook):
    """The public class (fast for SGD and Adam) and the textbook class of minicnn/nn."""
    name, config = case
    params, steps = problem(0)
    start = [p.copy() for p in params]
    given = [[g.copy() for g in grads] for grads in steps]
    optimizer = (getattr(nn.optimizers, name) if textbook else CLASSES[name])(**config)
    got = run(optimizer, params, steps)
    expected = keras_run(name, config, start, steps)
    for step, (got_step, expected_step) in enumerate(zip(got, expected)):
        for p, e in zip(got_step, expected_step):
            np.testing.assert_allclose(p, e, rtol=RTOL, atol=ATOL, err_msg=f"step {step + 1}")
    assert optimizer.iterations == STEPS
    assert not any(np.allclose(p, s) for p, s in zip(params, start))     # it really moved
    for grads, before in zip(steps, given):                              # clipping made copies
        for g, b in zip(grads, before):
            np.testing.assert_array_equal(g, b)


@pytest.mark.parametrize("name,option", [
    ("SGD", {"decay": 0.3}), ("SGD", {"clipnorm": 1.0}), ("SGD", {"clipvalue": 0.5}),
    ("Adam", {"amsgrad": True}), ("RMSprop", {"clipnorm": 1.5}), ("Adagrad", {"decay": 0.3}),
    ("Nadam", {"schedule_decay": 0.3}), ("Adamax", {"clipvalue": 0.5}),
])
def test_each_option_changes_the_steps(name, option):
    """The cases above would not notice an option that did nothing: each one must matter
    on this problem (gradient norms up to ~10 > clipnorm; with beta_2 = 0.5, v falls at
    steps 2, 3 and 5, so amsgrad's maximum differs from v)."""
    params, steps = problem(0)
    base = {"lr": 0.1, "beta_2": 0.5} if name == "Adam" else {"lr": 0.1}
    plain = run(CLASSES[name](**base), [p.copy() for p in params], steps)[-1]
    with_option = run(CLASSES[name](**base, **option), [p.copy() for p in params], steps)[-1]
    assert max(float(np.abs(a - b).max()) for a, b in zip(plain, with_option)) > 1e-4


def test_clipnorm_uses_one_norm_over_all_arrays():
    """Two arrays of norms 3 and 4: the global norm is 5, so clipnorm=1 scales both by 1/5
    (a per-array norm would scale them by 1/3 and 1/4)."""
    a, b = np.zeros(2), np.zeros(1)
    SGD(lr=1.0, clipnorm=1.0).step([a, b], [np.array([3.0, 0.0]), np.array([4.0])])
    np.testing.assert_allclose(a, [-0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(b, [-0.8], rtol=1e-15)
    # below the threshold the gradient is used as it is
    c = np.zeros(1)
    SGD(lr=1.0, clipnorm=10.0, clipvalue=0.5).step([c], [np.array([0.75])])
    np.testing.assert_array_equal(c, [-0.5])
    # a NaN norm fails Keras' norm >= clipnorm test: the gradients are used unclipped
    d, e = np.zeros(2), np.zeros(1)
    SGD(lr=1.0, clipnorm=1.0).step([d, e], [np.array([np.nan, 3.0]), np.array([4.0])])
    np.testing.assert_array_equal(d, [np.nan, -3.0])
    np.testing.assert_array_equal(e, [-4.0])


def test_decay_uses_the_steps_done_before():
    """lr_t = lr / (1 + decay * iterations): 1, 1/2, 1/3 for decay 1 on steps 1, 2, 3."""
    p = np.zeros(1)
    optimizer = SGD(lr=1.0, decay=1.0)
    moves = []
    for _ in range(3):
        before = p.copy()
        optimizer.step([p], [np.array([-1.0])])
        moves.append(float(p[0] - before[0]))
    np.testing.assert_allclose(moves, [1.0, 0.5, 1.0 / 3.0], rtol=1e-15)


def test_nadam_momentum_schedule_by_hand():
    """mu_t = 0.9 (1 - 0.5 * 0.96 ** (0.004 t)); the product M_t of mu_1..mu_t."""
    nadam = Nadam()
    mu = [0.9 * (1.0 - 0.5 * 0.96 ** (0.004 * t)) for t in range(1, 5)]
    assert nadam.momentum(1) == pytest.approx(mu[0], rel=1e-15)
    assert nadam.momentum_product(4) == pytest.approx(math.prod(mu), rel=1e-15)
    assert nadam.momentum_product(2) == pytest.approx(mu[0] * mu[1], rel=1e-15)   # going back
    assert nadam.momentum_product(0) == 1.0


# ---- the state -----------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_state_round_trip_continues_like_an_uninterrupted_run(case):
    """Three steps, get_state; two more steps; set_state and the same two steps again, on
    the same optimizer and on a new one, give the same parameters as the first time."""
    name, config = case
    params, steps = problem(1)
    optimizer = CLASSES[name](**config)
    run(optimizer, params, steps[:3])
    saved_state, saved_params = optimizer.get_state(), [p.copy() for p in params]
    uninterrupted = run(optimizer, params, steps[3:])
    state_after = optimizer.get_state()
    optimizer.set_state(saved_state)
    for restored in (optimizer, CLASSES[name](**config)):
        if restored is not optimizer:
            restored.set_state(saved_state)
        again = run(restored, [p.copy() for p in saved_params], steps[3:])
        for got_step, expected_step in zip(again, uninterrupted):
            for a, b in zip(got_step, expected_step):
                np.testing.assert_array_equal(a, b)
        iterations, slots = restored.get_state()
        assert iterations == state_after[0] == STEPS
        assert slots.keys() == state_after[1].keys()
        for i in slots:
            assert len(slots[i]) == len(state_after[1][i])
            for a, b in zip(slots[i], state_after[1][i]):
                np.testing.assert_array_equal(a, b)


def test_state_is_copied_and_has_every_slot():
    params, steps = problem(2)
    counts = {"RMSprop": 1, "Adagrad": 1, "Adadelta": 2, "Adamax": 2, "Nadam": 2}
    for name, count in counts.items():
        optimizer = CLASSES[name]()
        run(optimizer, params, steps[:1])
        iterations, slots = optimizer.get_state()
        assert iterations == 1 and [len(slots[i]) for i in range(len(SHAPES))] == [count] * 2
        slots[0][0][...] = 123.0                              # a copy: the optimizer's is unchanged
        assert not np.any(optimizer._slots[0][0] == 123.0)
    adam = Adam(amsgrad=True)
    run(adam, params, steps[:1])
    assert [len(adam.get_state()[1][i]) for i in range(len(SHAPES))] == [3, 3]


def test_changing_amsgrad_after_a_step_is_a_clear_error():
    params, steps = problem(2)
    adam = Adam()
    run(adam, params, steps[:1])
    adam.amsgrad = True
    with pytest.raises(ValueError, match="amsgrad"):
        adam.step(params, steps[1])


# ---- a tiny model learns with each -----------------------------------------------------
@pytest.mark.parametrize("name,config", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "decay": 0.01}), ("RMSprop", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.1}), ("Adadelta", {}), ("Adam", {"lr": 0.01, "amsgrad": True, "clipnorm": 1.0}),
    ("Adamax", {"lr": 0.02}), ("Nadam", {"lr": 0.01, "clipvalue": 1.0}),
])
def test_short_training_reduces_the_loss(name, config):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    minicnn.seed(4)
    model = Sequential([Dense(2, input_shape=(6,)), Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=CLASSES[name](**config))
    targets = np.eye(2, dtype="float32")[y]

    def loss():                                           # the cross-entropy of the predictions
        return -float(np.mean(np.sum(targets * np.log(model.predict(x)), axis=1)))

    before = loss()
    model.fit(x, targets, batch_size=16, epochs=25, verbose=0, shuffle=False)
    after = loss()
    assert after < 0.9 * before, (before, after)
    assert model.optimizer.iterations == 100


# ---- dtypes and the device path -------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_stays_float32(case):
    name, config = case
    params, steps = problem(5, "float32")
    optimizer = CLASSES[name](**config)
    run(optimizer, params, steps)
    assert all(p.dtype == np.float32 for p in params)
    assert all(a.dtype == np.float32 for slots in optimizer._slots.values() for a in slots)
    start64 = [p.astype(np.float64) for p in problem(5, "float32")[0]]
    steps64 = [[g.astype(np.float64) for g in grads] for grads in steps]
    expected = keras_run(name, config, start64, steps64)[-1]
    for p, e in zip(params, expected):                     # float32 rounding only
        np.testing.assert_allclose(p, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_numbers_on_the_strict_device_module(case):
    """Through the CuPy stand-in: only xp calls, no host conversion (clipnorm's norm stays
    on the device), and the numbers of the NumPy run."""
    name, config = case
    params, steps = problem(6, "float32")
    expected = run(CLASSES[name](**config), [p.copy() for p in params], steps)[-1]
    with strict_xp.installed() as xp:
        device = [xp.asarray(p) for p in params]
        run(CLASSES[name](**config), device, [[xp.asarray(g) for g in grads] for grads in steps])
        got = [xp.asnumpy(p) for p in device]
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, e)


# ---- names, configs, errors ----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_keras_defaults_and_config_keys(name):
    cls = CLASSES[name]
    config = cls().get_config()
    for key, value in KERAS_DEFAULTS[name].items():
        assert config[key] == value, key
    assert config["clipnorm"] is None and config["clipvalue"] is None
    assert set(config) == set(inspect.signature(cls.__init__).parameters) - {"self"}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_serialize_and_get_round_trip(case):
    name, config = case
    optimizer = CLASSES[name](**config)
    stored = optimizers.serialize(optimizer)
    assert stored == {"class_name": name, "config": optimizer.get_config()}
    again = optimizers.get(stored)
    assert type(again) is type(optimizer) and again is not optimizer
    assert again.get_config() == optimizer.get_config()
    assert optimizers.get({"class_name": name.upper(), "config": dict(config)}).get_config() == \
        optimizer.get_config()
    twin = textbook_twin(optimizer)                          # the textbook class, same config
    assert type(twin).__module__ == "minicnn.nn.optimizers" and twin.get_config() == optimizer.get_config()
    assert repr(optimizer).startswith(name + "(lr=")


@pytest.mark.parametrize("keras_name", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax",
                                        "nadam"])
def test_get_takes_keras_names_in_any_case(keras_name):
    expected = {cls.__name__.lower(): cls for cls in CLASSES.values()}[keras_name]
    for spelling in (keras_name, keras_name.upper(), expected.__name__):
        made = optimizers.get(spelling)
        assert type(made) is expected and made.get_config() == expected().get_config()
    assert getattr(optimizers, keras_name) is expected                  # Keras' aliases
    assert type(optimizers.get({"class_name": keras_name})) is expected


def test_fast_classes_where_they_exist():
    assert type(optimizers.get("sgd")).__module__ == "minicnn.fast.optimizers"
    assert type(optimizers.get("adam")).__module__ == "minicnn.fast.optimizers"
    assert optimizers.RMSprop is nn.optimizers.RMSprop and optimizers.Nadam is nn.optimizers.Nadam


def test_lr_is_settable_with_python_and_numpy_numbers():
    for cls in CLASSES.values():
        optimizer = cls()
        optimizer.lr = np.float32(0.25)
        assert optimizer.lr == 0.25 and type(float(optimizer.lr)) is float
        assert type(optimizer._lr) is float                   # stored as a Python float
        optimizer.lr = 2
        assert optimizer.lr == 2.0 and type(optimizer._lr) is float
        with pytest.raises(ValueError, match="lr"):
            optimizer.lr = -1.0
        assert optimizer.lr == 2.0                            # unchanged by the bad value
        backend.set_value(optimizer.lr, 0.5)                  # Keras' K.set_value(opt.lr, v)
        assert optimizer.lr == 0.5 and backend.get_value(optimizer.lr) == 0.5


@pytest.mark.parametrize("make,message", [
    (lambda: SGD(decay=-0.1), "SGD: decay"),
    (lambda: Adam(decay=float("nan")), "Adam: decay"),
    (lambda: RMSprop(clipnorm=-1.0), "RMSprop: clipnorm"),
    (lambda: Adagrad(clipvalue="1"), "Adagrad: clipvalue"),
    (lambda: RMSprop(rho=1.0), "RMSprop: rho"),
    (lambda: Adadelta(rho=-0.5), "Adadelta: rho"),
    (lambda: Adadelta(epsilon=0.0), "Adadelta: epsilon"),
    (lambda: Adamax(beta_2=1.5), "Adamax: beta_2"),
    (lambda: Nadam(beta_1=1.0), "Nadam: beta_1"),
    (lambda: Nadam(schedule_decay=-0.004), "Nadam: schedule_decay"),
    (lambda: Adagrad(lr=0.0), "Adagrad: lr"),
    (lambda: optimizers.get("lbfgs"), "Unknown optimizer 'lbfgs'"),
    (lambda: optimizers.get(3), "Cannot make an optimizer"),
    (lambda: optimizers.get({"config": {}}), "class_name"),
    (lambda: optimizers.get({"class_name": "Adam", "config": {"rho": 0.9}}), r"Adam has no argument"),
    (lambda: optimizers.get({"class_name": "Adam", "config": [1]}), "must be a dict"),
    (lambda: optimizers.get({"class_name": "Adam", "weights": []}), "only 'class_name' and 'config'"),
    (lambda: optimizers.serialize("adam"), "serialize"),
])
def test_bad_arguments_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_nadam_takes_no_decay_as_in_keras():
    with pytest.raises(TypeError, match="decay"):
        Nadam(decay=0.01)


def test_clipping_options_are_keyword_only_and_zero_is_off():
    with pytest.raises(TypeError):
        Adagrad(0.01, None, 0.0, 1.0)                        # clipnorm only by name, as in Keras
    params, steps = problem(7)
    off = run(Adam(clipnorm=0.0, clipvalue=0.0), [p.copy() for p in params], steps)[-1]
    plain = run(Adam(), [p.copy() for p in params], steps)[-1]
    for a, b in zip(off, plain):
        np.testing.assert_array_equal(a, b)

