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

from cache.claims import CLAIMS_DIR, FLIP_CLAIMS_DIR, ShardClaims
from cache.store import FeatureStore

log = logging.getLogger(__name__)


class ShardQueue:
    """Shards for this process, claimed lazily (the DataLoader's sampler pulls them as it prefetches).

    ``flip``: the shards of the flip pass (``feat_flip``), with their own done flags and claims."""

    def __init__(self, store: FeatureStore, *, max_shards: int | None = None, poll_seconds: float = 2.0,
                 flip: bool = False):
        self.store = store
        self.flip = flip
        self.claims = ShardClaims(store.path, FLIP_CLAIMS_DIR if flip else CLAIMS_DIR)
        self.max_shards = max_shards
        self.poll_seconds = poll_seconds
        self.claimed: list[int] = []

    def pending(self) -> list[int]:
        return self.store.pending_flip_shards() if self.flip else self.store.pending_shards()

    def _is_done(self, shard: int) -> bool:
        return self.store.is_flip_shard_done(shard) if self.flip else self.store.is_shard_done(shard)

    def _budget_left(self) -> bool:
        return self.max_shards is None or len(self.claimed) < self.max_shards

    def claim_round(self) -> Iterator[int]:
        """Claim and yield pending shards until none is claimable (each re-checked as not done after
        its claim is won: another process may have finished it since the pending list was read)."""
        for shard in self.pending():
            if not self._budget_left():
                return
            if not self.claims.try_claim(shard):
                continue
            if self._is_done(shard):
                self.claims.release(shard)
                continue
            self.claimed.append(shard)
            yield shard

    def wait_for_others(self) -> bool:
        """Block while other live processes hold pending shards. True when some became claimable
        (a holder died): run another ``claim_round``. False when nothing is pending any more."""
        announced = False
        while self._budget_left():
            pending = self.pending()
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
