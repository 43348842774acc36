"""``python -m ccviz_kernel.cli``: the fallback hook command when no ``ccviz`` script exists."""

import sys

from . import main

sys.exit(main())
