"""``python -m eventsnn`` is the same as the ``eventsnn`` command."""

import sys

from eventsnn.cli import main

sys.exit(main())
