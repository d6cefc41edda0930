"""Durable storage of collections, subject placement and protected blocks.

The store never sees a template, only opaque header-prefixed blobs.
"""

from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord, TemplateStore
from vault.store.sqlite import SqliteTemplateStore

__all__ = [
    "BlockRecord",
    "CollectionRecord",
    "SqliteTemplateStore",
    "SubjectRecord",
    "TemplateStore",
]
