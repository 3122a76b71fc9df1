"""The command line: ``python -m cnntoolbox [train] [options]`` and friends.

``python -m cnntoolbox`` runs the toolbox's MNIST example (``train`` with
its defaults); ``mnist-mat`` writes ``mnist_uint8.mat`` for MATLAB;
``compare`` and ``figures`` hand their arguments to
:mod:`cnntoolbox.compare` and :mod:`cnntoolbox.teaching.figures`. Bad usage or input
ends with one line on stderr and exit status 2 (a traceback with
``--debug``).
"""

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import __version__
from .checkpoint import interrupted_message
from .data import load_mnist, write_mnist_mat
from .example import DEFAULT_OPTS, plot_rl, run_example
from .netfields import DEFAULT_LAYERS, format_layers
from .progress import make_progress

PROG = "cnntoolbox"
#: Subcommands that live in their own module: name -> (module, help).
#: Their arguments are passed on untouched to ``module.main(argv)``.
DELEGATED = {
    "compare": ("cnntoolbox.compare", "compare a MATLAB-saved net with Python, field by field"),
    "figures": ("cnntoolbox.teaching.figures", "make the teaching figures"),
}


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _integer(text, minimum, expected):
    """An argparse value: an int of at least ``minimum``, else an error saying ``expected``."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_int(text):
    return _integer(text, 1, "a positive integer")


def _seed(text):
    return _integer(text, 0, "a non-negative integer")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser():
    """The argparse parser of ``train`` and ``mnist-mat`` (delegated ones are listed only)."""
    parser = _Parser(prog=PROG, description=(
        "Python port of the CNN of the Matlab DeepLearnToolbox. Without a command, "
        "runs 'train': the toolbox's MNIST example (test_example_CNN.m)."))
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help="folder of the MNIST IDX files (default: those installed with the package)")

    train = commands.add_parser(
        "train", parents=[common], help="train and test the MNIST example (default)",
        description="Train the net on MNIST and print the test error, like test_example_CNN.m.")
    train.add_argument("--epochs", type=_positive_int,
                       help=f"numepochs (default {DEFAULT_OPTS['numepochs']})")
    train.add_argument("--batchsize", type=_positive_int,
                       help=f"batch size; must divide the number of samples "
                            f"(default {DEFAULT_OPTS['batchsize']})")
    train.add_argument("--alpha", type=_positive_float,
                       help=f"learning rate (default {DEFAULT_OPTS['alpha']:g})")
    train.add_argument("--layers", metavar="SPEC",
                       help=f"net after the input layer: NcK = N maps of KxK kernels, Ns = subsample by N "
                            f"(default {DEFAULT_LAYERS})")
    train.add_argument("--seed", type=_seed, help="seed of the initial weights and permutations (default 0)")
    train.add_argument("--limit", type=_positive_int, metavar="N",
                       help="use only the first N training and N test samples (quick runs); "
                            "with --replay: replay the first N samples of the recorded order")
    train.add_argument("--save", type=Path, metavar="NET.mat", help="save the trained net as variable 'cnn'")
    train.add_argument("--format", choices=["7", "7.3"], help="MAT-file version of --save (default 7)")
    train.add_argument("--plot", type=Path, metavar="RL.png", help="plot rL to an image (needs matplotlib)")
    train.add_argument("--replay", type=Path, metavar="REF.mat",
                       help="start from the recorded Octave run (matlab_reference/mnist_example.mat) "
                            "and check that Python ends exactly where it ended")
    train.add_argument("--checkpoint", type=Path, metavar="CK.npz",
                       help="save the training state after every epoch; if the file exists, resume "
                            "from it (same data, --alpha, --batchsize and --layers); Ctrl-C keeps "
                            "the last completed epoch")
    train.add_argument("--quiet", action="store_true", help="no live progress display")
    train.set_defaults(func=_train)

    mnist_mat = commands.add_parser(
        "mnist-mat", parents=[common], help="write mnist_uint8.mat for the MATLAB example",
        description="Write the toolbox's mnist_uint8.mat (MATLAB v7) from the bundled IDX files.")
    mnist_mat.add_argument("path", nargs="?", type=Path, metavar="PATH",
                           help="output file (default: mnist_uint8.mat in the current folder)")
    mnist_mat.set_defaults(func=_mnist_mat)

    for name, (_, text) in DELEGATED.items():
        commands.add_parser(name, help=f"{text} ('{name} --help' for its options)")
    return parser


def _check_output(path, option):
    """Fail before any work if an output file cannot be created where asked."""
    if path is not None and not path.resolve().parent.is_dir():
        raise UsageError(f"{option}: folder {path.parent} does not exist")


def _train(args):
    training = {"--epochs": args.epochs, "--batchsize": args.batchsize, "--alpha": args.alpha,
                "--layers": args.layers, "--seed": args.seed, "--checkpoint": args.checkpoint}
    if args.replay is not None:
        given = [name for name, value in training.items() if value is not None]
        if given:
            raise UsageError(f"--replay takes the net and options from the recording; "
                             f"drop {', '.join(given)}")
    if args.format is not None and args.save is None:
        raise UsageError("--format applies to --save, which is missing")
    _check_output(args.save, "--save")
    _check_output(args.plot, "--plot")
    _check_output(args.checkpoint, "--checkpoint")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'cnntoolbox[plot]'") from None
    if args.save is not None:
        from .matfile import savemat   # fail before training if the writer is missing
    if args.batchsize is not None and args.limit is not None and args.limit % args.batchsize:
        raise UsageError(f"--batchsize {args.batchsize} must divide the number of training "
                         f"samples, --limit {args.limit}")

    start = time.perf_counter()
    if args.replay is not None:
        net, er, ok = _replay(args)
    else:
        numepochs = args.epochs or DEFAULT_OPTS["numepochs"]
        result = run_example(
            layers=DEFAULT_LAYERS if args.layers is None else args.layers,
            alpha=args.alpha or DEFAULT_OPTS["alpha"],
            batchsize=args.batchsize or DEFAULT_OPTS["batchsize"], numepochs=numepochs,
            seed=0 if args.seed is None else args.seed, limit=args.limit, data_dir=args.data_dir,
            progress=make_progress(numepochs, args.quiet), checkpoint=args.checkpoint)
        net, er, ok = result["net"], result["er"], True
        print(f"net {format_layers(net['layers'])}, {result['m_train']} training and "
              f"{result['m_test']} test samples")
        print(f"test error: {100 * er:.2f}% ({len(result['bad'])} of {result['m_test']} wrong)")
        print(f"training took {result['train_seconds']:.1f} s")
    if args.save is not None:
        savemat(args.save, {"cnn": net}, format=args.format or "7")
        print(f"saved the net as 'cnn' in {args.save} (MAT-file v{args.format or '7'})")
    if args.plot is not None:
        plot_rl(net["rL"], args.plot)
        print(f"plotted rL to {args.plot}")
    print(f"elapsed: {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1


def _replay(args):
    """--replay: train from the recording, print the comparison; (net, er, all fields OK)."""
    from .replay import compare_replay, format_table, load_reference, replay

    reference = load_reference(args.replay)
    numepochs = 1 if args.limit else len(reference["kk"])
    net, er, bad = replay(reference, load_mnist(args.data_dir), nsamples=args.limit,
                          progress=make_progress(numepochs, args.quiet))
    rows = compare_replay(reference, net, er, bad)
    ok = all(row[4] for row in rows)
    print(format_table(rows))
    if er is not None:
        print(f"test error: {100 * er:.2f}% (recorded: {100 * reference['er']:.2f}%)")
    scope = (f"the first {args.limit // DEFAULT_OPTS['batchsize']} batches" if args.limit
             else "rL, weights, er and bad")
    print(f"replay of {args.replay}: {'exact match' if ok else 'MISMATCH'} ({scope})")
    return net, er, ok


def _mnist_mat(args):
    path = write_mnist_mat(args.path, args.data_dir)
    print(f"wrote {path}")
    return 0


def _delegate(name, argv):
    """Run ``python -m cnntoolbox NAME ...`` by the module that owns it."""
    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"{PROG}: error: '{name}' is not available ({module_name} is missing)", file=sys.stderr)
        return 2
    return module.main(argv)


def _one_line(exc):
    return " ".join(str(exc).split())


def main(argv=None):
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return _delegate(argv[0], argv[1:])
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "train")
    debug = "--debug" in argv
    args = None
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"{PROG}: error: {_one_line(exc)} (see '{PROG} --help')", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        checkpoint = getattr(args, "checkpoint", None)
        saved = (f"; {interrupted_message(checkpoint)}; run the same command again to resume"
                 if checkpoint is not None else "")
        print(f"\n{PROG}: interrupted{saved}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as exc:
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        print(f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
