"""One process at a time through a store-wide pass (joint features after the last shard, and any
later pass that writes a whole derived group rather than claimed shards).

Independent `capf extract` jobs on one store finish their shards at about the same moment, and each
then runs the passes that follow. A pass that builds a temporary group and renames it into place is
not safe to run twice at once (a second run clears the first one's temporary group as a leftover of
a killed run). So such a pass runs under an exclusive ``flock`` on ``<store>/claims_pass/<name>.lock``:
the first process through does the work, the others wait, then find the result in place and skip it.
``flock`` is released by the kernel when its holder dies, so a killed job never blocks the others;
the lock files are never removed (removing a held lock file would let a newcomer lock a new file
beside the old holder's).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path

PASS_LOCKS_DIR = "claims_pass"

log = logging.getLogger(__name__)


@contextlib.contextmanager
def exclusive_pass(store_path: Path, name: str) -> Iterator[None]:
    """Hold the store's lock for pass ``name`` for the body of the ``with`` (waiting, with one log
    line, while another process holds it). The body must re-check whether the pass is still needed."""
    if not Path(store_path).is_dir():  # no store, nothing to share: the body says what is wrong with it
        yield
        return
    directory = Path(store_path) / PASS_LOCKS_DIR
    directory.mkdir(exist_ok=True)
    with open(directory / f"{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process to finish the %s pass on %s", name, store_path)
            waited = time.perf_counter()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log.info("the %s pass of another process ended after %.1f s", name, time.perf_counter() - waited)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
