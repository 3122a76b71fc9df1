"""cnntoolbox: a faithful and fast Python port of the CNN routines of the Matlab DeepLearnToolbox.

The routines mirror the toolbox's ``CNN/*.m`` files one to one and work on a
dict ``net`` with Matlab's field names; see README.md for the mapping.
"""

__version__ = "0.1.0"

from .cli import interrupt

if interrupt.command_starting():       # Ctrl-C during the imports below: one line, exit 130
    interrupt.install()

from .cnnapplygrads import cnnapplygrads
from .cnnbp import cnnbp
from .cnnff import cnnff
from .cnnnumgradcheck import cnnnumgradcheck
from .cnnpredict import cnnpredict
from .cnnsetup import cnnsetup
from .cnntest import cnntest
from .cnntrain import cnntrain
from .training.checkpoint import CheckpointError
from .datasets.mnist import load_mnist
from .errors import DivergenceError, GradientCheckError, UnknownKeyWarning

__all__ = ["cnnsetup", "cnnff", "cnnbp", "cnnapplygrads", "cnntrain", "cnntest",
           "cnnnumgradcheck", "cnnpredict", "load_mnist", "GradientCheckError", "DivergenceError",
           "UnknownKeyWarning", "CheckpointError", "__version__"]
