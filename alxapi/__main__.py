"""`python -m alxapi` is the same as `alx`."""

import sys

from .cli import main

sys.exit(main())
