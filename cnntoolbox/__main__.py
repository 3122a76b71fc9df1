"""The command line: ``cnntoolbox [train] [options]`` and its other commands.

Every command is parsed and dispatched here: ``train`` (the default: the
toolbox's MNIST example, or ``--replay`` of the recorded Octave run),
``mnist-mat`` (``mnist_uint8.mat`` for MATLAB), ``compare`` (replay a
MATLAB-saved net and compare it field by field) and ``figures``. The modules
behind them (:mod:`cnntoolbox.cli.example`, :mod:`cnntoolbox.reference.replay`,
:mod:`cnntoolbox.reference.compare`, :mod:`cnntoolbox.datasets.mnist`) hold only the logic and
print nothing but ``cnntrain``'s epoch lines.

``figures`` alone keeps its argument parsing in its module,
:mod:`cnntoolbox.teaching.figures`, and gets its arguments untouched: it is
part of the teaching subpackage, which is kept apart from the toolbox (the
toolbox never imports it) and which needs matplotlib; its parser follows
the same rules (program name ``cnntoolbox figures``, errors
``cnntoolbox figures: error: ...``).

Every command is named ``cnntoolbox <command>`` in its usage, and bad
usage or input ends with one line on stderr, ``cnntoolbox <command>: error:
...``, and exit status 2 (a traceback with ``--debug``). ``--quiet`` prints
only the result.
"""

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import __version__
from .files import atomic
from .cli import PROG, interrupt, usage_error_line
from .training.checkpoint import interrupted_message
from .reference.compare import RTOL
from .datasets.mnist import load_mnist, write_mnist_mat
from .cli.example import (DATA_SOURCES, DEFAULT_OPTS, PRECISIONS, check_plot_path, plot_rl,
                          run_example)
from .netlayout import DEFAULT_LAYERS, format_layers
from .cli.progress import make_progress
from .reference.replay import compare_replay, load_reference, replay, replay_file

#: The subcommand that parses its own arguments, passed on untouched to its ``main(argv)``.
FIGURES = "figures"
#: Its module.
FIGURES_MODULE = "cnntoolbox.teaching.figures"


class UsageError(Exception):
    """Bad command-line usage (exit status 2); ``prog`` names the command."""

    def __init__(self, message, prog=None):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message, self.prog)


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


