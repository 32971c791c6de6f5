"""python -m fastem: the fastem command."""

import sys

from .cli import main

sys.exit(main())
