"""Writing and reading files: minicnn/files.py (the one writer) and weights files.

A killed save leaves the old file and nothing else; links, devices, FIFOs and
permission bits are respected; values that overflow floatx and compressed
bombs are refused before they change or fill anything; every error names the
file the caller asked for.
"""
import errno
import os
import re
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest

import minicnn
from minicnn import layers
from minicnn.files import write_atomically
from minicnn.models import Sequential

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model(seed=0):
    minicnn.seed(seed)
    return Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                       layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3),
                       layers.Activation("softmax")])


def assert_same(weights, others):
    assert len(weights) == len(others)
    for mine, theirs in zip(weights, others):
        np.testing.assert_array_equal(mine, theirs)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def umask(mask):
    """Run a block under the umask ``mask``."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(params=["unnamed", "named", "named-fallback"])
def way(request, tmp_path, monkeypatch):
    """The writer's ways: an unnamed temporary file (Linux's O_TMPFILE); a named one where
    the OS has no O_TMPFILE; a named one where the filesystem refuses it."""
    if request.param == "unnamed" and not unnamed_files_work(tmp_path):
        pytest.skip("the OS or the filesystem of tmp_path has no unnamed files (O_TMPFILE)")
    if request.param == "named":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    if request.param == "named-fallback" and hasattr(os, "O_TMPFILE"):
        real_open = os.open

        def open_without_unnamed_files(path, flags, *args, **kwargs):
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, "Operation not supported")
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_without_unnamed_files)
    return request.param


def unnamed_files_work(folder):
    """True where the OS and the filesystem of ``folder`` have unnamed files (O_TMPFILE)."""
    if not hasattr(os, "O_TMPFILE"):
        return False
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
    except OSError:
        return False
    return True


# ---- a killed save leaves the old file and nothing else ----------------------------
# The child saves a 4 MB model; its file object says "writing" after the first
# megabyte and sleeps there, so the kill lands in the middle of the write.
KILLED_WRITER = r'''
import os
import sys
import time

import numpy as np

import minicnn
from minicnn import layers
from minicnn.models import Sequential

path, how = sys.argv[1], sys.argv[2]
if how == "named":
    del os.O_TMPFILE                                   # as on an OS or filesystem without it
minicnn.seed(1)
model = Sequential([layers.Dense(1000, input_shape=(1000,))])
real_savez = np.savez


class SlowFile:
    """Passes writes on; after the first megabyte says so, once, and waits to be killed."""

    def __init__(self, file):
        self.file, self.written, self.waited = file, 0, False

    def write(self, data):
        self.written += self.file.write(data)
        if self.written > 1 << 20 and not self.waited:
            self.waited = True
            print("writing", flush=True)
            time.sleep(60)
        return len(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


np.savez = lambda file, **arrays: real_savez(SlowFile(file), **arrays)
model.save_weights(path)
'''


def big_model(seed):
    minicnn.seed(seed)
    return Sequential([layers.Dense(1000, input_shape=(1000,))])


def kill_while_saving(path, how, sig):
    """Run KILLED_WRITER on ``path``, send ``sig`` mid-write; the folder's names during
    the write."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), how], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line == "writing\n", child.stderr.read()
        during = sorted(os.listdir(os.path.dirname(path)))
        child.send_signal(sig)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -sig, f"the writer ended with {child.returncode}, not by signal {sig}"
    return during


@pytest.mark.parametrize("how,sig", [("unnamed", signal.SIGKILL), ("unnamed", signal.SIGTERM),
                                     ("named", signal.SIGTERM)],
                         ids=["unnamed-SIGKILL", "unnamed-SIGTERM", "named-SIGTERM"])
