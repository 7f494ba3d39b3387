"""Progress reports for long transfers: a rich progress bar on a terminal, plain lines otherwise.

Both go to stderr, so stdout stays clean for what scripts capture (the new backup's id, --json). Plain
mode prints a line when a step starts, one every few seconds while it runs, and one when it ends, each
with bytes and rate: readable in a CI log or a cron mail.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

PLAIN_INTERVAL = 5.0


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Task:
    """One step being measured; ``update(done, total)`` as it advances, ``finish()`` at the end."""

    def __init__(self, reporter: Reporter, description: str, total: int | None) -> None:
        self.reporter = reporter
        self.description = description
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.last_line = self.started
        self.rich_id: Any = None

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        self.reporter.updated(self)

    def finish(self) -> None:
        self.reporter.finished(self)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def summary(self) -> str:
        rate = self.done / self.elapsed
        return f"{human_bytes(self.done)} in {self.elapsed:.1f} s ({human_bytes(rate)}/s)"

    def __enter__(self) -> Task:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.reporter.abandoned(self)


class Reporter:
    """Creates tasks; ``mode`` is "rich", "plain" or "off" (chosen from the stream when None)."""

    def __init__(self, mode: str | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode is None:
            mode = "rich" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self.rich: Any = None

    def task(self, description: str, total: int | None = None) -> Task:
        task = Task(self, description, total)
        if self.mode == "rich":
            self._rich().start()
            task.rich_id = self.rich.add_task(description, total=total)
        elif self.mode == "plain":
            self.line(f"{description} ...")
        return task

    def _rich(self) -> Any:
        if self.rich is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TransferSpeedColumn,
            )

            self.rich = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeElapsedColumn(),
                                 console=Console(file=self.stream), transient=False)
        return self.rich

    def updated(self, task: Task) -> None:
        if self.mode == "rich":
            self.rich.update(task.rich_id, completed=task.done, total=task.total)
        elif self.mode == "plain":
            now = time.monotonic()
            if now - task.last_line >= PLAIN_INTERVAL:
                task.last_line = now
                share = f" of {human_bytes(task.total)} ({100 * task.done / task.total:.0f}%)" if task.total else ""
                rate = human_bytes(task.done / task.elapsed)
                self.line(f"{task.description}: {human_bytes(task.done)}{share}, {rate}/s")

    def finished(self, task: Task) -> None:
        if self.mode == "rich":
            self.rich.update(task.rich_id, completed=task.done, total=task.total or task.done)
            self.rich.stop()
            self.rich = None
        elif self.mode == "plain":
            self.line(f"{task.description}: done, {task.summary()}")

    def abandoned(self, task: Task) -> None:
        if self.mode == "rich" and self.rich is not None:
            self.rich.stop()
            self.rich = None

    def line(self, text: str) -> None:
        if self.mode == "off":
            return
        if self.rich is not None:
            self.rich.console.print(text, markup=False, highlight=False)
            return
        self.stream.write(text + "\n")
        self.stream.flush()
