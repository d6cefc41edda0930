"""Key-officer use cases: key status, online KEK and DEK rotation, KEK trimming.

Rotations run on their own thread, one at a time, while the service keeps
enrolling, erasing and identifying; a caller gets a :class:`RotationHandle` that
yields progress and ends with the summary. Asking for a rotation of the kind
already running attaches to it instead of starting a second one. Every
operation is audited (versions and counts only - never key material).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from vault.audit.actions import AuditAction
from vault.audit.base import AuditEvent, AuditSink
from vault.core.requests import check_collection_name
from vault.errors import FailedPrecondition, InvalidArgument, NotFound, VaultError
from vault.he.params import CkksParams
from vault.keys.base import KeyService
from vault.keys.datakeys import CollectionDataKeys
from vault.keys.rotation import (
    RotationOptions,
    RotationProgress,
    RotationSummary,
    load_journal,
    rotate_dek,
    rotate_kek,
    save_journal,
)
from vault.keys.status import CollectionKeyStatus, KeyStatus, SecretStatus, key_status
from vault.store.base import TemplateStore
from vault.types import RequestContext

__all__ = [
    "CollectionKeyStatus",
    "KeyOps",
    "KeyStatus",
    "RotationHandle",
    "SecretStatus",
]

log = logging.getLogger(__name__)
_TRIM_RETRY_SECONDS = 60.0
_MAX_BATCH = 1000
_MAX_THROTTLE = 60.0
#: The audit actions of a rotation of each kind: (when it starts, when it ends).
_ROTATION_ACTIONS = {
    "kek": (AuditAction.KEYS_ROTATE_KEK_START, AuditAction.KEYS_ROTATE_KEK),
    "dek": (AuditAction.KEYS_ROTATE_DEK_START, AuditAction.KEYS_ROTATE_DEK),
}


class RotationHandle:
    """A rotation running on its own thread; iterate :meth:`events` to follow it."""

    def __init__(self, options: RotationOptions) -> None:
        self.options = options
        self._events: list[RotationProgress] = []
        self._summary: RotationSummary | None = None
        self._error: BaseException | None = None
        self._done = False
        self._changed = threading.Condition()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the rotation to stop at its next progress report (it stays resumable)."""
        self._stop.set()

    def report(self, progress: RotationProgress) -> None:
        """Record progress; raises if the rotation was asked to stop."""
        if self._stop.is_set():
            raise FailedPrecondition("the rotation was interrupted by shutdown; rerun it to finish")
        with self._changed:
            self._events.append(progress)
            self._changed.notify_all()

    def finish(self, summary: RotationSummary | None, error: BaseException | None) -> None:
        with self._changed:
            self._summary, self._error, self._done = summary, error, True
            self._changed.notify_all()

    @property
    def done(self) -> bool:
        with self._changed:
            return self._done

    def events(self) -> Iterator[RotationProgress | RotationSummary]:
        """Progress reports as they come, then the summary.

        Raises:
            VaultError: The rotation failed (it can be rerun to finish).
        """
        seen = 0
        while True:
            with self._changed:
                while seen == len(self._events) and not self._done:
                    self._changed.wait(timeout=1.0)
                fresh = self._events[seen:]
                seen = len(self._events)
                done, summary, error = self._done, self._summary, self._error
            yield from fresh
            if done and seen == len(self._events):
                if error is not None:
                    raise error
                assert summary is not None
                yield summary
                return

    def wait(self) -> RotationSummary:
        """Block until the rotation ends and return its summary."""
        result = None
        for event in self.events():
            result = event
        assert isinstance(result, RotationSummary)
        return result


