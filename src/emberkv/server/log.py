"""Logging in Redis's line format, so operators and tools that grep Redis logs read ours unchanged.

``<pid>:<role> <day> <Mon> <year> <hh:mm:ss.mmm> <level> <message>`` where role is ``M`` (master) and
level is one of ``.`` debug, ``-`` verbose, ``*`` notice, ``#`` warning.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

LEVELS = {"debug": 0, "verbose": 1, "notice": 2, "warning": 3, "nothing": 4}
_MARKS = {0: ".", 1: "-", 2: "*", 3: "#"}


class Logger:
    def __init__(self, level: str = "notice", path: str = "") -> None:
        self.level = LEVELS.get(level, 2)
        self.path = path
        self.stream: TextIO = sys.stdout
        self.reopen(path)

    def reopen(self, path: str) -> None:
        """Log to ``path`` (appending), or to standard output when it is empty, as Redis does."""
        if self.stream is not sys.stdout:
            self.stream.close()
        self.path = path
        self.stream = open(path, "a", buffering=1) if path else sys.stdout

    def set_level(self, level: str) -> None:
        self.level = LEVELS.get(level, 2)

    def log(self, level: int, message: str) -> None:
        if level < self.level:
            return
        now = time.time()
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now))
        line = f"{os.getpid()}:M {stamp}.{int(now * 1000) % 1000:03d} {_MARKS[level]} {message}\n"
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a log that cannot be written must not take the server down

    def debug(self, message: str) -> None:
        self.log(0, message)

    def verbose(self, message: str) -> None:
        self.log(1, message)

    def notice(self, message: str) -> None:
        self.log(2, message)

    def warning(self, message: str) -> None:
        self.log(3, message)
