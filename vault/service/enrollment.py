"""Enrollment streams: reassembly in the servicer (chunking is :mod:`vault.client.enrollment`).

A large enrollment travels as a client stream of ``EnrollRequest`` chunks so no
single message crosses the gRPC size limit; the servicer gathers the whole
stream into one array and one id list so the core enrolls it all or nothing.

The client declares the stream's row count in the ``biovault-enroll-rows``
request header, and the servicer refuses a stream that ends short of it. gRPC
Python can report a client's cancel as a plain end of stream (its "no more
messages" event may arrive before "cancelled"): measured, 46 of 200 streams
cancelled after their first chunk were enrolled in part without the check.
Clients that send no header (older ones, grpcurl) are served as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from vault.api.v1 import vault_pb2
from vault.errors import InvalidArgument, ResourceExhausted
from vault.service.codec import decode_templates
from vault.service.wire import MalformedRequest
from vault.transport import ENROLL_ROWS_HEADER

__all__ = [
    "DEFAULT_MAX_ENROLL_BYTES",
    "Enrollment",
    "collect_enrollment",
    "declared_rows",
]

#: Largest template payload one Enroll stream may carry (memory guard).
DEFAULT_MAX_ENROLL_BYTES: Final = 1024 * 1024 * 1024
_CONSENT_FIELDS: Final = ("collection", "purpose", "consent_ref", "legal_basis")


@dataclass(frozen=True)
class Enrollment:
    """A whole Enroll stream, reassembled."""

    collection: str
    subject_ids: tuple[str, ...]
    templates: np.ndarray
    purpose: str
    consent_ref: str
    legal_basis: str


def declared_rows(metadata: Iterable[tuple[str, str | bytes]] | None) -> int | None:
    """The row count an Enroll call declared in its metadata (None: not declared).

    Raises:
        InvalidArgument: If the header is not a non-negative integer.
    """
    for key, value in metadata or ():
        if key == ENROLL_ROWS_HEADER:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            if not text.isdigit():
                raise InvalidArgument(f"the {ENROLL_ROWS_HEADER} header must be a row count")
            return int(text)
    return None


def collect_enrollment(
    chunks: Iterable[vault_pb2.EnrollRequest | MalformedRequest],
    *,
    max_bytes: int = DEFAULT_MAX_ENROLL_BYTES,
    expected_rows: int | None = None,
) -> Enrollment:
    """Gather an Enroll stream into one :class:`Enrollment`.

    Args:
        chunks: The request iterator of the stream.
        max_bytes: Largest total template payload accepted.
        expected_rows: Rows the client declared (see :func:`declared_rows`); None
            accepts whatever arrives.

    Returns:
        All ids and rows of the stream, in order.

    Raises:
        InvalidArgument: If the stream is empty, the first chunk names no
            collection, a later chunk changes a consent field, dim or dtype, a
            chunk's id count differs from its row count, or the stream ends with
            other than ``expected_rows`` rows (cut off or cancelled).
        ResourceExhausted: If the payload exceeds ``max_bytes``.
    """
    first: vault_pb2.EnrollRequest | None = None
    ids: list[str] = []
    arrays: list[np.ndarray] = []
    total_bytes = 0
    for number, chunk in enumerate(chunks, start=1):
        if isinstance(chunk, MalformedRequest):
            raise chunk.error()
        where = f"enroll chunk {number}"
        if first is None:
            if not chunk.collection:
                raise InvalidArgument("the first enroll chunk must name the collection")
            first = chunk
        else:
            _check_consistent(first, chunk, where)
        total_bytes += len(chunk.templates.data)
        if total_bytes > max_bytes:
            # Imported here so the client side of this module stays free of prometheus.
            from vault.service.metrics import note_refusal

            note_refusal("enroll_too_large")
            raise ResourceExhausted(
                f"enroll stream exceeds {max_bytes} bytes of templates; split it into several calls"
            )
        rows = decode_templates(chunk, "templates")
        if arrays and (rows.shape[1], rows.dtype) != (arrays[0].shape[1], arrays[0].dtype):
            raise InvalidArgument(f"{where} changes the dim or dtype of the templates")
        if len(chunk.subject_ids) != rows.shape[0]:
            raise InvalidArgument(
                f"{where} has {len(chunk.subject_ids)} subject_ids for {rows.shape[0]} rows"
            )
        ids.extend(chunk.subject_ids)
        arrays.append(rows)
    if first is None:
        raise InvalidArgument("the enroll stream carried no chunks")
    if expected_rows is not None and len(ids) != expected_rows:
        raise InvalidArgument(
            f"the enroll stream ended with {len(ids)} of the {expected_rows} rows it "
            "declared (cancelled or cut off); nothing was enrolled"
        )
    templates = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    return Enrollment(
        collection=first.collection,
        subject_ids=tuple(ids),
        templates=templates,
        purpose=first.purpose,
        consent_ref=first.consent_ref,
        legal_basis=first.legal_basis,
    )


def _check_consistent(first: Any, chunk: Any, where: str) -> None:
    for name in _CONSENT_FIELDS:
        value = getattr(chunk, name)
        if value and value != getattr(first, name):
            raise InvalidArgument(f"{where} changes {name}; only the first chunk sets it")
