"""`python -m bot` is `newsbot`."""

import sys

from bot.ops.cli import main

sys.exit(main())