def test_a_killed_save_leaves_the_old_file_and_nothing_else(tmp_path, how, sig):
    if how == "unnamed" and not unnamed_files_work(tmp_path):
        pytest.skip("the OS or the filesystem of tmp_path has no unnamed files (O_TMPFILE)")
    path = tmp_path / "w.npz"
    old = big_model(0)
    old.save_weights(path)
    during = kill_while_saving(path, how, sig)
    if how == "unnamed":
        assert during == ["w.npz"]                    # the new data has no name until it is done
    assert os.listdir(tmp_path) == ["w.npz"]
    fresh = big_model(2)
    fresh.load_weights(path)
    assert_same(old.get_weights(), fresh.get_weights())


def test_a_save_removes_the_stale_temporary_files_a_killed_named_write_left(tmp_path):
    path = tmp_path / "w.npz"
    old = big_model(0)
    old.save_weights(path)
    kill_while_saving(path, "named", signal.SIGKILL)   # nothing can clean up after SIGKILL
    left = [name for name in os.listdir(tmp_path) if name != "w.npz"]
    assert len(left) == 1 and re.fullmatch(r"\.w\.npz-[a-z0-9_]{8}\.tmp", left[0]), left
    fresh = big_model(2)
    fresh.load_weights(path)                           # the old file is whole
    assert_same(old.get_weights(), fresh.get_weights())

    young = ".w.npz-abcdefgh.tmp"                      # perhaps another process writing now
    not_ours = [".w.npz-abcdefg.tmp", ".w.npz-ABCDEFGH.tmp", ".v.npz-abcdefgh.tmp",
                "w.npz-abcdefgh.tmp", ".w.npz-abcdefgh.tmp.bak", "notes.txt"]
    for name in [young] + not_ours:
        (tmp_path / name).write_bytes(b"someone's")
    an_hour_ago = time.time() - 3600
    for name in left + not_ours:
        os.utime(tmp_path / name, (an_hour_ago, an_hour_ago))
    big_model(3).save_weights(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["w.npz", young] + not_ours)


def test_each_way_names_the_new_file_only_when_it_is_complete(tmp_path, way):
    (tmp_path / "w.npz").write_bytes(b"old")
    seen = []
    write_atomically(tmp_path / "w.npz", lambda f: seen.extend(sorted(os.listdir(tmp_path))))
    if way == "unnamed":
        assert seen == ["w.npz"]
    else:
        assert len(seen) == 2 and re.fullmatch(r"\.w\.npz-[a-z0-9_]{8}\.tmp", seen[0]), seen
    assert os.listdir(tmp_path) == ["w.npz"] and (tmp_path / "w.npz").read_bytes() == b""


def test_the_writer_puts_back_the_sigterm_action_it_found(tmp_path):
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        pytest.skip("this test runner has its own SIGTERM handler, which the writer leaves alone")
    seen = []
    write_atomically(tmp_path / "w.bin", lambda f: seen.append(signal.getsignal(signal.SIGTERM)))
    assert seen and seen[0] != signal.SIG_DFL          # SIGTERM cleans up while writing
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


# ---- links, folders, devices and FIFOs ------------------------------------------
def test_saving_through_a_symbolic_link_writes_the_file_it_points_to(tmp_path, way):
    real, links = tmp_path / "real", tmp_path / "links"
    real.mkdir()
    links.mkdir()
    model(0).save_weights(real / "w.npz")
    os.symlink(os.path.join("..", "real", "w.npz"), links / "relative.npz")
    os.symlink(real / "w.npz", links / "absolute.npz")
    os.symlink(os.path.join("..", "real", "later.npz"), links / "dangling.npz")
    for seed, name, target in [(1, "relative.npz", "w.npz"), (2, "absolute.npz", "w.npz"),
                               (3, "dangling.npz", "later.npz")]:
        before = os.readlink(links / name)
        saved = model(seed)
        saved.save_weights(links / name)
        assert os.path.islink(links / name) and os.readlink(links / name) == before
        fresh = model(9)
        fresh.load_weights(real / target)
        assert_same(saved.get_weights(), fresh.get_weights())
    assert sorted(os.listdir(links)) == ["absolute.npz", "dangling.npz", "relative.npz"]
    assert sorted(os.listdir(real)) == ["later.npz", "w.npz"]


