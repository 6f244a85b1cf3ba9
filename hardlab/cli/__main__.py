"""`python -m hardlab.cli`: the same as the `hardlab` command."""

import sys

from hardlab.cli import main

sys.exit(main())
