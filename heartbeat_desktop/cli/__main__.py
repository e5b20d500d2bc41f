"""`python -m heartbeat_desktop.cli`, as it worked when the CLI was one module."""

import sys

from . import main

sys.exit(main())
