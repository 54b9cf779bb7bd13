"""An import run in a background thread, so that a page can show its progress and a Cancel button (issue 20).

The page starts an ``ImportJob`` with a function ``run(progress, cancel)`` (an importer called with
``progress=`` and ``cancel=``), then polls ``fraction``, ``text`` and ``done``; ``cancel()`` sets the event the
runner checks between batches and before it commits, so a cancelled import writes nothing. The thread never
touches the page.

Imports on one server take turns (``SLOTS``, one at a time): the memory of an import is bounded by the limits of
its file (config [limits]) and by streaming, and one import at a time keeps the server's total under its memory
limit however many people press Import at once. A job waiting for its turn says so and can be cancelled too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kpis.imports.runner import ImportCancelled, Progress

SLOTS = threading.BoundedSemaphore(1)  # imports running at once in this server process
WAIT_STEP = 0.2  # seconds between looks at the cancel button while waiting for a turn
COMMITTING = 0.98  # importers report this fraction as they commit, and only after it what follows the commit


class ImportJob:
    """One import in a background thread: its progress, its outcome (``result`` or ``error``) and its cancel."""

    def __init__(self, run: Callable[[Progress, threading.Event], Any], *, name: str = "import"):
        self._run_fn = run
        self.name = name
        self.cancel_event = threading.Event()
        self.fraction, self.text = 0.0, "waiting to start"
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"import {name}", daemon=True)

    def start(self) -> ImportJob:
        self._thread.start()
        return self

    def _progress(self, fraction: float, text: str) -> None:
        """The importer's progress; once Cancel is pressed, the next report before the commit stops the import
        (ImportCancelled, raised inside the import's transaction, which is rolled back)."""
        if self.cancel_event.is_set() and fraction < COMMITTING:
            raise ImportCancelled("import cancelled; nothing was written")
        self.fraction, self.text = min(max(float(fraction), 0.0), 1.0), text

    def _run(self) -> None:
        try:
            while not SLOTS.acquire(timeout=WAIT_STEP):
                self.text = "waiting for another import to finish"
                if self.cancel_event.is_set():
                    raise ImportCancelled("import cancelled; nothing was written")
            try:
                if self.cancel_event.is_set():
                    raise ImportCancelled("import cancelled; nothing was written")
                self._progress(0.01, f"reading {self.name}")
                self.result = self._run_fn(self._progress, self.cancel_event)
            finally:
                SLOTS.release()
        except BaseException as e:  # the page shows it (ImportFailed, NotAllowed) or raises it there
            self.error = e

    def cancel(self) -> None:
        """Ask the import to stop: it stops at the next batch (or before it commits) and writes nothing."""
        self.cancel_event.set()
        self.text = "cancelling…"

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, ImportCancelled)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; whether it has."""
        self._thread.join(timeout)
        return self.done


def upload(engine, kind: str, data: bytes, filename: str, *, config, user, sheet: str | None = None) -> ImportJob:
    """A started job importing an uploaded file of `kind` (the Data page's kinds: actuals, demand, forecasts,
    assessments, meetings, decisions, actions, comments); actuals, demand and forecasts can be cancelled while they run,
    the others (small tables) until they start."""

    def run(progress: Progress, cancel: threading.Event):
        if kind == "actuals":
            from kpis.catalog.load import import_actuals

            return import_actuals(
                engine, data, filename, config=config, user=user, sheet=sheet, progress=progress, cancel=cancel
            )
        if kind in ("demand", "forecasts"):
            from kpis.forecast.load import import_file

            return import_file(
                engine,
                data,
                kind=kind,
                config=config,
                user=user,
                filename=filename,
                sheet=sheet,
                progress=progress,
                cancel=cancel,
            )
        if kind == "comments":
            from kpis.commentary import import_comments

            return import_comments(engine, data, filename, config=config, user=user, sheet=sheet)
        if kind == "assessments":
            from kpis.maturity.load import import_assessments as importer
        elif kind == "meetings":
            from kpis.sponsorship.load import import_meetings as importer
        elif kind == "decisions":
            from kpis.sponsorship.load import import_decisions as importer
        elif kind == "actions":
            from kpis.improvement.load import import_actions as importer
        else:
            raise ValueError(f"unknown import kind {kind!r}")
        return importer(engine, data, filename, config=config, user=user)

    return ImportJob(run, name=filename).start()
