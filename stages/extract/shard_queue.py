"""Which shards this extraction process computes: claimed one at a time from the store's pending list.

Any number of processes on one store (independent `capf extract` array jobs, torchrun ranks, or
both) run the same loop: iterate the pending shards, compute those whose claim this process wins
(``cache.claims``), and when none is left to claim, wait for the shards other live processes hold;
a holder that dies leaves a stale claim, which the waiting process takes over and computes. So the
store ends complete as long as one process survives, and since a shard's bytes depend only on its
frames, the result is byte-identical to one process's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from cache.claims import ShardClaims
from cache.store import FeatureStore

log = logging.getLogger(__name__)


class ShardQueue:
    """Shards for this process, claimed lazily (the DataLoader's sampler pulls them as it prefetches)."""

    def __init__(self, store: FeatureStore, *, max_shards: int | None = None, poll_seconds: float = 2.0):
        self.store = store
        self.claims = ShardClaims(store.path)
        self.max_shards = max_shards
        self.poll_seconds = poll_seconds
        self.claimed: list[int] = []

    def _budget_left(self) -> bool:
        return self.max_shards is None or len(self.claimed) < self.max_shards

    def claim_round(self) -> Iterator[int]:
        """Claim and yield pending shards until none is claimable (each re-checked as not done after
        its claim is won: another process may have finished it since the pending list was read)."""
        for shard in self.store.pending_shards():
            if not self._budget_left():
                return
            if not self.claims.try_claim(shard):
                continue
            if self.store.is_shard_done(shard):
                self.claims.release(shard)
                continue
            self.claimed.append(shard)
            yield shard

    def wait_for_others(self) -> bool:
        """Block while other live processes hold pending shards. True when some became claimable
        (a holder died): run another ``claim_round``. False when nothing is pending any more."""
        announced = False
        while self._budget_left():
            pending = self.store.pending_shards()
            if not pending:
                return False
            held = self.claims.live_holders(pending)
            if len(held) < len(pending):
                return True  # unclaimed or stale shards: ours to take
            if not announced:
                holders = sorted({f"{c.host}:{c.pid}" for c in held.values()})
                log.warning("waiting for %d shard(s) held by other extraction processes (%s)", len(held),
                            ", ".join(holders))
                announced = True
            time.sleep(self.poll_seconds)
        return False

    def done(self, shard: int) -> None:
        """The shard is flagged done: its claim can go."""
        self.claims.release(shard)
