"""The gradient checker itself: it passes correct layers and catches wrong ones."""
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from minicnn import layers
from minicnn.gradcheck import LAYERS, KinkWarning, gradcheck, gradcheck_loss
from minicnn.gradcheck import main as gradcheck_main
from minicnn.losses import SoftmaxCrossEntropy


class ScaledReLU(layers.ReLU):
    """A student's layer with a backward that is off by a factor of 2."""

    def backward(self, grad_out):
        return 2 * super().backward(grad_out)


def test_elementwise_and_directional_checks_pass_a_correct_layer():
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 3))
    exact = gradcheck(layers.Conv2D(5, 3, activation="relu"), x)
    directional = gradcheck(layers.Conv2D(5, 3, activation="relu"), x, max_elements=10, directions=8)
    for errors in (exact, directional):
        assert set(errors) == {"input", "kernel", "bias"}
        assert max(errors.values()) < 1e-6, errors


def test_catches_a_wrong_backward_both_ways():
    x = np.random.default_rng(1).standard_normal((3, 8))
    assert gradcheck(ScaledReLU(), x)["input"] > 0.1
    assert gradcheck(ScaledReLU(), x, max_elements=4, directions=5)["input"] > 0.1


class HalfGradientLoss(SoftmaxCrossEntropy):
    """A loss whose backward forgot a factor of 2."""

    def backward(self):
        return 0.5 * super().backward()


