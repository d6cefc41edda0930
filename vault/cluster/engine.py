"""The front-end side of the cluster: N shard actors, scatter-gather, and their status.

:class:`ShardCluster` connects to a running Ray cluster and creates (or finds)
the named shard actors; :meth:`ShardCluster.engines` is the
:data:`~vault.he.engine.GalleryEngineFactory` the vault is wired with. Ray
restarts a killed shard (``max_restarts=-1``) and re-runs its ``__init__``,
which reloads its blocks from the store. Calls are never retried by Ray
(``max_task_retries=0``): this module retries them itself, within the caller's
deadline, and otherwise raises :class:`~vault.errors.ShardUnavailable` - an
answer is complete or it is an error, never an OK that misses a shard.

Changes are announced to a shard after the store committed them; if the shard
cannot be reached the announcement is kept and re-sent before that shard's next
query (announcements are idempotent: "reload block b from the store"), so an
acknowledged enrolment is visible once the shard is back.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from vault import deadline
from vault.cluster.shard import GalleryShard, ShardSpecLike, owner_of
from vault.errors import ConfigurationError, ShardUnavailable, VaultError
from vault.he.engine import GalleryEngine, SlotScore
from vault.he.gallery import BlockResidues, GalleryScores
from vault.he.keyset import CkksKeySet

__all__ = ["ShardCluster", "ShardStatus", "ShardedEngine"]

log = logging.getLogger(__name__)

_RETRY_PAUSE = 0.05
_STATUS_TIMEOUT = 2.0
_ANNOUNCE_WAIT = 2.0
#: Probe batches up to this size travel inside the task (each shard's task carries a
#: copy, like any small argument); larger ones go to the object store once and every
#: shard gets the same reference. Measured here: a put reference costs a round trip
#: of ~13 ms against ~3 ms inline for two shards, which at one probe per call is most
#: of the fan-out's cost.
_INLINE_PROBE_BYTES = 16 * 1024


@dataclass(frozen=True)
class ShardStatus:
    """One shard as ``cluster status`` reports it."""

    shard: int
    node: str
    pid: int
    templates: int
    state: str  # ALIVE | RESTARTING | DEAD
    restarts: int = 0
    rss_bytes: int = 0
    load_seconds: float = 0.0


class ShardCluster:
    """N gallery shards on a Ray cluster, shared by every collection.

    Args:
        address: The Ray cluster's GCS address, HOST:PORT.
        shards: Number of shard actors.
        spec: How a shard opens its source (secret-free; kept by Ray with the actor).
        namespace: Ray namespace of the named actors (one per vault).
        call_timeout: Longest wait for a shard when the caller set no deadline.
        start_timeout: Longest wait for every shard to load at start-up.
    """

    def __init__(
        self,
        address: str,
        shards: int,
        spec: ShardSpecLike,
        *,
        namespace: str = "biovault",
        call_timeout: float = 30.0,
        start_timeout: float = 600.0,
    ) -> None:
        if shards < 1:
            raise ConfigurationError("--shards must be at least 1")
        self.shards = shards
        self._call_timeout = call_timeout
        self._pending: dict[int, dict[tuple[str, int], tuple[int, list[int]] | None]] = {}
        self._pending_lock = threading.Lock()
        # ray.init replaces the SIGTERM handler with sys.exit: serve's own graceful
        # shutdown must keep it.
        main = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main else None
        try:
            ray.init(
                address=address,
                namespace=namespace,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigurationError(f"cannot join the Ray cluster at {address}: {e}") from e
        finally:
            if sigterm is not None:
                signal.signal(signal.SIGTERM, sigterm)
        actor: Any = ray.remote(  # type: ignore[call-overload]
            max_restarts=-1, max_task_retries=0, max_concurrency=4, num_cpus=1
        )(GalleryShard)
        self._actors = [
            actor.options(
                name=f"shard-{i}-of-{shards}",
                lifetime="detached",
                get_if_exists=True,
                scheduling_strategy="SPREAD",
            ).remote(spec, i, shards)
            for i in range(shards)
        ]
        started = time.monotonic()
        try:
            ray.get([a.status.remote() for a in self._actors], timeout=start_timeout)
        except GetTimeoutError as e:
            raise ConfigurationError(
                f"the {shards} shards did not load within {start_timeout:g} s"
            ) from e
        except RayTaskError as e:
            raise ConfigurationError(f"a shard could not start: {_cause(e)}") from e
        log.info("%d shards ready in %.1f s", shards, time.monotonic() - started)

    def engines(self, keyset: CkksKeySet, collection: str, dim: int) -> GalleryEngine:
        """The engine of one collection (a :data:`vault.he.engine.GalleryEngineFactory`)."""
        return ShardedEngine(self, collection, dim)

    def close(self) -> None:
        """Leave the cluster; the detached shards keep running for other front-ends."""
        ray.shutdown()

    # --- calls --------------------------------------------------------------------
    def _until(self) -> float:
        left = deadline.remaining()
        return time.monotonic() + (self._call_timeout if left is None else max(left, 0.0))

    def call(self, shard: int, method: str, *args: Any) -> Any:
        """One shard's answer, retried while it restarts, within the deadline."""
        self._flush(shard)
        return self._gather({shard: args}, method)[shard]

    def scatter(self, method: str, *args: Any) -> list[Any]:
        """Every shard's answer to the same call (the same arguments for each)."""
        for shard in range(self.shards):
            self._flush(shard)
        answers = self._gather(dict.fromkeys(range(self.shards), args), method)
        return [answers[s] for s in range(self.shards)]

    def _gather(self, calls: dict[int, tuple[Any, ...]], method: str) -> dict[int, Any]:
        until = self._until()
        answers: dict[int, Any] = {}
        refs = {getattr(self._actors[s], method).remote(*a): s for s, a in calls.items()}
        try:
            # The usual case, every shard answers: one blocking get (a ray.wait loop
            # costs several milliseconds per round trip).
            values = ray.get(list(refs), timeout=max(until - time.monotonic(), 0.0))
            return dict(zip(refs.values(), values, strict=True))
        except (GetTimeoutError, RayActorError, ActorUnavailableError, RayTaskError):
            pass  # sort it out shard by shard below (the finished refs answer at once)
        while refs:
            left = until - time.monotonic()
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=max(left, 0.0))
            if not ready:
                missing = sorted(refs.values())
                raise ShardUnavailable(f"shard(s) {missing} did not answer in time; retry")
            ref = ready[0]
            shard = refs.pop(ref)
            try:
                answers[shard] = ray.get(ref)
            except RayTaskError as e:
                cause = _cause(e)
                if isinstance(cause, VaultError):
                    raise cause from None
                raise ShardUnavailable(f"shard {shard} failed: {type(cause).__name__}") from e
            except (RayActorError, ActorUnavailableError) as e:
                # Killed or restarting: Ray brings it back; ask again while time is left.
                if time.monotonic() + _RETRY_PAUSE >= until:
                    raise ShardUnavailable(f"shard {shard} is restarting; retry") from e
                time.sleep(_RETRY_PAUSE)
                refs[getattr(self._actors[shard], method).remote(*calls[shard])] = shard
        return answers

    # --- announcements of committed changes ----------------------------------------
    def announce(self, collection: str, dim: int, block_no: int, live: list[int] | None) -> None:
        """Tell a block's shard to reload it (``live`` None: it was dropped). Never raises:
        the change is committed; an unreachable shard gets it before its next query."""
        shard = owner_of(block_no, self.shards)
        with self._pending_lock:
            self._pending.setdefault(shard, {})[(collection, block_no)] = (
                None if live is None else (dim, live)
            )
        left = deadline.remaining()
        try:
            # Briefly: the caller holds the collection's state lock, and a shard that is
            # down gets the change before its next query anyway.
            with deadline.bounded_by(_ANNOUNCE_WAIT if left is None else min(left, _ANNOUNCE_WAIT)):
                self._flush(shard)
        except ShardUnavailable as error:
            log.warning("shard %d will get block %d later: %s", shard, block_no, error)

    def _flush(self, shard: int) -> None:
        with self._pending_lock:
            todo = dict(self._pending.get(shard, {}))
        for (collection, block_no), change in todo.items():
            if change is None:
                self._gather({shard: (collection, block_no)}, "drop")
            else:
                self._gather({shard: (collection, change[0], block_no, change[1])}, "refresh")
            with self._pending_lock:
                if self._pending.get(shard, {}).get((collection, block_no)) == change:
                    del self._pending[shard][(collection, block_no)]

    # --- status -------------------------------------------------------------------
    def status(self) -> list[ShardStatus]:
        """Each shard's node, pid, templates and state (ALIVE, RESTARTING, DEAD)."""
        from ray._private import state  # the GCS actor table: no dashboard needed

        out: list[ShardStatus] = []
        for shard, actor in enumerate(self._actors):
            table = state.actors(actor_id=actor._actor_id.hex())
            gcs_state = str(table.get("State", "DEAD"))
            restarts = int(table.get("NumRestarts", 0) or 0)
            try:
                info = ray.get(actor.status.remote(), timeout=_STATUS_TIMEOUT)
            except (GetTimeoutError, RayActorError, ActorUnavailableError, RayTaskError):
                out.append(
                    ShardStatus(
                        shard=shard,
                        node=str(table.get("Address", {}).get("NodeID", "")),
                        pid=int(table.get("Pid", 0) or 0),
                        templates=0,
                        state="DEAD" if gcs_state == "DEAD" else "RESTARTING",
                        restarts=restarts,
                    )
                )
                continue
            out.append(
                ShardStatus(
                    shard=shard,
                    node=info["node"],
                    pid=info["pid"],
                    templates=info["templates"],
                    state="ALIVE",
                    restarts=restarts,
                    rss_bytes=info["rss_bytes"],
                    load_seconds=info["load_seconds"],
                )
            )
        return out