def _real(text, accept, expected):
    """An argparse value: a float for which ``accept(value)`` holds, else an error saying ``expected``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not accept(value):                  # NaN is refused by every test below
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_float(text):
    return _real(text, lambda v: 0 < v < float("inf"), "a positive number")


def _momentum(text):
    return _real(text, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _penalty(text):
    return _real(text, lambda v: 0 <= v < float("inf"), "a number >= 0")


def _tolerance(text):
    return _real(text, lambda v: v >= 0, "a number >= 0")


def build_parser():
    """The argparse parser of every command (``figures`` is listed only)."""
    parser = _Parser(prog=PROG, description=(
        "Python port of the CNN of the Matlab DeepLearnToolbox. Without a command, "
        "runs 'train': the toolbox's MNIST example (test_example_CNN.m)."))
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="show the traceback of an error")
    data = _Parser(add_help=False)
    data.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                      help="folder of the MNIST IDX files (default: those installed with the package)")

    train = commands.add_parser(
        "train", parents=[debug, data], help="train and test the MNIST example (default)",
        description="Train the net on MNIST and print the test error, like test_example_CNN.m.")
    train.add_argument("--epochs", type=_positive_int,
                       help=f"numepochs (default {DEFAULT_OPTS['numepochs']})")
    train.add_argument("--batchsize", type=_positive_int,
                       help=f"batch size; must divide the number of samples "
                            f"(default {DEFAULT_OPTS['batchsize']})")
    train.add_argument("--alpha", type=_positive_float,
                       help=f"learning rate (default {DEFAULT_OPTS['alpha']:g})")
    train.add_argument("--layers", metavar="SPEC",
                       help=f"net after the input layer: NcK = N maps of KxK kernels (sigmoid; NcKr "
                            f"relu, NcKt tanh, NcKl linear), Ns = mean-pool by N (Nm: max-pool), "
                            f"then Nf = N fully connected units (Nfr, Nft, Nfl) "
                            f"(default {DEFAULT_LAYERS})")
    train.add_argument("--output", choices=["sigm", "softmax"],
                       help="output layer: sigm with squared error (default, the original) or "
                            "softmax with cross-entropy")
    train.add_argument("--momentum", type=_momentum, metavar="M",
                       help="momentum in [0, 1): v = M*v - alpha*grad, w = w + v (default: none)")
    train.add_argument("--dropout", type=_momentum, metavar="P",
                       help="net['dropoutFraction'] in [0, 1): in training, fv and each 'f' "
                            "layer's output times a 0/1 mask (1 where rand > P); in testing "
                            "times 1 - P (default: none)")
    train.add_argument("--weight-penalty", type=_penalty, metavar="LAMBDA",
                       help="L2 weight decay opts['weightPenaltyL2']: kernels and ffW step along "
                            "grad + LAMBDA*w, biases not (default: none)")
    train.add_argument("--alpha-decay", type=_positive_float, metavar="D",
                       help="multiply alpha by D after each epoch (default: constant alpha)")
    train.add_argument("--data", choices=DATA_SOURCES,
                       help="mnist (default; one channel) or synthetic-rgb: 16x16 colour images "
                            "(3 channels), 1500 training and 600 test, the class is the colour of "
                            "a bright square")
    train.add_argument("--precision", choices=list(PRECISIONS),
                       help="double (default, float64) or single: train and test in float32, "
                            "as the toolbox does with single(x)")
    train.add_argument("--seed", type=_seed, help="seed of the initial weights and permutations (default 0)")
    train.add_argument("--limit", type=_positive_int, metavar="N",
                       help="use only the first N training and N test samples (quick runs); "
                            "with --replay: replay the first N samples of the recorded order")
    train.add_argument("--save", type=Path, metavar="NET.mat", help="save the trained net as variable 'cnn'")
    train.add_argument("--format", choices=["7", "7.3"], help="MAT-file version of --save (default 7)")
    train.add_argument("--plot", type=Path, metavar="RL.png",
                       help="plot rL to an image, in the format of its suffix (needs matplotlib)")
    train.add_argument("--replay", type=Path, metavar="REF.mat",
                       help="start from the recorded Octave run (matlab_reference/mnist_example.mat) "
                            "and check that Python ends exactly where it ended")
    train.add_argument("--checkpoint", type=Path, metavar="CK.npz",
                       help="save the training state after every epoch; if the file exists, resume "
                            "from it (same data, --layers, --output, --batchsize, --momentum, "
                            "--weight-penalty, --dropout and "
                            "rates of the epochs done); Ctrl-C keeps the last completed epoch")
    train.add_argument("--quiet", action="store_true",
                       help="print only the result (the test error, or the replay's verdict)")
    train.set_defaults(func=_train)

    mnist_mat = commands.add_parser(
        "mnist-mat", parents=[debug, data], help="write mnist_uint8.mat for the MATLAB example",
        description="Write the toolbox's mnist_uint8.mat (MATLAB v7) from the bundled IDX files.")
    mnist_mat.add_argument("path", nargs="?", type=Path, metavar="PATH",
                           help="output file (default: mnist_uint8.mat in the current folder)")
    mnist_mat.set_defaults(func=_mnist_mat)

    compare = commands.add_parser(
        "compare", parents=[debug], help="compare a MATLAB-saved net with Python, field by field",
        description=("Replay in Python what a MATLAB-saved net allows and compare every field "
                     "with MATLAB's. Exit status 0: all within tolerance; 1: some field is not; "
                     "2: unusable input."))
    compare.add_argument("ref", metavar="REF.mat", help="MAT-file saved by MATLAB or Octave")
    compare.add_argument("var", metavar="VAR", nargs="?",
                         help="the net variable (default: the stages of a matlab_reference "
                              "case file, else the first net with gradients, else the first "
                              "struct with 'layers')")
    compare.add_argument("--alpha", type=_positive_float, default=1.0,
                         help="learning rate of the last update of a trained net (default 1)")
    compare.add_argument("--rtol", type=_tolerance, default=RTOL,
                         help=f"largest relative error that passes (default {RTOL:g})")
    compare.set_defaults(func=_compare)

    commands.add_parser(FIGURES, help=f"make the teaching figures ('{FIGURES} --help' for its "
                                      f"options)")
    return parser


def _check_output(path, option):
    """Fail before any work if an output file cannot be written where asked (the writer's probe)."""
    if path is None:
        return
    try:
        atomic.probe(path)
    except OSError as error:
        raise UsageError(f"{option}: {error.strerror or error}") from None


def _train(args):
    training = {"--epochs": args.epochs, "--batchsize": args.batchsize, "--alpha": args.alpha,
                "--layers": args.layers, "--seed": args.seed, "--checkpoint": args.checkpoint,
                "--output": args.output, "--momentum": args.momentum,
                "--alpha-decay": args.alpha_decay, "--data": args.data,
                "--weight-penalty": args.weight_penalty, "--dropout": args.dropout,
                "--precision": args.precision}
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
            check_plot_path(args.plot)
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'cnntoolbox[plot]'") from None
        except ValueError as exc:
            raise UsageError(f"--plot: {exc}") from None
    if args.save is not None:
        from .matfile import savemat   # fail before training if the writer is missing
    if args.batchsize is not None and args.limit is not None and args.limit % args.batchsize:
        raise UsageError(f"--batchsize {args.batchsize} must divide the number of training "
                         f"samples, --limit {args.limit}")

    say = (lambda *_: None) if args.quiet else print
    start = time.perf_counter()
    if args.replay is not None:
        net, er, ok = _replay(args, say)
    else:
        numepochs = args.epochs or DEFAULT_OPTS["numepochs"]
        progress = make_progress(numepochs, args.quiet)
        result = run_example(
            layers=DEFAULT_LAYERS if args.layers is None else args.layers,
            alpha=args.alpha or DEFAULT_OPTS["alpha"],
            batchsize=args.batchsize or DEFAULT_OPTS["batchsize"], numepochs=numepochs,
            seed=0 if args.seed is None else args.seed, limit=args.limit, data_dir=args.data_dir,
            progress=progress, checkpoint=args.checkpoint,
            verbose=progress is None and not args.quiet, output=args.output,
            momentum=args.momentum, alpha_decay=args.alpha_decay, data=args.data or "mnist",
            weight_penalty=args.weight_penalty, dropout=args.dropout,
            precision=args.precision or "double")
        net, er, ok = result["net"], result["er"], True
        single = " in single precision (float32)" if args.precision == "single" else ""
        say(f"net {format_layers(net['layers'])}, {result['m_train']} training and "
            f"{result['m_test']} test samples{single}")
        print(f"test error: {100 * er:.2f}% ({len(result['bad'])} of {result['m_test']} wrong)")
        say(f"training took {result['train_seconds']:.1f} s")
    if args.save is not None:
        savemat(args.save, {"cnn": net}, format=args.format or "7")
        say(f"saved the net as 'cnn' in {args.save} (MAT-file v{args.format or '7'})")
    if args.plot is not None:
        plot_rl(net["rL"], args.plot)
        say(f"plotted rL to {args.plot}")
    say(f"elapsed: {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1


def _replay(args, say):
    """--replay: train from the recording, print the comparison; (net, er, all fields OK).

    The verdict line is the result; the table comes first unless ``--quiet``
    (and then too when a field differs).
    """
    reference = load_reference(args.replay)
    numepochs = 1 if args.limit else len(reference["kk"])
    progress = make_progress(numepochs, args.quiet)
    net, er, bad = replay(reference, load_mnist(args.data_dir), nsamples=args.limit,
                          progress=progress, verbose=progress is None and not args.quiet)
    comparisons = compare_replay(reference, net, er, bad)
    ok = all(comparison.passed for comparison in comparisons)
    for comparison in comparisons:
        (print if not ok else say)(comparison.table())
    if er is not None:
        say(f"test error: {100 * er:.2f}% (recorded: {100 * reference['er']:.2f}%)")
    scope = (f"the first {args.limit // DEFAULT_OPTS['batchsize']} batches" if args.limit
             else "rL, weights, er and bad")
    print(f"replay of {args.replay}: {'exact match' if ok else 'MISMATCH'} ({scope})")
    return net, er, ok


def _mnist_mat(args):
    path = write_mnist_mat(args.path, args.data_dir)
    print(f"wrote {path}")
    return 0


def _compare(args):
    """``compare REF.mat [VAR]``: one table per replayed stage, then the verdict; the exit status."""
    comparisons = replay_file(args.ref, args.var, args.alpha, args.rtol)
    for comparison in comparisons:
        print(f"== {comparison.title}")
        print(comparison.table())
        print()
    ok = all(comparison.passed for comparison in comparisons)
    total = sum(len(comparison.rows) for comparison in comparisons)
    failed = sum(len(comparison.failures) for comparison in comparisons)
    print(f"{args.ref}: {'PASS' if ok else 'FAIL'}: {total - failed} of {total} fields in "
          f"{len(comparisons)} stages within rtol {args.rtol:g}")
    return 0 if ok else 1


def _figures(argv):
    """Run ``cnntoolbox figures ...`` by its module, which parses its own arguments."""
    try:
        module = importlib.import_module(FIGURES_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != FIGURES_MODULE:
            raise
        print(f"{PROG} {FIGURES}: error: not available ({FIGURES_MODULE} is missing)",
              file=sys.stderr)
        return 2
    return module.main(argv)


def describe(exc):
    """One line for an exception: an OSError as ``file: reason`` (no ``[Errno 2]``)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name)
        text = f"{where}: {exc.strerror}" if where else exc.strerror
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _prog(args):
    """``cnntoolbox <command>`` once the arguments are parsed, else ``cnntoolbox``."""
    return f"{PROG} {args.command}" if args is not None else PROG


def main(argv=None):
    """Entry point; returns the exit status."""
    interrupt.restore()                 # from here on, KeyboardInterrupt is handled below
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == FIGURES:
        return _figures(argv[1:])
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "train")
    debug = "--debug" in argv
    args = None
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except UsageError as exc:
        where = exc.prog or _prog(args)
        print(usage_error_line(where, describe(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        checkpoint = getattr(args, "checkpoint", None)
        saved = (f"; {interrupted_message(checkpoint)}; run the same command again to resume"
                 if checkpoint is not None else "")
        print(f"\n{_prog(args)}: interrupted{saved}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as exc:
        if debug:
            raise
        print(f"{_prog(args)}: error: {describe(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        print(f"{_prog(args)}: error: {type(exc).__name__}: {describe(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
