"""The command line's parts: the MNIST example, the progress line, Ctrl-C at start-up.

The commands themselves are parsed in :mod:`cnntoolbox.__main__`.
"""

#: The command's name, in its messages and ``--version``.
PROG = "cnntoolbox"


def usage_error_line(prog, message):
    """The command line's one-line usage error: ``prog: error: message (see 'prog --help')``."""
    return f"{prog}: error: {message} (see '{prog} --help')"
