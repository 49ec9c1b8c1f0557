"""Files: the one place minicnn writes files, and the checks on the paths it is given.

``write_atomically(path, write)`` writes every file the library makes (weights,
pictures). What it promises:

- **old or new, never half:** the data goes to a temporary file in the target's
  folder, is flushed to disk (fsync), and is renamed over the target (os.replace);
- **no leftovers:** on Linux the temporary file has no name until it is complete
  (O_TMPFILE), so even SIGKILL leaves nothing behind; elsewhere it is a hidden
  ``.NAME-XXXXXXXX.tmp``, removed on any error, Ctrl-C or SIGTERM, and, if a
  kill left one, by the next write of the same file once it is a minute old;
- **special paths respected:** a symbolic link is followed (the file it points
  to is written, the link stays); a folder, FIFO, device or socket is refused;
- **permission bits kept:** a new file gets 0666 less the umask, as open() gives;
  an existing one keeps its bits; a read-only one is refused unless the caller
  passes ``overwrite_read_only=True``;
- **errors name the path the caller gave**, never the temporary file, and say
  what to do.
"""
import errno
import os
import re
import secrets
import signal
import stat
import threading
import time
from contextlib import contextmanager

# a temporary file's name: "." + the target's name + "-" + 8 of these + ".tmp" (as tempfile's
# mkstemp names them, so leftovers of older minicnn versions are recognised as well)
TEMPORARY_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
# a temporary file of ours this old (seconds since its last change) is a killed write's
STALE_AFTER = 60


def file_path(who, name, path, example):
    """``path`` (a str or os.PathLike) as a str: a TypeError for anything else, a
    ValueError for an empty one, each naming the argument ``name`` of ``who``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: {name} must be a file path (a str or os.PathLike) such as "
                        f"{example!r}, got {type(path).__name__} {path!r}.")
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{who}: {path!r} is empty; give a file name such as {example!r}.")
    return path


def require_folder(who, path, when):
    """The folder ``path`` goes into; FileNotFoundError, naming it, if it is missing
    (``when`` says when to create it: "first", "before fit")."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder} does not exist; create it "
                                f"{when} (os.makedirs).")
    return folder


def write_atomically(path, write, *, overwrite_read_only=False, who="write_atomically"):
    """Call write(f) on a binary file, then put it in place of ``path`` atomically: a
    crash, Ctrl-C, SIGTERM or SIGKILL leaves the old file or the new one, never half of
    one (see the module's docstring for the rest).

    ``path`` is a str or os.PathLike; a symbolic link is followed. Refused before
    anything is written: a path ending in a separator, an existing target that is not
    a regular file, and a read-only one (no write bit for its owner) unless
    ``overwrite_read_only``. Any OSError (a full disk, a folder without write
    permission) comes back as the same type with a message that starts with ``who``
    and names ``path``; the old file, if any, is then unchanged.
    """
    given = file_path(who, "path", path, "out.npz")
    target, mode = _checked_target(who, given, overwrite_read_only)
    try:
        with _sigterm_raises():
            if not _write_unnamed(target, write, mode):
                _write_named(target, write, mode)
    except OSError as err:
        raise _naming_the_target(err, who, given, target) from err
    _remove_stale_temporaries(target)


def _checked_target(who, given, overwrite_read_only):
    """The file to write for the path ``given`` (symbolic links resolved) and the permission
    bits to give it (None for a new file: 0666 less the umask); an error naming ``given``
    for a path that must not be written."""
    if given.endswith(os.sep) or (os.altsep and given.endswith(os.altsep)):
        raise IsADirectoryError(f"{who}: {given!r} ends in {given[-1]!r}, so it names a folder, "
                                "not a file; drop the separator or add a file name after it.")
    target = os.path.realpath(given)
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return target, None
    except OSError as err:           # a loop of links, a file where a folder should be, ...
        raise _naming_the_target(err, who, given, target) from err
    shown = _shown(given, target)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(f"{who}: {shown} is a folder; give the path of a file in it.")
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{who}: {shown} is {_kind_of_file(status.st_mode)}, not a regular file; "
                         "it was left as it is: give the path of a regular file.")
    mode = stat.S_IMODE(status.st_mode) & 0o777
    if not mode & stat.S_IWUSR and not overwrite_read_only:
        raise PermissionError(f"{who}: {shown} is read-only (mode {mode:o}); it was left as it "
                              f"is. Make it writable first (chmod u+w) or write another file.")
    return target, mode


def _kind_of_file(mode):
    """What a file that is neither a regular file nor a folder is, for a message."""
    for is_kind, kind in [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]:
        if is_kind(mode):
            return kind
    return "a special file"


def _shown(given, target):
    """The path ``given``, for a message, with the file it resolves to where that differs."""
    if os.path.abspath(given) == target:
        return repr(given)
    return f"{given!r} (-> {target})"


