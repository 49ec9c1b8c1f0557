"""examples/assignment4.py as a user runs it: a separate Python process."""
import csv
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "assignment4.py")
NAMES = ["vanilla", "kernel-optimised", "go-crazy", "other-1", "other-2", "other-3", "other-4"]
TOTALS = {"vanilla": "49,220", "kernel-optimised": "10,524", "go-crazy": "13,880",
          "other-1": "20,010", "other-2": "12,664", "other-3": "15,958", "other-4": "10,844"}


def run_example(*args, timeout=120):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, EXAMPLE, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_list_prints_one_line_per_model():
    result = run_example("--list", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == NAMES
    for name, line in zip(NAMES, lines):
        assert TOTALS[name] in line, line          # each description states its size


def test_summary_of_all_models():
    result = run_example("--summary", "--model", "all", timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in NAMES:
        assert f"=== {name} ===" in out
        assert f"Total params: {TOTALS[name]}" in out
    # in the order of --list: each model's heading comes before its total
    positions = [out.index(f"=== {name} ===") for name in NAMES]
    assert positions == sorted(positions)
    for name, start in zip(NAMES, positions):
        assert out.index(f"Total params: {TOTALS[name]}", start) > start
    assert out.count("Total params:") == len(NAMES)


def test_unknown_model_fails_listing_the_valid_names():
    result = run_example("--model", "go-lazy", "--summary", timeout=60)
    assert result.returncode != 0
    assert "go-lazy" in result.stderr
    for name in NAMES:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--limit"])
def test_counts_below_one_are_refused_before_any_work(flag):
    result = run_example(flag, "0", timeout=60)
    assert result.returncode == 2
    assert f"argument {flag}: must be 1 or more, got 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_quick_go_crazy_run_learns(tmp_path):
    out = tmp_path / "runs"
    result = run_example("--model", "go-crazy", "--limit", "2000", "--epochs", "1",
                         "--verbose", "2", "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    path = out / "go-crazy_history.csv"
    assert path.exists(), result.stdout[-2000:]
    with open(path, newline="") as f:
        header = f.readline().rstrip("\r\n")
        assert header == "epoch,loss,acc,val_loss,val_acc,lr"
        f.seek(0)
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    row = rows[0]
    assert int(row["epoch"]) == 0
    assert float(row["val_acc"]) > 0.3              # 10 classes: chance is 0.1
    assert float(row["lr"]) == pytest.approx(0.003)
    assert "Total params: 13,880" in result.stdout


def test_negative_seed_is_a_usage_error():
    result = run_example("--seed", "-1", timeout=60)
    assert result.returncode == 2
    assert "argument --seed: must be 0 or more, got -1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("below", ["", "sub"])
def test_out_that_is_a_file_is_refused_before_mnist_loads(tmp_path, below):
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    out = os.path.join(str(a_file), below) if below else str(a_file)
    result = run_example("--out", out, "--epochs", "1", timeout=60)
    assert result.returncode == 2
    assert f"error: --out {out}: {a_file} is a file, not a folder; give a folder" \
        in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""                      # no summary, no MNIST, no training
    assert a_file.read_text() == "keep me"


def test_cupy_backend_without_a_gpu_names_the_command_line_flag():
    from minicnn import backend
    try:
        backend.set_backend("cupy")
    except RuntimeError:
        pass
    else:
        pytest.skip("CuPy and a CUDA device are available here: --backend cupy works")
    finally:
        backend.set_backend("numpy")
    result = run_example("--backend", "cupy", "--epochs", "1", timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --backend cupy: ")
    assert "--backend numpy" in result.stderr
    assert "set_backend" not in result.stderr
    assert "Traceback" not in result.stderr
