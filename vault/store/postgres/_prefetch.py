"""Private helper of the PostgreSQL store: read the next block while the caller
works on the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from vault.store.base import BlockRecord

__all__ = ["prefetched"]

_POLL_SECONDS = 0.5


def prefetched(fetch_after: Callable[[int], BlockRecord | None]) -> Iterator[BlockRecord]:
    """Blocks from ``fetch_after(previous block_no)`` (starting at -1) until None,
    fetched one ahead by a daemon thread; an error is raised where it would have been."""
    ready: queue.Queue[BlockRecord | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        after = -1
        while not stop.is_set():
            try:
                item: BlockRecord | BaseException | None = fetch_after(after)
            except BaseException as error:  # handed to the consumer, raised there
                item = error
            while not stop.is_set():
                try:
                    ready.put(item, timeout=_POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if not isinstance(item, BlockRecord):
                return
            after = item.block_no

    def consume() -> Iterator[BlockRecord]:
        worker = threading.Thread(target=produce, name="biovault-block-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()  # the caller stopped early or failed: let the worker go

    return consume()