def _write_unnamed(target, write, mode):
    """Write ``target`` through a file with no name (Linux's O_TMPFILE) that gets one only
    when it is complete, just before the rename: a kill before that leaves nothing.
    False, having written nothing, where the OS or the filesystem has no unnamed files."""
    if not hasattr(os, "O_TMPFILE"):
        return False
    folder, name = os.path.split(target)
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o666)     # 0666 less the umask
    except OSError:
        return False      # not supported here; or a real problem, which _write_named reports
    if not os.path.exists(f"/proc/self/fd/{fd}"):     # the way to give it a name (no /proc)
        os.close(fd)
        return False
    folder_fd = temporary = None
    try:
        with os.fdopen(fd, "wb") as file:
            _fill(file, write, mode)
            folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            name_for_now = _temporary_name(name)
            # linkat(..., AT_SYMLINK_FOLLOW): the file the /proc link stands for gets a name
            os.link(f"/proc/self/fd/{fd}", name_for_now, dst_dir_fd=folder_fd, follow_symlinks=True)
            temporary = name_for_now
        os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        if temporary is not None:
            _remove_if_there(temporary, folder_fd)
        raise
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    return True


def _write_named(target, write, mode):
    """Write ``target`` through a named temporary file beside it (where there are no unnamed
    files), removed on any error or interruption short of a kill."""
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, _temporary_name(name))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o666)                            # 0666 less the umask
    try:
        with os.fdopen(fd, "wb") as file:
            _fill(file, write, mode)
        os.replace(temporary, target)
    except BaseException:
        _remove_if_there(temporary)
        raise


def _fill(file, write, mode):
    """Give the new file its permission bits (None: keep open()'s), write it and flush it
    to disk."""
    if mode is not None:
        os.chmod(file.fileno(), mode)
    write(file)
    file.flush()
    os.fsync(file.fileno())


def _temporary_name(name):
    """A fresh hidden name for a temporary file of ``name``: .NAME-XXXXXXXX.tmp."""
    return f".{name}-{''.join(secrets.choice(TEMPORARY_LETTERS) for _ in range(8))}.tmp"


def _remove_if_there(path, folder_fd=None):
    try:
        os.remove(path, dir_fd=folder_fd)
    except FileNotFoundError:
        pass


def _remove_stale_temporaries(target):
    """Remove the temporary files that killed writes of ``target`` left beside it: files
    named exactly as _temporary_name names them for target and unchanged for STALE_AFTER
    seconds (a younger one may be another process's write in progress). Best effort: a
    file that cannot be removed now is left for the next write."""
    folder, name = os.path.split(target)
    ours = re.compile(re.escape(f".{name}-") + f"[{re.escape(TEMPORARY_LETTERS)}]{{8}}"
                      + re.escape(".tmp"))
    now = time.time()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if (ours.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
                        and now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER):
                    _remove_if_there(entry.path)
    except OSError:
        pass


class _Terminated(BaseException):
    """SIGTERM arrived during a write (see _sigterm_raises)."""


@contextmanager
def _sigterm_raises():
    """Within: SIGTERM raises _Terminated, as Ctrl-C raises KeyboardInterrupt, so the write
    removes its temporary file; afterwards the process ends by SIGTERM, as it would have.
    Only in the main thread (the one that may set handlers) and where SIGTERM has its
    default action: a program's own handler is left alone."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL):
        yield
        return
    received = []

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)    # a second one must not stop the clean-up
        received.append(signum)
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if received:
            signal.raise_signal(signal.SIGTERM)


# what to do about an OSError while writing, by its errno
_WHAT_TO_DO = {
    errno.ENOSPC: "the disk is full: free some space or write to another disk",
    errno.EACCES: "make the folder (or the file) writable, or write somewhere else",
    errno.EPERM: "make the folder (or the file) writable, or write somewhere else",
    errno.EROFS: "the filesystem is read-only: write somewhere else",
    errno.ENOENT: "the folder does not exist: create it first (os.makedirs)",
    errno.ENOTDIR: "a part of the path is a file, not a folder: correct the path",
    errno.ELOOP: "the path has a loop of symbolic links: correct the links or the path",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter one",
}


def _naming_the_target(err, who, given, target):
    """The OSError ``err`` again, of the same type and errno, with a message that names
    the file the caller asked for (not a temporary file) and says what to do."""
    what_to_do = _WHAT_TO_DO.get(err.errno, "see the error it came from")
    message = (f"{who}: could not write {_shown(given, target)}: {err.strerror or err}; "
               f"{what_to_do}. The old file there, if any, is unchanged.")
    arguments = (message,) if err.errno is None else (err.errno, message)
    try:
        return type(err)(*arguments)
    except TypeError:                 # an OSError subclass that takes other arguments
        return OSError(*arguments)
