"""What runs between "Server initialized" and "Ready to accept connections": persistence comes up.

For now the dataset starts empty; the RDB and AOF layers attach here (load the data, register their
cron and shutdown jobs) as they land.
"""

from __future__ import annotations

from emberkv.server.app import Server


async def start_persistence(server: Server) -> bool:
    """Load the dataset and attach persistence; False when start-up must stop (logged already)."""
    return True
