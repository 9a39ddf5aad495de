"""`python -m racereplay`: the `racereplay` command."""

import sys

from racereplay.cli import main

sys.exit(main())
