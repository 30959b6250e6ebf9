"""python -m edge_agent: the kiosk-agent command."""

import sys

from edge_agent.cli import main

sys.exit(main())