def _cause(error: RayTaskError) -> BaseException:
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


class ShardedEngine:
    """One collection's :class:`~vault.he.engine.GalleryEngine` over the shards."""

    holds_residues = False  # the shards load their own blocks from the store

    def __init__(self, cluster: ShardCluster, collection: str, dim: int) -> None:
        self._cluster = cluster
        self._collection = collection
        self._dim = dim

    def load(self, block_no: int, block: BlockResidues | None, live: Sequence[int]) -> None:
        """Nothing to do: each shard loads its own blocks from the store."""

    def put_live(self, block_no: int, block: BlockResidues, live: Sequence[int]) -> None:
        self._cluster.announce(self._collection, self._dim, block_no, list(live))

    def erase(
        self, block_no: int, slots: Sequence[int], c0_columns: np.ndarray, live: Sequence[int]
    ) -> None:
        self._cluster.announce(self._collection, self._dim, block_no, list(live))

    def drop_block(self, block_no: int) -> None:
        self._cluster.announce(self._collection, self._dim, block_no, None)

    def follow_store(self, block_no: int, live: list[int] | None) -> None:
        """Another front-end changed this block in the store (vault.core.follow): its
        shard reloads it from there (``live`` None: dropped)."""
        self._cluster.announce(self._collection, self._dim, block_no, live)

    def block(self, block_no: int) -> BlockResidues:
        shard = owner_of(block_no, self._cluster.shards)
        got: BlockResidues = self._cluster.call(shard, "block", self._collection, block_no)
        # Arrays out of the object store are read-only views; callers patch them.
        return BlockResidues(
            got.c0.copy(),
            None if got.a is None else got.a.copy(),
            None if got.c1 is None else got.c1.copy(),
        )

    def score_slot(self, probe: np.ndarray, block_no: int, slot: int) -> float:
        shard = owner_of(block_no, self._cluster.shards)
        # One probe, one shard: it travels inside the task, for this call only.
        score = self._cluster.call(shard, "score_slot", self._collection, probe, block_no, slot)
        return float(score)

    def top_slots(self, probes: np.ndarray, k: int) -> list[list[SlotScore]]:
        batch = _probe_argument(probes)
        try:
            answers = self._cluster.scatter("top_slots", self._collection, batch, k)
        finally:
            del batch  # the object store frees a put batch with its last reference
        return _merge(answers, len(probes), k)

    def score(self, probes: np.ndarray) -> GalleryScores:
        """Every slot's score, gathered from the shards in block order (a hybrid
        collection under several key versions scores this way; the scores stay in
        the vault's processes)."""
        batch = _probe_argument(probes)
        try:
            answers: list[GalleryScores] = self._cluster.scatter(
                "score_all", self._collection, batch
            )
        finally:
            del batch
        where = {b: (a, i) for a in answers for i, b in enumerate(a.block_nos)}
        if not where:
            return GalleryScores((), np.empty((len(probes), 0)))
        degree = next(a.scores.shape[1] // len(a.block_nos) for a in answers if a.block_nos)
        order = tuple(sorted(where))
        columns = []
        for block_no in order:
            answer, index = where[block_no]
            columns.append(answer.scores[:, index * degree : (index + 1) * degree])
        return GalleryScores(order, np.concatenate(columns, axis=1))


def _probe_argument(probes: np.ndarray) -> Any:
    """A small batch itself (inlined into each shard's task); a large one put in the
    object store once, so every shard reads the same object (one reference, not N copies)."""
    return probes if probes.nbytes <= _INLINE_PROBE_BYTES else ray.put(probes)


def _merge(answers: list[list[list[SlotScore]]], probes: int, k: int) -> list[list[SlotScore]]:
    """Per probe, the best ``k`` of every shard's top-k, best first."""
    key: Callable[[SlotScore], tuple[float, int, int]] = lambda c: (-c[2], c[0], c[1])  # noqa: E731
    return [sorted((c for a in answers for c in a[p]), key=key)[:k] for p in range(probes)]