def test_fused_softmax_cross_entropy_gradient_against_central_differences():
    rng = np.random.default_rng(2)
    logits = 3 * rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    soft = rng.random((5, 4))
    soft /= soft.sum(axis=1, keepdims=True)          # soft targets, rows summing to 1
    for y in (labels, np.eye(4)[labels], soft):
        assert gradcheck_loss(SoftmaxCrossEntropy(), logits, y)["logits"] < 1e-6
    assert gradcheck_loss(HalfGradientLoss(), logits, labels)["logits"] > 0.1


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "minicnn.gradcheck", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_errors_and_exit_status():
    ok = run_cli("Conv2D", "--input-shape", "7,9,3", "--filters", "4", "--kernel-size", "3",
                 "--strides", "2")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].split()[:2] == ["layer", "tensor"]
    assert [line.split()[1] for line in lines[1:]] == ["input", "kernel", "bias"]
    # a threshold no finite-difference check can meet: exit status 1
    strict = run_cli("Dense", "--input-shape", "5", "--threshold", "1e-30")
    assert strict.returncode == 1
    assert "NO" in strict.stdout
    unknown = run_cli("Conv3D", "--input-shape", "4,4,1")
    assert unknown.returncode != 0 and "unknown layer" in unknown.stderr
    too_small = run_cli("Conv2D", "--input-shape", "2,2,1", "--kernel-size", "3")
    assert too_small.returncode == 2 and "Traceback" not in too_small.stderr
    assert "3x3 kernel does not fit in a 2x2 input" in too_small.stderr


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], r"argument --batch: expected an int >= 1, got '0'"),
    (["--batch", "-2"], r"argument --batch: expected an int >= 1, got '-2'"),
    (["--units", "1.5"], r"argument --units: expected an int >= 1, got '1.5'"),
    (["--seed", "-1"], r"argument --seed: expected an int >= 0, got '-1'"),
    (["--threshold", "-1"], r"argument --threshold: expected a finite number > 0, such as 1e-6"),
    (["--threshold", "nan"], r"argument --threshold: expected a finite number > 0"),
    (["--threshold", "inf"], r"argument --threshold: expected a finite number > 0"),
    (["--input-shape", "4,4,0"], r"argument --input-shape: expected positive ints separated "
                                 r"by commas, such as 7,9,3; got '4,4,0'"),
    (["--input-shape", "4,x"], r"argument --input-shape: expected positive ints"),
])
def test_cli_bad_numbers_are_usage_errors(capsys, args, message):
    with pytest.raises(SystemExit) as stop:
        gradcheck_main(["Dense", "--input-shape", "4", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m minicnn.gradcheck")
    assert re.search(message, err), err


# ---- kinks and ties -----------------------------------------------------------------
def test_a_tie_in_max_pooling_warns_and_says_why():
    with pytest.warns(KinkWarning, match=r"4 of 4 probes of 'input' cross a kink or a tie"):
        errors = gradcheck(layers.MaxPooling2D(2), np.zeros((1, 2, 2, 1)))
    assert errors["input"] == pytest.approx(0.5)       # each tied input: G/2 against G or 0


def test_a_relu_input_at_zero_warns_with_the_error_without_it():
    x = np.random.default_rng(0).standard_normal((2, 4))
    x[0, 1] = 0.0
    with pytest.warns(KinkWarning) as caught:
        errors = gradcheck(layers.ReLU(), x)
    (warning,) = [w for w in caught if w.category is KinkWarning]
    message = str(warning.message)
    assert "1 of 8 probes of 'input'" in message
    rest = float(re.search(r"without them the error is ([\d.]+e[+-]\d+)", message).group(1))
    assert rest < 1e-9 and errors["input"] > 1e-3


def test_a_probe_that_steps_across_a_kink_is_caught_too():
    x = np.array([[3e-7, 1.0, -0.5]])                  # 3e-7 < h: the probe crosses 0
    with pytest.warns(KinkWarning, match="1 of 3 probes"):
        gradcheck(layers.ReLU(), x)


def test_directional_probes_warn_as_well():
    x = np.maximum(np.random.default_rng(0).standard_normal((2, 4, 4, 3)), 0)   # a window of 0s
    with pytest.warns(KinkWarning, match="probes of 'input'"):
        gradcheck(layers.MaxPooling2D(2), x, max_elements=10, directions=6)


def test_smooth_and_kink_free_layers_do_not_warn():
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", KinkWarning)
        gradcheck(layers.BatchNormalization(), rng.standard_normal((4, 3, 3, 2)))
        gradcheck(layers.Softmax(), 3 * rng.standard_normal((3, 5)))
        gradcheck(layers.Conv2D(3, 3, activation="relu"), rng.standard_normal((2, 5, 5, 2)))
        gradcheck(layers.MaxPooling2D(2), rng.standard_normal((2, 4, 4, 3)))


# ---- the command line: the layers it knows ---------------------------------------------
def test_cli_help_lists_every_layer_and_its_options(capsys):
    with pytest.raises(SystemExit) as stop:
        gradcheck_main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for name in LAYERS:
        assert re.search(rf"^  {name}\b", out, re.M), name
    assert re.search(r"^  Activation\s+--activation", out, re.M)
    assert "Conv2D or Convolution2D" in out


def test_cli_checks_an_activation_layer(capsys):
    assert gradcheck_main(["Activation", "--activation", "softmax", "--input-shape", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["Activation", "input"]
    assert gradcheck_main(["Activation", "--activation", "tanh", "--input-shape", "3,4",
                           "--textbook"]) == 0


def test_cli_activation_needs_its_function(capsys):
    with pytest.raises(SystemExit) as stop:
        gradcheck_main(["Activation", "--input-shape", "6"])
    assert stop.value.code == 2
    assert "Activation needs the function to check: add --activation NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        gradcheck_main(["Activation", "--activation", "nope", "--input-shape", "6"])
    assert stop.value.code == 2
    assert "Unknown activation 'nope'" in capsys.readouterr().err


def test_cli_prints_kink_warnings_as_notes(capsys, monkeypatch):
    import minicnn.gradcheck as module

    def with_a_tie(layer, x, **kwargs):                 # the command line's own inputs never tie
        return gradcheck(layers.MaxPooling2D(2), np.zeros((1, 2, 2, 1)))
    monkeypatch.setattr(module, "gradcheck", with_a_tie)
    assert module.main(["MaxPooling2D", "--input-shape", "2,2,1"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^note: gradcheck: 4 of 4 probes of 'input' cross a kink or a tie", out, re.M)
