import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vault.api.v1 import vault_pb2 as _vault_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetPublicKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PublicKey(_message.Message):
    __slots__ = ("verifier_key", "origin")
    VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    verifier_key: str
    origin: str
    def __init__(self, verifier_key: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignedCheckpoint(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: str
    def __init__(self, note: _Optional[str] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    def __init__(self, purpose: _Optional[str] = ...) -> None: ...

class BundleChunk(_message.Message):
    __slots__ = ("file", "data")
    FILE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    file: str
    data: bytes
    def __init__(self, file: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class EnforceRetentionRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class RetentionErasures(_message.Message):
    __slots__ = ("collection", "retention_seconds", "cutoff", "erased_subject_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CUTOFF_FIELD_NUMBER: _ClassVar[int]
    ERASED_SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    retention_seconds: float
    cutoff: _timestamp_pb2.Timestamp
    erased_subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., retention_seconds: _Optional[float] = ..., cutoff: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erased_subject_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EnforceRetentionResponse(_message.Message):
    __slots__ = ("collections", "erased")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[RetentionErasures]
    erased: int
    def __init__(self, collections: _Optional[_Iterable[_Union[RetentionErasures, _Mapping]]] = ..., erased: _Optional[int] = ...) -> None: ...

class WithdrawConsentRequest(_message.Message):
    __slots__ = ("collection", "subject_id", "consent_ref")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_REF_FIELD_NUMBER: _ClassVar[int]
    collection: str
    subject_id: str
    consent_ref: str
    def __init__(self, collection: _Optional[str] = ..., subject_id: _Optional[str] = ..., consent_ref: _Optional[str] = ...) -> None: ...

class WithdrawConsentResponse(_message.Message):
    __slots__ = ("erasure",)
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    erasure: _vault_pb2.DeleteResponse
    def __init__(self, erasure: _Optional[_Union[_vault_pb2.DeleteResponse, _Mapping]] = ...) -> None: ...