def test_a_fifo_or_a_folder_is_never_replaced(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    os.symlink("pipe.npz", tmp_path / "to-pipe.npz")
    (tmp_path / "folder.npz").mkdir()
    m = model()
    with pytest.raises(ValueError, match=re.escape(repr(str(fifo))) + r" is a FIFO .*not a regular "
                                         r"file.*left as it is"):
        m.save_weights(fifo)
    with pytest.raises(ValueError, match=r"save_weights: .*to-pipe\.npz.*pipe\.npz\) is a FIFO"):
        m.save_weights(tmp_path / "to-pipe.npz")
    with pytest.raises(ValueError, match=r"write_atomically: .*pipe\.npz' is a FIFO"):
        write_atomically(fifo, lambda f: f.write(b"x"))
    with pytest.raises(IsADirectoryError, match=r"folder\.npz' is a folder"):
        write_atomically(tmp_path / "folder.npz", lambda f: f.write(b"x"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(tmp_path / "to-pipe.npz")
    assert sorted(os.listdir(tmp_path)) == ["folder.npz", "pipe.npz", "to-pipe.npz"]


# ---- permission bits ------------------------------------------------------------
def test_a_new_file_gets_the_umask_and_an_existing_one_keeps_its_bits(tmp_path, way):
    for mask, expected in [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)]:
        path = tmp_path / f"new-{expected:o}.npz"
        with umask(mask):
            model().save_weights(path)
        assert mode_of(path) == expected
    path = tmp_path / "private.npz"
    with umask(0o022):
        model(0).save_weights(path)
        for bits in (0o600, 0o640, 0o604):
            os.chmod(path, bits)
            model(1).save_weights(path)
            assert mode_of(path) == bits


def test_a_read_only_file_is_refused_unless_the_caller_asks(tmp_path, way):
    path = tmp_path / "w.npz"
    model(0).save_weights(path)
    os.chmod(path, 0o444)
    good = path.read_bytes()
    with pytest.raises(PermissionError, match=re.escape(repr(str(path))) + r" is read-only "
                                              r"\(mode 444\).*writable"):
        model(1).save_weights(path)
    assert path.read_bytes() == good and mode_of(path) == 0o444
    assert os.listdir(tmp_path) == ["w.npz"]
    write_atomically(path, lambda f: f.write(b"new"), overwrite_read_only=True)
    assert path.read_bytes() == b"new" and mode_of(path) == 0o444


# ---- values beyond floatx's range -----------------------------------------------
def test_a_finite_float64_beyond_float32_is_refused_not_loaded_as_inf(tmp_path):
    m = model()
    good = m.get_weights()
    too_big = [w.astype(np.float64) for w in good]
    too_big[0].flat[5] = 1e39                          # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"set_weights: conv2d_1/kernel holds 1e\+39, which does "
                                         r"not fit floatx float32"):
        m.set_weights(too_big)
    path = tmp_path / "w.npz"
    np.savez(path, **{f"{i:03d}/{name}/{key}": w for (i, name, key), w in
                      zip([(0, "conv2d_1", "kernel"), (0, "conv2d_1", "bias"),
                           (3, "dense_1", "kernel"), (3, "dense_1", "bias")], too_big)})
    with pytest.raises(ValueError, match=r"load_weights: .*layer 000 conv2d_1 kernel holds 1e\+39, "
                                         r"which does not fit floatx float32"):
        m.load_weights(path)
    assert_same(good, m.get_weights())
    assert all(np.isfinite(w).all() for w in m.get_weights())


# ---- a compressed bomb is refused before it is unpacked -------------------------
BOMB_BYTES = 256 << 20                                 # declared; deflated to about 250 kB


def write_npz(path, arrays, bomb_name):
    """An .npz of ``arrays`` plus ``bomb_name``: BOMB_BYTES of float32 zeros, deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w") as member:
                np.lib.format.write_array(member, array)
        with archive.open(bomb_name + ".npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (BOMB_BYTES // 4,)})
            zeros = bytes(1 << 20)
            for _ in range(BOMB_BYTES // len(zeros)):
                member.write(zeros)


@pytest.mark.parametrize("bomb_name,match", [
    ("999/bomb/zeros", r"holds 5 arrays, the model 4: '999/bomb/zeros' is no weight of this model"),
    ("000/conv2d_1/kernel", r"layer 000 conv2d_1 kernel: the file has shape \(67108864,\), "
                            r"the model \(3, 3, 1, 4\)")], ids=["extra-array", "instead-of-a-kernel"])
def test_a_compressed_bomb_is_refused_before_it_is_unpacked(tmp_path, bomb_name, match):
    m = model()
    good = m.get_weights()
    path = tmp_path / "bomb.npz"
    m.save_weights(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name != bomb_name}
    write_npz(path, arrays, bomb_name)
    assert os.path.getsize(path) < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            m.load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"loading took {peak / 2**20:.0f} MB at its peak"
    assert_same(good, m.get_weights())


def test_arrays_that_are_no_weights_are_refused_by_their_headers(tmp_path):
    m = model()
    path = tmp_path / "w.npz"
    m.save_weights(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"not an array")
    with pytest.raises(ValueError, match=r"load_weights: .*'notes\.txt' is not an array"):
        m.load_weights(path)


# ---- every error names the file the caller asked for ----------------------------
def fill_then_fail(file):
    file.write(b"PK\x03\x04 the first bytes")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_reported_with_the_target_and_keeps_the_old_file(tmp_path, monkeypatch, way):
    path = tmp_path / "w.npz"
    model(0).save_weights(path)
    good = path.read_bytes()
    with pytest.raises(OSError) as caught:
        write_atomically(path, fill_then_fail)
    assert caught.value.errno == errno.ENOSPC
    assert str(path) in str(caught.value) and ".tmp" not in str(caught.value)
    assert "free some space" in str(caught.value)
    monkeypatch.setattr(np, "savez", lambda file, **arrays: fill_then_fail(file))
    with pytest.raises(OSError, match=r"save_weights: could not write " + re.escape(repr(str(path)))):
        model(1).save_weights(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["w.npz"]


def test_a_path_ending_in_a_slash_or_in_a_missing_folder_names_that_path(tmp_path):
    folder_name = str(tmp_path / "new") + os.sep
    with pytest.raises(IsADirectoryError, match=re.escape(repr(folder_name)) + " ends in") as caught:
        model().save_weights(folder_name)
    assert ".tmp" not in str(caught.value) and str(caught.value).startswith("save_weights: ")
    missing = tmp_path / "missing" / "w.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(missing)))) as caught:
        write_atomically(missing, lambda f: f.write(b"x"))
    assert ".tmp" not in str(caught.value) and "create it" in str(caught.value)
    assert os.listdir(tmp_path) == []


def permission_bits_bind_us(folder):
    """False where this process writes into a 0555 folder anyway (root, with its usual
    CAP_DAC_OVERRIDE, ignores permission bits)."""
    probe = folder / "probe"
    probe.mkdir(mode=0o555)
    try:
        (probe / "file").write_bytes(b"")
    except PermissionError:
        return True
    finally:
        os.chmod(probe, 0o755)
        for name in os.listdir(probe):
            os.remove(probe / name)
        probe.rmdir()
    return False


def test_a_read_only_folder_is_reported_with_the_target(tmp_path):
    if not permission_bits_bind_us(tmp_path):
        pytest.skip("running as root, which writes into a 0555 folder regardless of its permission "
                    "bits: there is no permission error to check (run as a user, or as root without "
                    "CAP_DAC_OVERRIDE: setpriv --inh-caps=-all --bounding-set=-dac_override ...)")
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "w.npz"
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError, match=r"save_weights: could not write "
                                                  + re.escape(repr(str(path)))) as caught:
            model().save_weights(path)
        assert ".tmp" not in str(caught.value) and "writable" in str(caught.value)
        assert os.listdir(folder) == []
    finally:
        os.chmod(folder, 0o755)

