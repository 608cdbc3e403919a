"""Per-shard claims, so independent extraction processes on one store share its pending shards.

Array jobs on a cluster start several `capf extract` processes on the same inputs, hence the same
store, that know nothing of each other (no torchrun group, no barrier). Each shard is taken by
whoever first creates its claim file atomically (a complete private file hard-linked to the claim's
name: like ``O_CREAT | O_EXCL``, one creator wins, on local disks and NFS alike), so no shard is computed twice and none is rewritten:

    <store>/claims/<shard>.claim     {"host": ..., "pid": ..., "time": ..., "started": ...}

A claim is released (the file removed) once its shard is flagged done (the folder goes when the
store is complete), and a claim whose process
is gone is *stale*: a process on the same host that finds one takes it over, so a killed job's
shards are finished by whoever is still running. Liveness can only be judged on the claim's own
host (``pid`` plus the process's start time, which tells a recycled pid apart); claims of other
hosts are left alone. Take-overs are serialised by an ``flock`` on ``claims/.takeover`` and re-read
the claim under the lock, so two processes never both take the same stale claim and a live claim
is never removed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

CLAIMS_DIR = "claims"
FLIP_CLAIMS_DIR = "claims_flip"  # the flip pass's claims (`capf extract --flip`): its own shards
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_start_time(pid: int) -> float | None:
    """Start time of process ``pid`` in seconds since the epoch (Linux /proc), or None if unknown/gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and brackets
    return boot + int(fields[19]) / _CLOCK_TICKS  # field 22 of stat: starttime in clock ticks


@dataclass(frozen=True)
class Claim:
    """Who holds a shard: host name, pid, when the claim was made and when that process started."""

    shard: int
    host: str
    pid: int
    time: float
    started: float | None

    @classmethod
    def mine(cls, shard: int) -> "Claim":
        return cls(shard, socket.gethostname(), os.getpid(), time.time(), _process_start_time(os.getpid()))

    def is_alive(self) -> bool:
        """False only when this host can tell the holder is gone: no such pid, or a pid reused by a
        process that started after the claim was made. Claims of other hosts count as alive."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by someone else
        now_started = _process_start_time(self.pid)
        if self.started is not None and now_started is not None and abs(now_started - self.started) > 1.0:
            return False  # the pid now belongs to another process
        return True


class ShardClaims:
    """Claim files of one store: ``try_claim`` a shard, ``release`` it once it is done."""

    def __init__(self, store_path: Path, folder: str = CLAIMS_DIR):
        self.directory = Path(store_path) / folder
        self.directory.mkdir(exist_ok=True)
        self.taken_over: list[Claim] = []  # stale claims this process took over (for its summary)

    def _path(self, shard: int) -> Path:
        return self.directory / f"{shard}.claim"

    def holder(self, shard: int) -> Claim | None:
        """The current claim of ``shard``, or None (also for a claim file still being written)."""
        try:
            return Claim(**json.loads(self._path(shard).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _create(self, shard: int) -> bool:
        """Atomically create the claim with its content: written to a private file first, then
        hard-linked to the claim's name (``link`` fails if the name exists, like ``O_EXCL``), so a
        claim file is never seen half-written, even when its writer dies mid-way."""
        self.directory.mkdir(exist_ok=True)  # removed once the store completed: a late claim finds it done
        private = self.directory / f".{shard}.{socket.gethostname()}.{os.getpid()}.{time.time_ns()}"
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(asdict(Claim.mine(shard)), handle)
            os.link(private, self._path(shard))
            return True
        except FileExistsError:
            return False
        finally:
            private.unlink(missing_ok=True)

    def try_claim(self, shard: int) -> bool:
        """Claim ``shard`` for this process: True if it is ours now (freshly, or taken over from a
        dead process on this host), False if a live process holds it."""
        if self._create(shard):
            return True
        holder = self.holder(shard)
        if holder is None or holder.is_alive():
            return holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname()
        self.directory.mkdir(exist_ok=True)
        with open(self.directory / ".takeover", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                again = self.holder(shard)
                if again != holder:  # someone else took it over or released it meanwhile
                    return self._create(shard) if again is None else False
                try:
                    self._path(shard).unlink()
                except FileNotFoundError:
                    pass
                if self._create(shard):
                    self.taken_over.append(holder)
                    return True
                return False
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def release(self, shard: int) -> None:
        """Remove this process's claim of ``shard`` (after the shard is flagged done)."""
        holder = self.holder(shard)
        if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
            try:
                self._path(shard).unlink()
            except OSError as error:
                if error.errno != errno.ENOENT:
                    raise

    def live_holders(self, shards: list[int]) -> dict[int, Claim]:
        """Shards among ``shards`` held by a live process other than this one."""
        out = {}
        for shard in shards:
            holder = self.holder(shard)
            if holder is not None and holder.is_alive() and not (
                    holder.pid == os.getpid() and holder.host == socket.gethostname()):
                out[shard] = holder
        return out
