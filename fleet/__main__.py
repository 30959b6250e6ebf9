"""python -m fleet: the kiosk-fleet command."""

import sys

from fleet.cli import main

sys.exit(main())
