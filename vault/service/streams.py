"""Where each RPC runs, so streams cannot starve the handler threads and health always answers.

gRPC's synchronous server runs every call on a pool thread, and a request-streaming
handler (``Enroll``, ``ServerReflectionInfo``) holds its thread for as long as it
waits for the client's next message. Measured before this module (8 RPC threads,
``FakeVault``, loopback): 8 idle reflection streams from one caller, or 8 idle
Enroll streams, made health Check and Verify from another client time out
(DEADLINE_EXCEEDED after their 3 s deadline).

Options weighed, by measurement with the same set-up:

* ``grpc.server(maximum_concurrent_rpcs=M)`` counts idle streams too: with 8
  threads and M=16, 8 idle streams still made health and Verify time out (calls
  queue behind the held threads), and 16 made gRPC refuse *every* new call,
  health included ("Concurrent RPC limit exceeded!"). It turns a hang into a
  refusal for everyone, so it is not used.
* A per-caller cap alone, on the shared pool, still lets a few certificates (or
  one certificate copied into many containers, like the health-check one) fill
  every thread.
* So: **streams run on their own pool** (``experimental_thread_pool``, which
  gRPC reads from the handler function) whose size is the total stream cap plus
  a few threads that only hand out refusals; admission is capped **per caller
  and in total** (surplus streams get RESOURCE_EXHAUSTED at once); a stream that
  **waits longer than the idle timeout** for its next message is ended with
  RESOURCE_EXHAUSTED and a reason; and **health Check runs on a small pool of
  its own**, so it answers on the same port even while every RPC thread is busy.
  Measured after, against a real ``serve`` (mutual TLS, 8 threads): 1,000 idle
  streams (reflection or Enroll) from one certificate, 4 held and 996 refused;
  health SERVING in 4-11 ms and Verify in 6-20 ms (``benchmarks/idle_streams.py``).

Reflection stays open to every verified certificate (the schema is public, and
operators discover the API with it); the caps make its streams harmless.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Final

import grpc

from vault.errors import ConfigurationError, ResourceExhausted
from vault.service.errors import RpcStatus, to_rpc_status
from vault.service.metrics import note_refusal

__all__ = ["DEFAULT_STREAM_LIMITS", "HEALTH_CHECK", "CallScheduler", "StreamLimits"]

_log = logging.getLogger(__name__)

HEALTH_CHECK: Final = "/grpc.health.v1.Health/Check"
HEALTH_WATCH: Final = "/grpc.health.v1.Health/Watch"
#: Threads beyond the stream cap: they only answer refused streams, so a refusal
#: never waits behind admitted streams.
_REFUSAL_THREADS: Final = 2
#: Health checks are microseconds of work; two threads keep one slow probe from
#: delaying the next.
_HEALTH_THREADS: Final = 2


@dataclass(frozen=True)
class StreamLimits:
    """How many streaming RPCs may be open, and how long one may sit idle.

    Attributes:
        max_streams: Open streams allowed in total (every caller together).
        per_caller: Open streams allowed per caller (certificate identity; on
            loopback plaintext every local caller is one caller).
        idle_timeout: Seconds a stream may wait for its next request message
            before the service ends it.
    """

    max_streams: int = 16
    per_caller: int = 4
    idle_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.max_streams < 1 or not 1 <= self.per_caller <= self.max_streams:
            raise ConfigurationError("stream limits need 1 <= per_caller <= max_streams")
        if not self.idle_timeout > 0:
            raise ConfigurationError("the stream idle timeout must be positive")


#: 16 streams, 4 per caller, 30 s idle: a matching node enrols a few batches at
#: once and sends chunks back to back (gaps of milliseconds), so none of these
#: bind honest use; an idle stream costs one parked thread until the timeout.
DEFAULT_STREAM_LIMITS: Final = StreamLimits()


class _Stream:
    """One admitted stream: who holds it, and since when it waits for a message."""

    __slots__ = ("caller", "context", "expired", "method", "waiting_since")

    def __init__(self, caller: str, method: str, context: Any) -> None:
        self.caller = caller
        self.method = method
        self.context = context
        self.waiting_since: float | None = None
        self.expired: ResourceExhausted | None = None


class _IdleTracked:
    """A request iterator that records when the handler starts waiting for a message."""

    def __init__(self, requests: Iterator[Any], stream: _Stream) -> None:
        self._requests = requests
        self._stream = stream

    def __iter__(self) -> _IdleTracked:
        return self

    def __next__(self) -> Any:
        self._stream.waiting_since = time.monotonic()
        try:
            return next(self._requests)
        except (grpc.RpcError, StopIteration) as ended:
            # After a cancel gRPC may report a plain end of stream (its "no more
            # messages" event can arrive before the "cancelled" one); passing that on
            # would let Enroll commit the rows received so far.
            if self._stream.expired is None:
                raise
            # Noted and raised here, in the call's own thread and context, so the
            # handler's error boundary and the metrics see why the stream ended.
            note_refusal("stream_idle")
            raise self._stream.expired from ended
        finally:
            self._stream.waiting_since = None


class CallScheduler(grpc.ServerInterceptor):
    """Routes health checks and streams to their own pools and enforces the stream caps.

    Install it after the authorisation interceptor, so a caller is authorised
    before it takes a stream slot. Call :meth:`close` when the server is gone.

    Args:
        limits: Stream caps and idle timeout.
        caller_of: The caller key of a call's ``grpc.ServicerContext``.
    """

    def __init__(self, limits: StreamLimits, *, caller_of: Callable[[Any], str]) -> None:
        self._limits = limits
        self._caller_of = caller_of
        self._stream_pool = futures.ThreadPoolExecutor(
            max_workers=limits.max_streams + _REFUSAL_THREADS, thread_name_prefix="biovault-stream"
        )
        self._health_pool = futures.ThreadPoolExecutor(
            max_workers=_HEALTH_THREADS, thread_name_prefix="biovault-health-rpc"
        )
        self._lock = threading.Lock()
        self._open: set[_Stream] = set()
        self._per_caller: dict[str, int] = {}
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if method == HEALTH_CHECK:
            return _rebuilt(handler, _on_pool(handler.unary_unary, self._health_pool))
        if method == HEALTH_WATCH and _own_pool(handler) is not None:
            # The health servicer runs its watchers on a bounded pool of their own
            # (vault/service/health.py), so an open Watch holds neither an RPC thread
            # nor a stream slot; capping it here would refuse load balancers that
            # watch from one shared health-check certificate.
            return handler
        if handler.request_streaming or handler.response_streaming:
            return _rebuilt(handler, self._guarded(handler, method))
        return handler

    def open_streams(self) -> int:
        """How many streams hold a slot now."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Stop the idle watchdog and let the pools' threads end (idempotent)."""
        self._closed.set()
        self._stream_pool.shutdown(wait=False)
        self._health_pool.shutdown(wait=False)

    def _guarded(self, handler: grpc.RpcMethodHandler, method: str) -> Callable[..., Any]:
        behavior = _behavior_of(handler)
        tracked = handler.request_streaming

        def admitted(request: Any, context: Any) -> tuple[_Stream, Any]:
            stream = self._admit(method, context)
            return stream, (_IdleTracked(request, stream) if tracked else request)

        if getattr(behavior, "experimental_non_blocking", False):
            # Answers through a callback and returns at once (health Watch), so an
            # open one holds no thread; counting it would only refuse a burst of
            # health watchers (measured: the fifth of ten Watch calls opened at once).
            return _on_pool(behavior, self._stream_pool)
        if handler.response_streaming:

            @functools.wraps(behavior)
            def streaming(request: Any, context: Any) -> Iterator[Any]:
                stream, request = admitted(request, context)
                try:
                    yield from behavior(request, context)
                except ResourceExhausted:
                    if stream.expired is None:
                        raise
                    # The client already has the status; ending quietly keeps gRPC
                    # from logging the idle close as a failing handler.
                finally:
                    self._release(stream)

            guarded: Callable[..., Any] = streaming
        else:

            @functools.wraps(behavior)
            def unary(request: Any, context: Any) -> Any:
                stream, request = admitted(request, context)
                try:
                    return behavior(request, context)
                finally:
                    self._release(stream)

            guarded = unary
        return _on_pool(guarded, self._stream_pool)

    def _admit(self, method: str, context: Any) -> _Stream:
        caller = self._caller_of(context)
        name = method.rsplit("/", 1)[-1]
        with self._lock:
            held = self._per_caller.get(caller, 0)
            if held >= self._limits.per_caller:
                refusal = (
                    f"{name}: this caller already has {held} open streams, the limit per "
                    "caller; finish or close one first"
                )
            elif len(self._open) >= self._limits.max_streams:
                refusal = (
                    f"{name}: the service has {len(self._open)} open streams, its limit; "
                    "retry later"
                )
            else:
                stream = _Stream(caller, method, context)
                self._open.add(stream)
                self._per_caller[caller] = held + 1
                self._start_watchdog()
                return stream
        _log.warning("refused a %s stream for %s: stream limit", name, caller)
        note_refusal("stream_limit")
        status = to_rpc_status(ResourceExhausted(refusal), method=method)
        context.abort(status.code, status.details)
        raise AssertionError("grpc.ServicerContext.abort returned")  # pragma: no cover

    def _release(self, stream: _Stream) -> None:
        with self._lock:
            self._forget_locked(stream)

    def _forget_locked(self, stream: _Stream) -> None:
        """Free the slot of ``stream`` (idempotent); the caller holds the lock."""
        if stream not in self._open:
            return
        self._open.discard(stream)
        left = self._per_caller[stream.caller] - 1
        if left:
            self._per_caller[stream.caller] = left
        else:
            del self._per_caller[stream.caller]

    def _start_watchdog(self) -> None:
        if self._watchdog is None and not self._closed.is_set():
            self._watchdog = threading.Thread(
                target=_watch, args=(weakref.ref(self),), name="biovault-stream-idle", daemon=True
            )
            self._watchdog.start()

    def expire_idle(self) -> float:
        """End every stream idle for too long (the watchdog calls this).

        Returns:
            Seconds until the next check is due.
        """
        timeout = self._limits.idle_timeout
        now = time.monotonic()
        with self._lock:
            idle = [
                s
                for s in self._open
                if s.waiting_since is not None and now - s.waiting_since >= timeout
            ]
            for stream in idle:
                name = stream.method.rsplit("/", 1)[-1]
                stream.expired = ResourceExhausted(
                    f"{name}: the stream sent nothing for {timeout:g} s and was closed to free "
                    "its slot; open it when the data is ready and send without pauses"
                )
                self._forget_locked(stream)
        for stream in idle:
            assert stream.expired is not None
            name = stream.method.rsplit("/", 1)[-1]
            _log.warning("ended an idle %s stream of %s after %g s", name, stream.caller, timeout)
            _end_call(stream.context, to_rpc_status(stream.expired, method=stream.method))
        return min(1.0, timeout / 4)

    def wait_closed(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for :meth:`close`; returns whether it was called."""
        return self._closed.wait(seconds)


def _watch(scheduler_ref: weakref.ReferenceType[CallScheduler]) -> None:
    # A weak reference, so a scheduler whose server is gone can be collected.
    while (scheduler := scheduler_ref()) is not None:
        if scheduler.wait_closed(scheduler.expire_idle()):
            return
        del scheduler


def _end_call(context: Any, status: RpcStatus) -> None:
    """End a call from outside its handler thread, telling the client why.

    gRPC Python has no public way to do this: ``context.abort`` works only in the
    handler's own thread (which is blocked in the request iterator) and
    ``context.cancel()`` ends the call as a bare CANCELLED. The core call object
    can cancel with a status and message; it is used when present, else the bare
    cancel still frees the thread.
    """
    context.set_code(status.code)  # what the metrics interceptor reports
    context.set_details(status.details)
    call = getattr(getattr(context, "_rpc_event", None), "call", None)
    if call is not None:
        try:
            call.cancel(status.code.value[0], status.details)
            return
        except Exception as failure:  # fall back to the public cancel below
            _log.warning("cancel with status failed: %s", type(failure).__name__)
    context.cancel()


def _behavior_of(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    if handler.request_streaming and handler.response_streaming:
        return handler.stream_stream  # type: ignore[no-any-return]
    if handler.request_streaming:
        return handler.stream_unary  # type: ignore[no-any-return]
    if handler.response_streaming:
        return handler.unary_stream  # type: ignore[no-any-return]
    return handler.unary_unary  # type: ignore[no-any-return]


def _own_pool(handler: grpc.RpcMethodHandler) -> futures.ThreadPoolExecutor | None:
    """The thread pool a handler already asked gRPC to run it on, if any."""
    return getattr(_behavior_of(handler), "experimental_thread_pool", None)


def _on_pool(behavior: Callable[..., Any], pool: futures.ThreadPoolExecutor) -> Callable[..., Any]:
    """A copy of ``behavior`` that gRPC runs on ``pool`` instead of the server's pool."""

    @functools.wraps(behavior)
    def on_pool(*args: Any) -> Any:
        return behavior(*args)

    # Read by grpc._server._select_thread_pool_for_behavior; functools.wraps in the
    # outer interceptors copies it onto their wrappers.
    on_pool.experimental_thread_pool = pool  # type: ignore[attr-defined]
    return on_pool


def _rebuilt(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> Any:
    if handler.request_streaming and handler.response_streaming:
        factory = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        factory = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        factory = grpc.unary_stream_rpc_method_handler
    else:
        factory = grpc.unary_unary_rpc_method_handler
    return factory(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
