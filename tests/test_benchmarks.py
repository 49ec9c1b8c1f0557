"""The benchmark scripts run end to end and write what they promise (tiny sizes; no timing asserted)."""
import json
import os
import re
import sys

import pytest

from minicnn.fast import team, threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import ab_conv_columns  # noqa: E402
import ab_conv_grid  # noqa: E402
import ab_gemm_blocks  # noqa: E402
import ab_team_load  # noqa: E402
import ab_team_wait  # noqa: E402
import bench_layers  # noqa: E402
import bench_train  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_counts():
    """The scripts set minicnn's process and thread counts; put the defaults back."""
    processes, chosen = team._processes, threads.chosen_threads()
    yield
    team._processes = processes
    threads.restore_threads(chosen)


def test_bench_layers_covers_every_layer(tmp_path, capsys):
    out = tmp_path / "layers.json"
    assert bench_layers.main(["--model", "kernel-optimised", "--batch-size", "8", "--repeats", "1",
                              "--warmup", "1", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    names = [row["layer"] for row in data["layers"]]
    assert names[-2:] == ["loss", "optimizer"] and "conv2d_2" in names
    assert all(name in text for name in names)
    assert data["threads"]["processes"] == 1


def test_build_model_textbook_gives_textbook_classes():
    model, batch_size = bench_train.build_model("go-crazy", textbook=True)
    assert batch_size == bench_train.assignment4.MODELS["go-crazy"][2]
    assert all(type(layer).__module__.startswith("minicnn.nn.") for layer in model.layers)
    assert type(model.optimizer).__module__.startswith("minicnn.nn.")
    fast, _ = bench_train.build_model("go-crazy")
    assert type(fast.optimizer).__module__.startswith("minicnn.fast.")


def test_bench_layers_and_bench_train_time_the_textbook_classes_in_one_thread(tmp_path, capsys):
    out = tmp_path / "layers.json"
    assert bench_layers.main(["--model", "vanilla", "--batch-size", "4", "--repeats", "1",
                              "--warmup", "0", "--textbook", "--json", str(out)]) == 0
    assert "textbook classes, 1 thread(s)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["config"]["textbook"] and data["threads"]["threads"] == 1
    out = tmp_path / "train.json"
    assert bench_train.main(["--model", "vanilla", "--batch-size", "8", "--steps", "1",
                             "--repeats", "1", "--warmup", "0", "--infer-images", "256",
                             "--processes", "2", "--gemm-size", "64", "--textbook",
                             "--json", str(out)]) == 0
    assert "textbook classes, 1 process(es) x 1 thread(s)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["threads"]["processes"] == 1 and data["results"][0]["minicnn"]["train_img_s"] > 0


def test_ab_gemm_blocks_times_whole_and_blocked_products_and_restores_the_limit(capsys):
    from minicnn.fast import gemm
    limit = gemm.SMALL_MACS
    assert ab_gemm_blocks.main(["--model", "kernel-optimised", "--batch-size", "2", "--rounds", "2",
                                "--repeats", "1", "--new", "5000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("whole" in line and "blocks of 5,000" in line and "median" in line for line in lines)
    assert gemm.SMALL_MACS == limit
    with pytest.raises(SystemExit):
        ab_gemm_blocks.main(["--old", "0", "--new", "0"])
    with pytest.raises(SystemExit):
        ab_gemm_blocks.main(["--old", "-1"])


def test_ab_conv_grid_times_both_backwards_and_restores_the_ratio(capsys):
    from minicnn.fast import conv
    ratio = conv.GRID_RATIO
    assert ab_conv_grid.main(["--model", "vanilla", "--batch-size", "2", "--rounds", "2",
                              "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("im2col" in line and f"grid up to {ratio:g}" in line and "median" in line
               for line in lines)
    assert conv.GRID_RATIO == ratio
    with pytest.raises(SystemExit):
        ab_conv_grid.main(["--old", "1.25", "--new", "1.25"])
    with pytest.raises(SystemExit):
        ab_conv_grid.main(["--old", "-1"])


@pytest.mark.skipif(not team._can_fork(), reason="worker processes need os.fork")
def test_bench_train_times_a_model_split_over_processes(tmp_path, capsys, monkeypatch):
    sent = []                                   # the commands rank 0 sends its worker
    real_send = team.Team._send

    def counting_send(self, command, rows):
        sent.append((command[0], self.size))
        return real_send(self, command, rows)
    monkeypatch.setattr(team.Team, "_send", counting_send)
    out = tmp_path / "train.json"
    assert bench_train.main(["--model", "kernel-optimised", "--batch-size", "8", "--steps", "2",
                             "--repeats", "1", "--warmup", "1", "--infer-images", "256",
                             "--processes", "2", "--gemm-size", "64", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    (row,) = data["results"]
    assert row["model"] == "kernel-optimised" and row["batch_size"] == 8
    assert row["minicnn"]["train_img_s"] > 0 and row["minicnn"]["infer_img_s"] > 0
    assert data["threads"]["processes"] == 2
    assert "2 process(es)" in text
    assert ("train", 2) in sent and ("infer", 2) in sent   # batches really were split


def test_ab_conv_columns_times_both_settings_and_restores_the_limit(capsys):
    from minicnn.fast import conv
    limit = conv.KEEP_COLS_BYTES
    assert ab_conv_columns.main(["--model", "vanilla", "--batch-size", "2", "--rounds", "2",
                                 "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[2].split(":")[0].strip() for line in lines] == ["training step",
                                                                           "inference pass"]
    assert all("kept" in line and f"limit {limit / 2**20:g} MiB" in line and "median" in line
               for line in lines)
    assert conv.KEEP_COLS_BYTES == limit


def test_ab_conv_columns_compares_two_given_limits(capsys):
    from minicnn.fast import conv
    limit = conv.KEEP_COLS_BYTES
    assert ab_conv_columns.main(["--model", "vanilla", "--batch-size", "2", "--rounds", "1",
                                 "--repeats", "1", "--old", "8", "--new", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("limit 8 MiB" in line and "limit 0.5 MiB" in line for line in lines)
    assert conv.KEEP_COLS_BYTES == limit
    with pytest.raises(SystemExit):
        ab_conv_columns.main(["--old", "2", "--new", "2"])


@pytest.mark.skipif(not team._can_fork(), reason="a Team needs forked workers (Linux)")
def test_ab_team_wait_times_both_kinds_of_team_and_restores_ask(capsys):
    ask = team._ask
    team.set_processes(2)
    assert ab_team_wait.main(["--model", "kernel-optimised", "--batch-size", "8", "--rounds", "2",
                              "--steps", "1", "--repeats", "1"]) == 0
    line, = capsys.readouterr().out.splitlines()
    found = re.search(r"over 2 processes, ms per training step: sleep at once ([\d.]+), "
                      r"ask first ([\d.]+); ratio per round ([\d.]+) ([\d.]+) \(median ([\d.]+)\)", line)
    assert found, line
    sleep_ms, ask_ms, *ratios, median = map(float, found.groups())
    assert sleep_ms > 0 and ask_ms > 0 and min(ratios) <= median <= max(ratios)
    assert team._ask is ask
    with pytest.raises(SystemExit):
        ab_team_wait.main(["--batch-size", "2"])                # too small to split
    assert team._ask is ask


def test_ab_team_load_times_each_arm_in_its_own_process(capsys):
    """A tiny idle round: one fit per arm, each a fresh process, and a table with both arms."""
    assert ab_team_load.main(["--images", "256", "--epochs", "1", "--rounds", "1",
                              "--conditions", "idle"]) in (0, None)
    out = capsys.readouterr().out
    assert "1 process" in out and "default" in out and "seconds per fit" in out
