"""A human summary of a verified bundle: what was done, why, what was erased when.

Built only from a :class:`~vault.audit.verify.VerifiedBundle`, so every number in
it is backed by signed entries. Subjects appear as their pseudonyms.
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Final

from vault.audit.actions import ERASURE_ACTIONS, AuditAction
from vault.audit.entry import EntryError, LogEntry, format_time, parse_time
from vault.audit.verify import VerifiedBundle

__all__ = ["KEY_EVENT_PREFIXES", "render_markdown", "summarize"]

#: Actions listed as key events.
KEY_EVENT_PREFIXES: Final = ("keys.", "audit.key", "service.start")
_DEFAULT_RETENTION: Final = 3 * 365 * 86_400.0
_MAX_LISTED: Final = 200


@dataclass
class _Enrolment:
    collection: str
    subject: str
    time_us: int


def _iso(time_us: int | None) -> str | None:
    return None if time_us is None else format_time(time_us)


def _parse_iso(text: object) -> int | None:
    try:
        return parse_time(text)
    except EntryError:
        return None


def summarize(bundle: VerifiedBundle) -> dict[str, Any]:
    """The JSON summary of a verified bundle (``audit report --json``)."""
    entries = bundle.entries
    actions: dict[str, Counter[str]] = defaultdict(Counter)
    purposes: dict[str, Counter[str]] = defaultdict(Counter)
    refusals: Counter[tuple[str, str]] = Counter()
    collections: dict[str, dict[str, Any]] = {}
    live: dict[tuple[str, str], _Enrolment] = {}
    untracked = 0
    erasures, key_events, runs, exports = [], [], [], []
    for e in entries:
        actions[e.action][e.outcome] += 1
        purposes[e.purpose or "(none)"][e.action] += 1
        if e.outcome != "ok":
            refusals[(e.action, e.outcome)] += 1
        if e.action.startswith(KEY_EVENT_PREFIXES):
            key_events.append(_brief(e) | {"details": dict(e.details)})
        if e.outcome != "ok":
            continue
        if e.action == AuditAction.COLLECTION_CREATE:
            collections[e.collection] = {
                "created": _iso(e.time_us),
                "purposes": [p for p in str(e.details.get("purposes", "")).split(",") if p],
                "identification": bool(e.details.get("identification", False)),
                "retention_seconds": float(e.details.get("retention_seconds", _DEFAULT_RETENTION)),
                "enrolled": 0,
                "erased": 0,
            }
        elif e.action == AuditAction.ENROLL:
            info = collections.setdefault(e.collection, _unknown_collection())
            info["enrolled"] += int(e.details.get("count", len(e.subjects)))
            untracked += int(e.details.get("count", len(e.subjects))) - len(e.subjects)
            for subject in e.subjects:
                live[(e.collection, subject)] = _Enrolment(e.collection, subject, e.time_us)
        elif e.action in ERASURE_ACTIONS:
            info = collections.setdefault(e.collection, _unknown_collection())
            info["erased"] += 1
            erasures.append(_erasure(e, live, info["retention_seconds"]))
        elif e.action == AuditAction.RETENTION_ENFORCE:
            runs.append(_brief(e) | {"erased": e.details.get("erased", 0)})
        elif e.action == AuditAction.AUDIT_EXPORT:
            exports.append(_brief(e))
    end_us = entries[-1].time_us if entries else 0
    overdue: list[tuple[int, dict[str, Any]]] = []
    for enrolment in live.values():
        retention = collections.get(enrolment.collection, {}).get(
            "retention_seconds", _DEFAULT_RETENTION
        )
        deadline = enrolment.time_us + round(retention * 1e6)
        if deadline < end_us:
            overdue.append(
                (
                    deadline,
                    {
                        "collection": enrolment.collection,
                        "subject": enrolment.subject,
                        "enrolled": _iso(enrolment.time_us),
                        "deadline": _iso(deadline),
                    },
                )
            )
    return {
        "log": {
            "origin": bundle.origin,
            "tree_size": bundle.size,
            "root": base64.b64encode(bundle.root).decode(),
            "first_entry": _iso(entries[0].time_us) if entries else None,
            "last_entry": _iso(end_us) if entries else None,
            "previous_checkpoint_size": None if bundle.previous is None else bundle.previous.size,
            "verified": True,
        },
        "actions": {
            a: {"total": sum(c.values()), "outcomes": dict(c)} for a, c in sorted(actions.items())
        },
        "purposes": {p: dict(c) for p, c in sorted(purposes.items())},
        "refusals": [
            {"action": a, "outcome": o, "count": n} for (a, o), n in sorted(refusals.items())
        ],
        "collections": dict(sorted(collections.items())),
        "erasures": erasures,
        "retention": {
            "runs": len(runs),
            "last_run": runs[-1]["time"] if runs else None,
            "overdue": [o for _, o in sorted(overdue, key=lambda o: o[0])][:_MAX_LISTED],
            "overdue_count": len(overdue),
            "untracked_enrolments": untracked,
        },
        "key_events": key_events,
        "exports": exports,
    }


def _unknown_collection() -> dict[str, Any]:
    # A collection created before this log began (or in a truncated excerpt).
    return {
        "created": None,
        "purposes": [],
        "identification": None,
        "retention_seconds": _DEFAULT_RETENTION,
        "enrolled": 0,
        "erased": 0,
    }


def _brief(e: LogEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "time": _iso(e.time_us),
        "action": e.action,
        "actor": e.actor,
        "outcome": e.outcome,
    }


def _erasure(
    e: LogEntry, live: dict[tuple[str, str], _Enrolment], retention: float
) -> dict[str, Any]:
    subject = e.subjects[0] if e.subjects else ""
    enrolment = live.pop((e.collection, subject), None)
    enrolled_us = _parse_iso(e.details.get("enrolled_at"))
    if enrolled_us is None and enrolment is not None:
        enrolled_us = enrolment.time_us
    deadline_us = _parse_iso(e.details.get("deadline"))
    if deadline_us is None and enrolled_us is not None:
        deadline_us = enrolled_us + round(retention * 1e6)
    late = None if deadline_us is None else max(0.0, (e.time_us - deadline_us) / 1e6)
    return _brief(e) | {
        "collection": e.collection,
        "subject": subject,
        "reason": e.purpose,
        "enrolled": _iso(enrolled_us),
        "deadline": _iso(deadline_us),
        "late_seconds": late,
    }


def render_markdown(summary: dict[str, Any]) -> str:
    """The Markdown form of :func:`summarize`'s result."""
    log = summary["log"]
    out = [
        "# Audit report",
        "",
        f"- log: `{log['origin']}`",
        f"- entries: {log['tree_size']} ({log['first_entry']} to {log['last_entry']})",
        f"- root: `{log['root']}`",
        "- verification: **passed** (every signature, inclusion and consistency proof)",
    ]
    if log["previous_checkpoint_size"] is not None:
        out.append(
            f"- extends the previous checkpoint of {log['previous_checkpoint_size']} entries"
        )
    out += ["", "## Actions", "", "| action | total | outcomes |", "|---|---:|---|"]
    for action, row in summary["actions"].items():
        outcomes = ", ".join(f"{o}: {n}" for o, n in sorted(row["outcomes"].items()))
        out.append(f"| {action} | {row['total']} | {outcomes} |")
    out += ["", "## Purposes", "", "| purpose | requests by action |", "|---|---|"]
    for purpose, counts in summary["purposes"].items():
        out.append(
            f"| {purpose} | " + ", ".join(f"{a}: {n}" for a, n in sorted(counts.items())) + " |"
        )
    out += ["", "## Refused requests", ""]
    out += [f"- {r['action']} -> {r['outcome']}: {r['count']}" for r in summary["refusals"]] or [
        "none"
    ]
    out += [
        "",
        "## Collections",
        "",
        "| collection | purposes | 1:N | retention | enrolled | erased |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, c in summary["collections"].items():
        out.append(
            f"| {name} | {', '.join(c['purposes'])} | {_yes(c['identification'])} | "
            f"{_duration(c['retention_seconds'])} | {c['enrolled']} | {c['erased']} |"
        )
    out += ["", "## Erasures", ""]
    if summary["erasures"]:
        out += [
            "| # | time | action | collection | subject | reason | enrolled | deadline | late |",
            "|---:|---|---|---|---|---|---|---|---|",
        ]
        for x in summary["erasures"][:_MAX_LISTED]:
            late = "-" if x["late_seconds"] is None else f"{x['late_seconds']:.0f} s"
            out.append(
                f"| {x['seq']} | {x['time']} | {x['action']} | {x['collection']} | "
                f"`{x['subject'][:12]}` | {x['reason']} | {x['enrolled'] or '-'} | "
                f"{x['deadline'] or '-'} | {late} |"
            )
    else:
        out.append("none")
    retention = summary["retention"]
    out += [
        "",
        "## Retention",
        "",
        f"- enforcement runs: {retention['runs']} (last {retention['last_run'] or 'never'})",
        f"- templates past their deadline and not erased: {retention['overdue_count']}",
    ]
    out += [
        f"  - {o['collection']} `{o['subject'][:12]}` enrolled {o['enrolled']}, "
        f"deadline {o['deadline']}"
        for o in retention["overdue"]
    ]
    if retention["untracked_enrolments"]:
        out.append(
            f"- enrolments without listed subjects (batches over 1000): "
            f"{retention['untracked_enrolments']}"
        )
    out += ["", "## Key events", ""]
    out += [
        f"- {k['time']} {k['action']} -> {k['outcome']} by {k['actor']}"
        + (f" ({_details(k['details'])})" if k["details"] else "")
        for k in summary["key_events"]
    ] or ["none"]
    out += ["", "## Audit exports", ""]
    out += [f"- {x['time']} by {x['actor']}" for x in summary["exports"]] or ["none"]
    return "\n".join(out) + "\n"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _yes(value: object) -> str:
    return "?" if value is None else "yes" if value else "no"


def _details(details: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(details.items()))
