"""Write a file so that it ends up either complete and checked, or exactly as it was.

Every file the package writes (MAT-files, checkpoints, the MNIST .mat, plots,
figures, the walkthrough) goes through :func:`write`:

1. the path is resolved (a symbolic link is followed: its target is written,
   the link stays a link);
2. stale temporary files of an earlier save to the same file, whose process
   is gone (``kill -9``, power loss), are removed;
3. the contents go to a new temporary file in the same folder, named
   ``.<name>.cnntoolbox-tmp-<pid>-<random>``, which is flushed and synced;
4. its size is checked and the caller's ``verify`` reads it back;
5. only then ``os.replace`` puts it in place (atomic on POSIX and Windows
   within one folder), and the folder is synced so the rename is durable.

Any failure (disk full, quota, permissions, an error while producing the
contents, a failed check, Ctrl-C) removes the temporary file and leaves the
old file as it was; an ``OSError`` is raised again naming the file.  Ctrl-C
(SIGINT in the main thread) is held back while the file is written and
raised as ``KeyboardInterrupt`` once the new file is in place, so the save
is never half done and the interrupt is never lost; a second Ctrl-C stops
the save at once (the old file stays).
"""

import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import threading

#: What marks this package's temporary files: ``.<name>.cnntoolbox-tmp-<pid>-<random>``.
TEMP_MARK = ".cnntoolbox-tmp-"


def write(path, produce, verify=None):
    """Write a file atomically: all of the new contents, checked, or the old file untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; a symbolic link is followed and its target written.
    produce : callable
        ``produce(fileobj)`` writes the contents to a binary file object
        (opened for writing, seekable).
    verify : callable, optional
        ``verify(temp_path)`` reads the written temporary file back and raises
        (preferably ``OSError``) if it is not what was meant.

    Returns
    -------
    str
        The file written (``path`` with symbolic links resolved).

    Raises
    ------
    OSError
        Of the original errno and type, its message naming ``path`` and saying
        that the old file was kept: the folder is missing or read-only, the
        disk or quota is full, or ``verify`` failed.
    KeyboardInterrupt
        After the save, if Ctrl-C was pressed during it.
    Exception
        Whatever ``produce`` raises, with the temporary file removed.
    """
    target, folder, name = _resolve(path)
    mode = _new_file_mode(target)
    with _interrupts_held():
        remove_stale(target)
        temp = None
        try:
            temp, handle = _create_temp(folder, name)
            with open(handle, "wb") as fileobj:
                produce(fileobj)
                fileobj.flush()
                size = fileobj.seek(0, os.SEEK_END)
                os.fsync(fileobj.fileno())
            if os.stat(temp).st_size != size:
                raise OSError(errno.EIO, f"the file on disk holds {os.stat(temp).st_size} "
                              f"bytes, {size} were written")
            if verify is not None:
                verify(temp)
            os.chmod(temp, mode)
            os.replace(temp, target)
            temp = None
        except OSError as error:
            _discard(temp)
            message = (f"cannot write {os.fspath(path)}: {error.strerror or error}; the old "
                       "file (if any) is kept as it was")
            if error.errno is None:
                raise type(error)(message) from None
            raise type(error)(error.errno, message) from None
        except BaseException:
            _discard(temp)
            raise
        _sync_folder(folder)
    return target


def probe(path, what=""):
    """Fail now, as :func:`write` would later, if ``path`` cannot be written.

    The same steps as a write up to its first byte: the link resolved, the
    target checked, the temporary file of the same name created in the same
    folder, then removed (a probe killed in between leaves a file that
    :func:`remove_stale` removes).  Run it before long work whose result
    goes to ``path`` (a 250-character name fails here, not after training).

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for messages: ``"cannot write <what><path>: ..."``.

    Returns
    -------
    str
        The file that will be written (``path`` with links resolved).

    Raises
    ------
    OSError
        As :func:`write` would: no folder, a folder or device at ``path``, no
        permission, a name too long; the message names ``path``.
    """
    target, folder, name = _resolve(path, what)
    remove_stale(target)
    try:
        temp, handle = _create_temp(folder, name)
    except OSError as error:
        raise type(error)(error.errno, f"cannot write {what}{os.fspath(path)}: "
                          f"{error.strerror or error}") from None
    os.close(handle)
    _discard(temp)
    return target


def _resolve(path, what=""):
    """(target, its folder, its name) of ``path``, links resolved; refused if not writable there."""
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    if not os.path.isdir(folder):
        link = f" ({os.fspath(path)} is a link to {target})" if os.path.islink(path) else ""
        raise FileNotFoundError(errno.ENOENT, f"cannot write {what}{os.fspath(path)}: no folder "
                                f"{folder}{link}")
    check_target(path, target, what)
    return target, folder, name


def check_target(path, target, what=""):
    """Refuse to write over ``target`` (``path`` resolved) if it exists and is not a regular file.

    ``os.replace`` would put a regular file in place of a device or a FIFO
    (as root, of ``/dev/null``) and report success.

    Raises
    ------
    IsADirectoryError
        If it is a folder.
    OSError
        (errno ``EINVAL``) For a device, a FIFO or a socket, which is left as it is.
    """
    try:
        info = os.stat(target)
    except OSError:
        return
    kind = file_kind(info.st_mode)
    if kind == "a folder":
        raise IsADirectoryError(errno.EISDIR, f"cannot write {what}{os.fspath(path)}: it is "
                                "a folder")
    if kind:
        raise OSError(errno.EINVAL, f"cannot write {what}{os.fspath(path)}: it is {kind}, not "
                      "a regular file (it is left as it is)")


def file_kind(mode):
    """What a file of ``st_mode`` ``mode`` is, if not a regular file ('' for a regular file)."""
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "" if stat.S_ISREG(mode) else "not a regular file"


def remove_stale(target):
    """Remove the temporary files of earlier saves to ``target`` whose process is gone.

    Only files named ``.<name>.cnntoolbox-tmp-<pid>-<random>`` in its folder
    are touched, and only when no process ``pid`` runs on this machine (a
    live process may still be writing its file).  On Windows, where a
    process cannot be probed safely this way, nothing is removed.
    """
    if os.name == "nt":
        return
    folder, name = os.path.split(os.path.realpath(target))
    pattern = re.compile(rf"\.{re.escape(name)}{re.escape(TEMP_MARK)}(\d+)-[0-9a-f]+\Z")
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, entry))


def _alive(pid):
    """Whether a process ``pid`` exists (POSIX; ``kill(pid, 0)`` sends nothing)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _create_temp(folder, name):
    """A new, empty temporary file for ``name`` in ``folder`` (mode 0600): (path, fd)."""
    while True:
        temp = os.path.join(folder, f".{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                 | getattr(os, "O_BINARY", 0), 0o600)
        except FileExistsError:
            continue


def _discard(temp):
    """Remove the temporary file ``temp`` (None: nothing to remove)."""
    if temp is not None:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _new_file_mode(target):
    """Permissions for the new file: those of the file it replaces, else 0666 minus umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder):
    """Make the rename durable (where the system allows syncing a folder)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def _interrupts_held():
    """Hold back Ctrl-C (SIGINT) inside the block; raise KeyboardInterrupt after it.

    A second Ctrl-C raises at once.  However the block ends, a held Ctrl-C is
    raised (even if code inside swallowed the second one).  Only in the main
    thread and while Python's default handler is installed; otherwise the
    block runs as it is.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    received = []

    def hold(signum, frame):
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        if received:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt
