"""`python -m emberkv` starts the server, like `emberkv-server`."""

import sys

from emberkv.server.main import main

sys.exit(main())
