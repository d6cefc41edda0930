import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProtectionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTECTION_MODE_UNSPECIFIED: _ClassVar[ProtectionMode]
    PROTECTION_MODE_CKKS: _ClassVar[ProtectionMode]
    PROTECTION_MODE_CANCELABLE: _ClassVar[ProtectionMode]
    PROTECTION_MODE_HYBRID: _ClassVar[ProtectionMode]

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_FLOAT64: _ClassVar[DType]
PROTECTION_MODE_UNSPECIFIED: ProtectionMode
PROTECTION_MODE_CKKS: ProtectionMode
PROTECTION_MODE_CANCELABLE: ProtectionMode
PROTECTION_MODE_HYBRID: ProtectionMode
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_FLOAT64: DType

class TemplateBatch(_message.Message):
    __slots__ = ("dim", "dtype", "data")
    DIM_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dim: int
    dtype: DType
    data: bytes
    def __init__(self, dim: _Optional[int] = ..., dtype: _Optional[_Union[DType, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class CollectionPolicy(_message.Message):
    __slots__ = ("retention_seconds", "score_decimals", "max_top_k", "decision_only")
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCORE_DECIMALS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOP_K_FIELD_NUMBER: _ClassVar[int]
    DECISION_ONLY_FIELD_NUMBER: _ClassVar[int]
    retention_seconds: float
    score_decimals: int
    max_top_k: int
    decision_only: bool
    def __init__(self, retention_seconds: _Optional[float] = ..., score_decimals: _Optional[int] = ..., max_top_k: _Optional[int] = ..., decision_only: _Optional[bool] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "mode", "dim", "allow_identification", "purposes", "match_threshold", "size", "created_at", "retention_seconds", "score_decimals", "max_top_k", "decision_only", "embedding_profile_sha256", "policy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    ALLOW_IDENTIFICATION_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    MATCH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCORE_DECIMALS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOP_K_FIELD_NUMBER: _ClassVar[int]
    DECISION_ONLY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_PROFILE_SHA256_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: ProtectionMode
    dim: int
    allow_identification: bool
    purposes: _containers.RepeatedScalarFieldContainer[str]
    match_threshold: float
    size: int
    created_at: _timestamp_pb2.Timestamp
    retention_seconds: float
    score_decimals: int
    max_top_k: int
    decision_only: bool
    embedding_profile_sha256: str
    policy: CollectionPolicy
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[_Union[ProtectionMode, str]] = ..., dim: _Optional[int] = ..., allow_identification: _Optional[bool] = ..., purposes: _Optional[_Iterable[str]] = ..., match_threshold: _Optional[float] = ..., size: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retention_seconds: _Optional[float] = ..., score_decimals: _Optional[int] = ..., max_top_k: _Optional[int] = ..., decision_only: _Optional[bool] = ..., embedding_profile_sha256: _Optional[str] = ..., policy: _Optional[_Union[CollectionPolicy, _Mapping]] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("name", "mode", "dim", "allow_identification", "purposes", "match_threshold", "retention_seconds", "score_decimals", "max_top_k", "decision_only", "embedding_profile", "policy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    ALLOW_IDENTIFICATION_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    MATCH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCORE_DECIMALS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOP_K_FIELD_NUMBER: _ClassVar[int]
    DECISION_ONLY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_PROFILE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: ProtectionMode
    dim: int
    allow_identification: bool
    purposes: _containers.RepeatedScalarFieldContainer[str]
    match_threshold: float
    retention_seconds: float
    score_decimals: int
    max_top_k: int
    decision_only: bool
    embedding_profile: bytes
    policy: CollectionPolicy
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[_Union[ProtectionMode, str]] = ..., dim: _Optional[int] = ..., allow_identification: _Optional[bool] = ..., purposes: _Optional[_Iterable[str]] = ..., match_threshold: _Optional[float] = ..., retention_seconds: _Optional[float] = ..., score_decimals: _Optional[int] = ..., max_top_k: _Optional[int] = ..., decision_only: _Optional[bool] = ..., embedding_profile: _Optional[bytes] = ..., policy: _Optional[_Union[CollectionPolicy, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("collection", "purpose", "consent_ref", "legal_basis", "subject_ids", "templates")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_REF_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    collection: str
    purpose: str
    consent_ref: str
    legal_basis: str
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    templates: TemplateBatch
    def __init__(self, collection: _Optional[str] = ..., purpose: _Optional[str] = ..., consent_ref: _Optional[str] = ..., legal_basis: _Optional[str] = ..., subject_ids: _Optional[_Iterable[str]] = ..., templates: _Optional[_Union[TemplateBatch, _Mapping]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("enrolled",)
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    enrolled: int
    def __init__(self, enrolled: _Optional[int] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("collection", "subject_id", "probe", "purpose")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    subject_id: str
    probe: TemplateBatch
    purpose: str
    def __init__(self, collection: _Optional[str] = ..., subject_id: _Optional[str] = ..., probe: _Optional[_Union[TemplateBatch, _Mapping]] = ..., purpose: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("match", "score")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    match: bool
    score: float
    def __init__(self, match: _Optional[bool] = ..., score: _Optional[float] = ...) -> None: ...

class IdentifyRequest(_message.Message):
    __slots__ = ("collection", "probes", "top_k", "purpose")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    probes: TemplateBatch
    top_k: int
    purpose: str
    def __init__(self, collection: _Optional[str] = ..., probes: _Optional[_Union[TemplateBatch, _Mapping]] = ..., top_k: _Optional[int] = ..., purpose: _Optional[str] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("subject_id", "score")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    score: float
    def __init__(self, subject_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class ProbeResult(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, matches: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class IdentifyResponse(_message.Message):
    __slots__ = ("results", "top_k_capped")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_CAPPED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ProbeResult]
    top_k_capped: bool
    def __init__(self, results: _Optional[_Iterable[_Union[ProbeResult, _Mapping]]] = ..., top_k_capped: _Optional[bool] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "subject_id", "purpose")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    subject_id: str
    purpose: str
    def __init__(self, collection: _Optional[str] = ..., subject_id: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("subject_id", "erased", "erased_at", "receipt")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    erased: int
    erased_at: _timestamp_pb2.Timestamp
    receipt: ErasureReceipt
    def __init__(self, subject_id: _Optional[str] = ..., erased: _Optional[int] = ..., erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., receipt: _Optional[_Union[ErasureReceipt, _Mapping]] = ...) -> None: ...

class DeleteManyRequest(_message.Message):
    __slots__ = ("collection", "subject_ids", "purpose")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    def __init__(self, collection: _Optional[str] = ..., subject_ids: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ...) -> None: ...

class DeleteManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DeleteResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[DeleteResponse, _Mapping]]] = ...) -> None: ...

class ErasureReceipt(_message.Message):
    __slots__ = ("entry", "leaf_index", "inclusion_proof", "checkpoint")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    entry: bytes
    leaf_index: int
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: str
    def __init__(self, entry: _Optional[bytes] = ..., leaf_index: _Optional[int] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[str] = ...) -> None: ...
