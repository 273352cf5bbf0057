"""PROMETHEUS_MULTIPROC_DIR: where each process writes its values in multiprocess mode.

prometheus_client reads the variable when it is imported: set it in the environment of every
process that serves or records (gunicorn and so its workers, `flask scheduler`, `flask outbox
run`), all pointing at the same directory, and a scrape of any worker sums them all. Unset,
each process counts in its own memory (`make run`, the tests).

The directory holds one file per process and kind (`counter_<pid>.db`, `histogram_<pid>.db`,
...). Files of processes that exited stay: their counts are part of the totals, which must not
go backwards while the server runs. gunicorn.conf.py calls `clear_stale` when the server starts
(a fresh server starts its counts from zero, as Prometheus expects after a restart) and
`process_exited` when a worker exits. Kept apart from the metrics themselves, so the gunicorn
master imports no app code.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


def configured() -> str | None:
    """The directory when multiprocess mode is on, else None."""
    return os.environ.get(ENV) or None


def prepare() -> None:
    """Create the configured directory if it is missing: a value's first write needs it."""
    directory = configured()
    if directory:
        os.makedirs(directory, exist_ok=True)


def clear_stale(directory: str) -> int:
    """Delete the files of processes that are no longer running; how many were deleted.

    Called as the server starts, before its workers exist: what is left of the previous
    server goes, while a process still running beside it (a `flask scheduler` started first,
    writing to the same directory) keeps its files, so its counts are not lost.
    """
    os.makedirs(directory, exist_ok=True)
    removed = 0
    for path in Path(directory).glob("*.db"):
        pid = _pid_of(path)
        if pid is None or _running(pid):  # not prometheus_client's, or its process still runs
            continue
        path.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("metrics: removed %d file(s) of exited processes from %s", removed, directory)
    return removed


def process_exited(pid: int) -> None:
    """A process writing to the configured directory exited: its live gauges no longer count.

    Counters and histograms stay (see the module doc); prometheus_client removes the gauge
    files that are summed only over live processes.
    """
    directory = configured()
    if directory:
        # imported here, not at the top: prometheus_client picks its mode from the environment
        # when first imported, and the gunicorn master imports this module before `.env` is read
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


def _pid_of(path: Path) -> int | None:
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
