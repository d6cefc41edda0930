"""Audit trail: every security-relevant act, recorded durably before it returns."""

from vault.audit.base import AuditEvent, AuditSink
from vault.audit.jsonl import JsonLinesAuditSink, read_events

__all__ = ["AuditEvent", "AuditSink", "JsonLinesAuditSink", "read_events"]
