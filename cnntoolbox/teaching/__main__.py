"""``python -m cnntoolbox.teaching``: the worked example's trace (see :mod:`.worked`)."""

import sys

from .worked import main

sys.exit(main())
