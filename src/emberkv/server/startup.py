"""What runs between "Server initialized" and "Ready to accept connections": persistence comes up.

With ``appendonly no`` the dataset comes from ``dbfilename`` (the RDB); the RDB saver then watches the
save points. A dataset that cannot be loaded stops start-up (exit code 1) with one clear line.
"""

from __future__ import annotations

from emberkv.persistence.loading import LoadError, load_rdb
from emberkv.persistence.saving import RdbSaver
from emberkv.server.app import Server


async def start_persistence(server: Server) -> bool:
    """Load the dataset and attach persistence; False when start-up must stop (logged already)."""
    server.rdb = RdbSaver(server)
    try:
        await load_rdb(server, server.rdb.path)
    except LoadError as exc:
        server.log.warning(str(exc))
        return False
    return True
