"""``python -m cnntoolbox.teaching [--full]``: the worked example's trace (see :mod:`.worked`)."""

import argparse
import sys

from ..errors import GradientCheckError
from .text import trace
from .worked import StepMismatchError, run_example


def main(argv=None):
    """Print the trace; exit status 1 if a check fails."""
    parser = argparse.ArgumentParser(
        prog="python -m cnntoolbox.teaching",
        description="The worked example of the blog post, step by step, "
                    "every number checked against cnnff/cnnbp/cnnapplygrads.")
    parser.add_argument("--full", action="store_true",
                        help="print every map whole (default: maps larger than 6x6 by their top-left 4x4)")
    args = parser.parse_args(argv)
    try:
        ex = run_example()
    except (StepMismatchError, GradientCheckError) as error:
        print(f"cnntoolbox.teaching: check failed: {error}", file=sys.stderr)
        return 1
    print("\n".join(trace(ex, full=args.full)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
