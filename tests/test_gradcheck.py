"""The gradient checker itself: it passes correct layers and catches wrong ones."""
import re
import subprocess
import sys

import numpy as np
import pytest

from minicnn import layers
from minicnn.gradcheck import gradcheck, gradcheck_loss
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
