"""The client's half of an enrollment stream: chunking under the message limit.

A large enrollment travels as a client stream of ``EnrollRequest`` chunks so no
single message crosses the gRPC size limit; the service gathers the whole stream
(:mod:`vault.service.enrollment`) so the core enrolls it all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final

import numpy as np

from vault.api.v1 import vault_pb2
from vault.client.codec import encode_templates
from vault.errors import InvalidArgument
from vault.transport import ENROLL_ROWS_HEADER

__all__ = ["DEFAULT_CHUNK_BYTES", "default_chunk_rows", "enrollment_chunks", "rows_metadata"]

#: Target size of one streamed chunk; well under gRPC's 4 MiB default limit.
DEFAULT_CHUNK_BYTES: Final = 3 * 1024 * 1024
_ID_OVERHEAD_BYTES: Final = 8  # protobuf tag and length prefix of each id, rounded up



def default_chunk_rows(
    dim: int, itemsize: int, *, longest_id: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> int:
    """Rows per chunk so one chunk stays near ``chunk_bytes`` (at least one row).

    Args:
        dim: Template length.
        itemsize: Bytes per value (4 or 8).
        longest_id: Length in bytes of the longest subject id.
        chunk_bytes: Target message size.

    Returns:
        How many rows to put in each chunk.
    """
    row_bytes = dim * itemsize + longest_id + _ID_OVERHEAD_BYTES
    return max(1, chunk_bytes // row_bytes)



def enrollment_chunks(
    collection: str,
    subject_ids: Sequence[str],
    templates: np.ndarray,
    *,
    chunk_rows: int,
    purpose: str = "",
    consent_ref: str = "",
    legal_basis: str = "",
    on_chunk: Callable[[int], None] | None = None,
) -> Iterator[vault_pb2.EnrollRequest]:
    """Split an enrollment into stream chunks; the first carries the consent fields.

    Args:
        collection: Target collection.
        subject_ids: One id per row of ``templates``.
        templates: An (n, dim) float32/float64 array.
        chunk_rows: Rows per chunk (>= 1).
        purpose: Processing purpose.
        consent_ref: Reference to the recorded consent.
        legal_basis: Legal basis of the processing.
        on_chunk: Called with the number of rows yielded so far, after each chunk.

    Yields:
        The requests of the stream, in order.

    Raises:
        InvalidArgument: If ids and rows do not align or ``chunk_rows`` < 1.
    """
    if chunk_rows < 1:
        raise InvalidArgument("chunk_rows must be at least 1")
    if len(subject_ids) != templates.shape[0]:
        raise InvalidArgument(
            f"{len(subject_ids)} subject ids for {templates.shape[0]} template rows"
        )
    # An empty batch still sends one (empty) chunk: the service, not the client,
    # decides that it is an error, so every caller gets the same INVALID_ARGUMENT.
    for start in range(0, max(templates.shape[0], 1), chunk_rows):
        stop = min(start + chunk_rows, templates.shape[0])
        request = vault_pb2.EnrollRequest(
            subject_ids=list(subject_ids[start:stop]),
            templates=encode_templates(templates[start:stop]),
        )
        if start == 0:
            request.collection = collection
            request.purpose = purpose
            request.consent_ref = consent_ref
            request.legal_basis = legal_basis
        yield request
        if on_chunk is not None:
            on_chunk(stop)


def rows_metadata(rows: int) -> tuple[tuple[str, str]]:
    """The request metadata that declares an Enroll stream of ``rows`` rows."""
    return ((ENROLL_ROWS_HEADER, str(rows)),)
