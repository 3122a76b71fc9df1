"""Ctrl-C while a ``cnntoolbox`` command starts: one line and exit status 130, no traceback.

Importing numpy and scipy takes the first half second of every command,
before ``__main__.main`` can catch ``KeyboardInterrupt``.  The package's
``__init__`` installs this handler first thing when the process is the
``cnntoolbox`` command (``python -m cnntoolbox`` or the ``cnntoolbox``
script); ``main`` puts Python's own handler back once it runs.  A program
that merely imports the package keeps Python's handler.  This module
imports nothing heavy.
"""

import os
import signal
import sys
import threading

from . import PROG


def command_starting():
    """True while the ``cnntoolbox`` command imports the package.

    That is ``python -m cnntoolbox`` (Python sets ``sys.argv[0]`` to ``"-m"``
    while it imports the module's package; ``sys.orig_argv`` names the
    module) or the installed script ``cnntoolbox``; both run
    ``__main__.main``, which restores Python's handler.  Other modules run
    with ``-m`` (``cnntoolbox.teaching``, ...) keep Python's handler.
    """
    first = sys.argv[0] if sys.argv else ""
    if first == "-m":
        command = getattr(sys, "orig_argv", [])
        return any(arg == "-m" and module == PROG for arg, module in zip(command, command[1:]))
    return os.path.splitext(os.path.basename(first))[0] == PROG


def _interrupted(signum, frame):
    # Ends the process here: an exception raised inside an import would reach
    # C code that turns it into an ImportError (numpy's does).  Nothing has
    # been written yet that would need flushing or cleaning up.
    os.write(sys.stderr.fileno(), f"\n{PROG}: interrupted\n".encode())
    os._exit(130)


def install():
    """Ctrl-C ends the process at once with one line on stderr and status 130 (main thread only)."""
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


def restore():
    """Python's own Ctrl-C handler again (``KeyboardInterrupt``), if ``install`` replaced it."""
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
