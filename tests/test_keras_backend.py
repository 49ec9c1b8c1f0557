"""Keras' backend functions in minicnn/backend.py (K.image_data_format, K.epsilon,
K.clear_session, K.get_value/set_value, ...) and Keras' utils: np_utils, normalize,
plot_model (minicnn/utils.py, minicnn/np_utils.py)."""
import numpy as np
import pytest

from minicnn import backend, utils
from minicnn.layers import Dense
from minicnn.models import Sequential
from minicnn.optimizers import SGD
from tests.strict_xp import StrictArray, from_strict, to_strict


@pytest.fixture
def keep_epsilon():
    before = backend.epsilon()
    yield
    backend.set_epsilon(before)


# ---- image layout -----------------------------------------------------------------------
def test_the_image_data_format_is_channels_last_and_channels_first_is_a_one_line_error():
    assert backend.image_data_format() == "channels_last"
    backend.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match=r"channels-last only.*x\.transpose\(0, 2, 3, 1\)") as err:
        backend.set_image_data_format("channels_first")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown data format"):
        backend.set_image_data_format("channels_middle")
    assert backend.image_data_format() == "channels_last"
    assert backend.normalize_data_format(None) == "channels_last"


def test_keras_1s_dim_ordering():
    assert backend.image_dim_ordering() == "tf"
    backend.set_image_dim_ordering("tf")
    with pytest.raises(ValueError, match=r"transpose\(0, 2, 3, 1\)"):
        backend.set_image_dim_ordering("th")


# ---- epsilon, floatx ----------------------------------------------------------------------
def test_epsilon_is_1e_7_and_can_be_set(keep_epsilon):
    assert backend.epsilon() == 1e-7 and type(backend.epsilon()) is float
    backend.set_epsilon(1e-5)
    assert backend.epsilon() == 1e-5
    for bad in (0, -1e-3, float("inf"), "1e-7", True):
        with pytest.raises(ValueError, match="set_epsilon"):
            backend.set_epsilon(bad)
    assert backend.epsilon() == 1e-5


def test_floatx_and_cast_to_floatx():
    assert backend.floatx() == "float32"
    assert backend.cast_to_floatx(np.array([1.0, 2.0])).dtype == np.float32
    backend.set_floatx("float64")
    assert backend.cast_to_floatx([1, 2]).dtype == np.float64


# ---- clear_session ---------------------------------------------------------------------
def first_weights():
    model = Sequential([Dense(3, input_shape=(4,))])
    model.build()
    return model.get_weights()[0]


def test_clear_session_after_a_seed_restarts_the_generators_at_that_seed():
    backend.seed(7)
    weights = first_weights()
    host_draw, device_draw = backend.host_rng().random(3), backend.rng().random(3)
    first_weights()                                   # the generators move on
    backend.clear_session()
    assert np.array_equal(first_weights(), weights)
    assert np.array_equal(backend.host_rng().random(3), host_draw)
    assert np.array_equal(backend.rng().random(3), device_draw)


def test_clear_session_without_a_seed_changes_nothing(monkeypatch):
    monkeypatch.setattr(backend, "_seed", None)
    state = backend.host_rng().bit_generator.state
    backend.clear_session()
    assert backend.host_rng().bit_generator.state == state


# ---- get_value / set_value -----------------------------------------------------------------
class Settable:
    """What K.set_value accepts besides arrays: an object with set_value (and get_value)."""

    def __init__(self, value):
        self.value = value

    def set_value(self, value):
        self.value = value

    def get_value(self):
        return self.value


def test_get_value_of_numbers_arrays_and_objects():
    assert backend.get_value(0.5) == 0.5 and type(backend.get_value(np.float32(0.5))) is float
    assert backend.get_value(SGD(lr=0.1).lr) == pytest.approx(0.1)
    a = np.arange(4.0, dtype="float32")
    copy = backend.get_value(a)
    assert np.array_equal(copy, a) and copy is not a and copy.dtype == np.float32
    copy[0] = 9.0
    assert a[0] == 0.0
    assert backend.get_value(Settable(3.0)) == 3.0
    with pytest.raises(TypeError, match="get_value"):
        backend.get_value("0.1")


def test_set_value_changes_an_array_in_place_or_calls_set_value():
    a = np.zeros((2, 3), dtype="float32")
    backend.set_value(a, np.ones((2, 3)))
    assert np.array_equal(a, np.ones((2, 3))) and a.dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(3,\) but x has shape \(2, 3\)"):
        backend.set_value(a, [5.0, 5.0, 5.0])
    assert np.array_equal(a, np.ones((2, 3)))                     # unchanged by the refusal
    target = Settable(0.01)
    backend.set_value(target, 0.001)
    assert target.value == 0.001


class OwnedRate(float):
    """A learning rate that is a float and knows its optimizer: the form an optimizer's
    ``lr`` can take for Keras' K.set_value(model.optimizer.lr, value) to reach it."""

    def __new__(cls, value, optimizer):
        rate = super().__new__(cls, value)
        rate.optimizer = optimizer
        return rate

    def set_value(self, value):
        self.optimizer.lr = value

    def get_value(self):
        return float(self)


def test_a_number_with_set_value_is_set_through_its_owner_not_refused():
    optimizer = Settable(None)
    rate = OwnedRate(0.1, optimizer)
    backend.set_value(rate, 0.01)
    assert optimizer.lr == 0.01
    assert type(backend.get_value(rate)) is float and backend.get_value(rate) == 0.1


def test_set_value_on_a_plain_number_says_how_to_change_a_learning_rate():
    with pytest.raises(TypeError, match=r"model\.optimizer\.lr = 0\.001"):
        backend.set_value(0.01, 0.001)
    with pytest.raises(TypeError, match="set_value"):
        backend.set_value("lr", 0.001)


def test_get_and_set_value_on_device_arrays_cross_only_explicitly(strict_backend):
    a = to_strict(np.zeros(3, dtype="float32"))
    backend.set_value(a, np.array([1.0, 2.0, 3.0]))
    assert isinstance(a, StrictArray) and np.array_equal(from_strict(a), [1.0, 2.0, 3.0])
    host = backend.get_value(a)
    assert isinstance(host, np.ndarray) and np.array_equal(host, [1.0, 2.0, 3.0])


def test_int_shape():
    assert backend.int_shape(np.zeros((2, 28, 28, 1))) == (2, 28, 28, 1)
    with pytest.raises(TypeError, match="int_shape"):
        backend.int_shape(3)


# ---- utils: np_utils, normalize, plot_model -----------------------------------------------
def test_np_utils_is_keras_name_for_the_same_functions():
    import minicnn.np_utils
    from minicnn.utils import np_utils
    assert np_utils is minicnn.np_utils
    assert np_utils.to_categorical is utils.to_categorical and np_utils.normalize is utils.normalize
    assert np.array_equal(np_utils.to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])


def test_normalize_divides_by_the_l2_norm_and_leaves_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], dtype="float32")
    out = utils.normalize(x)
    assert out.dtype == np.float32 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])
    assert np.allclose(utils.normalize(x, axis=0), x / np.linalg.norm(x, axis=0))
    assert np.allclose(utils.normalize(x, order=1)[0], [3 / 7, 4 / 7])
    assert utils.normalize([3, 4]).tolist() == pytest.approx([0.6, 0.8])
    assert utils.normalize([3, 4]).dtype == np.float32


def test_plot_model_names_summary_as_the_alternative():
    with pytest.raises(NotImplementedError, match=r"model\.summary\(\)"):
        utils.plot_model(Sequential([Dense(2, input_shape=(3,))]), to_file="model.png")