class KeyOps:
    """Key status and rotation over a store, a key service and the collection DEKs.

    Args:
        store: The template store (also a KeyDataStore).
        keys: The key service holding the KEK.
        data_keys: The collection DEKs shared with the vault core.
        audit: Where key operations are recorded.
        keyset_params: Parameter set of the stored CKKS key set (resealed by a
            whole-directory DEK rotation); None to leave the key set alone.
        clock: Wall clock for journals and audit events.
    """

    def __init__(
        self,
        *,
        store: TemplateStore,
        keys: KeyService,
        data_keys: CollectionDataKeys,
        audit: AuditSink,
        keyset_params: CkksParams | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._data_keys = data_keys
        self._audit = audit
        self._keyset_params = keyset_params
        self._clock = clock
        self._lock = threading.Lock()
        self._running: RotationHandle | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    # --- audit ------------------------------------------------------------------
    def _record(
        self,
        action: AuditAction,
        ctx: RequestContext,
        outcome: str = "ok",
        details: dict[str, str | int | float | bool] | None = None,
    ) -> None:
        self._audit.append(
            AuditEvent(
                time=self._clock(),
                actor=ctx.actor,
                action=action,
                collection="",
                outcome=outcome,
                details=dict(details or {}),
            )
        )

    # --- status -----------------------------------------------------------------
    def status(self, ctx: RequestContext) -> KeyStatus:
        """Versions of the KEK, of every DEK, and how many blobs each protects.

        Raises:
            KeyServiceUnavailable: The key service cannot be reached.
        """
        outcome = "ok"
        try:
            with self._lock:
                handle = self._running
                running = handle.options.kind if handle and not handle.done else ""
            return key_status(self._store, self._keys, self._data_keys, running=running)
        except VaultError as error:
            outcome = type(error).__name__
            raise
        finally:
            self._record(AuditAction.KEYS_STATUS, ctx, outcome)

    # --- rotation -----------------------------------------------------------------
    def _checked(self, options: RotationOptions) -> RotationOptions:
        if options.kind not in ("kek", "dek"):
            raise InvalidArgument(f"unknown rotation kind {options.kind!r}; use kek or dek")
        if not 1 <= options.batch_size <= _MAX_BATCH:
            raise InvalidArgument(f"batch size must be between 1 and {_MAX_BATCH}")
        if not 0.0 <= options.throttle <= _MAX_THROTTLE:
            raise InvalidArgument(f"throttle must be between 0 and {_MAX_THROTTLE:g} seconds")
        if options.trim_after is not None and (options.kind != "kek" or options.trim_after < 0):
            raise InvalidArgument("trim-after applies to KEK rotation and must be >= 0 seconds")
        for name in options.collections:
            check_collection_name(name)
            if self._store.get_collection(name) is None:
                raise NotFound(f"unknown collection '{name}'")
        if options.collections and options.kind != "dek":
            raise InvalidArgument("only DEK rotation can be limited to collections")
        return options

    def rotate(self, options: RotationOptions, ctx: RequestContext) -> RotationHandle:
        """Start a rotation on its own thread, or attach to the one of that kind running.

        Raises:
            InvalidArgument: Bad options.
            NotFound: A named collection does not exist.
            FailedPrecondition: A rotation of the other kind is running.
        """
        options = self._checked(options)
        with self._lock:
            if self._closed:
                raise FailedPrecondition("the service is shutting down")
            if self._running is not None and not self._running.done:
                if self._running.options.kind != options.kind:
                    raise FailedPrecondition(
                        f"a {self._running.options.kind.upper()} rotation is running; "
                        "wait for it to finish"
                    )
                return self._running
            handle = RotationHandle(options)
            self._running = handle
            self._thread = threading.Thread(
                target=self._run,
                args=(handle, ctx),
                name=f"biovault-rotate-{options.kind}",
                daemon=True,
            )
            self._thread.start()
            return handle

    def _run(self, handle: RotationHandle, ctx: RequestContext) -> None:
        options = handle.options
        start, action = _ROTATION_ACTIONS[options.kind]
        self._record(start, ctx, details={"resume_only": options.resume_only})
        started = time.monotonic()
        try:
            if options.kind == "kek":
                summary = rotate_kek(
                    self._store, self._keys, self._data_keys, options, handle.report, self._clock
                )
            else:
                summary = rotate_dek(
                    self._store,
                    self._keys,
                    self._data_keys,
                    options,
                    handle.report,
                    keyset_params=self._keyset_params,
                    clock=self._clock,
                )
        except Exception as error:
            outcome = type(error).__name__ if isinstance(error, VaultError) else "internal_error"
            log.warning("%s rotation stopped: %s", options.kind.upper(), outcome)
            self._record(action, ctx, outcome)
            handle.finish(None, error)
            return
        log.info(
            "%s rotation %s in %.1f s: key version %d, %d rewrapped, %d resealed, %d left",
            options.kind.upper(),
            "skipped" if summary.noop else "finished",
            time.monotonic() - started,
            summary.key_version,
            summary.rewrapped,
            summary.resealed,
            summary.remaining_old,
        )
        details: dict[str, str | int | float | bool] = {
            "key_version": summary.key_version,
            "from_version": summary.from_version,
            "rewrapped": summary.rewrapped,
            "resealed": summary.resealed,
            "remaining_old": summary.remaining_old,
            "resumed": summary.resumed,
            "noop": summary.noop,
        }
        if options.kind == "dek":
            details["collections"] = len(summary.collections)
            details["keyset_resealed"] = summary.keyset_resealed
        self._record(action, ctx, "ok" if summary.remaining_old == 0 else "incomplete", details)
        if summary.trim_at is not None:
            self._schedule_trim(summary.trim_at)
        handle.finish(summary, None)

    # --- KEK trim -----------------------------------------------------------------
    def start_maintenance(self) -> None:
        """At start-up: schedule a pending KEK trim and log an unfinished rotation."""
        for kind in ("kek", "dek"):
            journal = load_journal(self._store, kind)
            if journal is None:
                continue
            if journal["state"] != "done":
                log.warning(
                    "an interrupted %s rotation is pending; run `biovault keys rotate %s` "
                    "to finish it (every blob stays readable meanwhile)",
                    kind.upper(),
                    kind,
                )
            elif (
                kind == "kek" and journal.get("trim_at") is not None and not journal.get("trimmed")
            ):
                self._schedule_trim(float(journal["trim_at"]))

    def _schedule_trim(self, trim_at: float) -> None:
        with self._lock:
            if self._closed:
                return
            if self._timer is not None:
                self._timer.cancel()
            delay = max(0.0, trim_at - self._clock())
            self._timer = threading.Timer(delay, self._trim_due)
            self._timer.daemon = True
            self._timer.start()

    def _trim_due(self) -> None:
        # Front-ends sharing a store each schedule the trim: one of them does it.
        with self._store.run_alone("kek-trim") as mine:
            if mine:
                self._trim_now()

    def _trim_now(self) -> None:
        ctx = RequestContext(actor="biovault-maintenance")
        journal = load_journal(self._store, "kek")
        if journal is None or journal["state"] != "done" or journal.get("trimmed"):
            return
        below = int(journal["to_version"])
        try:
            self._keys.trim_kek_versions(below)
        except VaultError as error:
            log.warning("KEK trim below version %d failed (%s); retrying later", below, error)
            self._record(AuditAction.KEYS_TRIM_KEK, ctx, type(error).__name__, {"below": below})
            self._schedule_trim(self._clock() + _TRIM_RETRY_SECONDS)
            return
        journal["trimmed"] = True
        save_journal(self._store, "kek", journal)
        log.info("trimmed KEK versions below %d", below)
        self._record(AuditAction.KEYS_TRIM_KEK, ctx, details={"below": below})

    def close(self, *, timeout: float = 10.0) -> None:
        """Cancel a scheduled trim and give a running rotation time to stop.

        A rotation cut short here is finished by the next ``keys rotate``.
        """
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
            thread, running = self._thread, self._running
        if running is not None:
            running.stop()
        if timer is not None:
            timer.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)
