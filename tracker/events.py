"""Classified events: what the rules make of stored documents, merged per real-world action.

Each rule firing on a document is kept as a draft (`event_drafts`); an event is the merge of the
drafts that share an id, the id being a hash of the action and the announcement's identity (its
document number, or for a presidential document its normalised title and signing date, so the
White House feed item and the Federal Register entry make one event). Events that name the
measures they act on and no minerals of their own take the minerals of those measures, and are
resolved again whenever a referenced measure arrives."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.codes import CONTROL_ACTIONS, severity_rank
from tracker.errors import PatternTimeout
from tracker.models import SCOPED_KINDS, Document, scoped_number_key
from tracker.patterns import DOCUMENT_BUDGET, budget
from tracker.rules import DocView, Draft, RuleSet
from tracker.state import measure_keys, refresh_states
from tracker.store import Store, now_iso
from tracker.textutil import norm_title

COMPARED = (
    "action",
    "jurisdiction",
    "announced",
    "effective",
    "expires",
    "minerals",
    "items",
    "targets",
    "refers_to",
    "doc_number",
    "rule",
    "severity",
)


def identity(row: dict[str, Any]) -> str:
    """What makes two documents the same real-world action."""
    meta = row["meta"] if isinstance(row["meta"], dict) else json.loads(row["meta"] or "{}")
    cats = [*meta.get("categories", []), meta.get("subtype") or "", meta.get("type") or ""]
    presidential = row["kind"] == "presidential-document" or any(
        c in ("Presidential Actions", "Presidential Document") for c in cats
    )
    if presidential and row["published"]:
        return f"pres:{norm_title(row['title'])}:{row['published']}"
    if row["doc_number"] and row.get("source_kind") in SCOPED_KINDS:
        # a config-only source's "No. 9" is an action only within its scope and year
        scope = meta.get("number_scope") or row["source"]
        published = date.fromisoformat(row["published"]) if row["published"] else None
        return scoped_number_key(scope, str(row["doc_number"]), published) or f"doc:{row['id']}"
    if row["doc_number"]:
        return str(row["doc_number"])
    return f"doc:{row['id']}"


def event_id(ident: str, action: str) -> str:
    """Stable id: the same action on the same announcement always gets the same id."""
    return hashlib.sha1(f"{ident}|{action}".encode()).hexdigest()[:16]


def doc_view(row: dict[str, Any]) -> DocView:
    """The engine's view of a stored document row."""
    meta = row["meta"] if isinstance(row["meta"], dict) else json.loads(row["meta"] or "{}")
    subtypes = tuple(
        str(s) for s in [*meta.get("categories", []), meta.get("subtype"), meta.get("type")] if s
    )
    return DocView(
        title=row["title"],
        text=row["text"] or "",
        source=row["source"],
        kind=row.get("source_kind") or "",
        language=row["language"] or "",
        published=date.fromisoformat(row["published"]) if row["published"] else None,
        doc_number=row["doc_number"],
        subtypes=subtypes,
        id=row["id"],
    )


def stored_view(store: Store, doc_id: int) -> DocView | None:
    """The engine's view of a stored document; None when there is no document `doc_id`."""
    row = _document(store, doc_id)
    return doc_view(row) if row is not None else None


def document_view(doc: Document) -> DocView:
    """The engine's view of a document not stored (read from a file): what `doc_view` sees once
    it is stored."""
    published = doc.published.isoformat() if doc.published else None
    row = {**doc.__dict__, "published": published, "id": None}
    return doc_view(row)


class Classifier:
    """Classifies stored documents into events with one rule set; call it with (store, doc id)."""

    def __init__(self, ruleset: RuleSet, budget: float = DOCUMENT_BUDGET):
        self.ruleset = ruleset
        self.budget = budget  # seconds every rule pattern together may take on one document

    def __call__(self, store: Store, doc_id: int) -> None:
        self.classify_document(store, doc_id)

    def drafts_for(self, store: Store, row: dict[str, Any]) -> list[Draft]:
        """What the rules make of one stored document (list kinds: the diff with the last version)."""
        view = doc_view(row)
        drafts = self.ruleset.classify(view)
        if _list_version(store, row["id"]) is not None:
            drafts += self._list_drafts(store, row, view)
        return drafts

    def classify_document(self, store: Store, doc_id: int) -> set[str]:
        """Replace a document's drafts with what the rules make of it now; returns event ids
        touched. PatternTimeout (the document left unclassified) when a rule runs out of time."""
        touched, timeouts = self._classify(store, [doc_id])
        if timeouts:
            raise timeouts[0]
        return touched

    def classify_many(self, store: Store, doc_ids: Iterable[int]) -> list[PatternTimeout]:
        """Classify several documents: every draft computed outside any transaction, then all
        stored in one (and the events rebuilt once). The documents a rule runs out of time on are
        left unclassified; their timeouts are returned."""
        return self._classify(store, doc_ids)[1]

    def _classify(self, store: Store, doc_ids: Iterable[int]) -> tuple[set[str], list[PatternTimeout]]:
        plans: list[tuple[dict[str, Any], str, dict[str, Draft]]] = []
        timeouts: list[PatternTimeout] = []
        for doc_id in dict.fromkeys(doc_ids):
            row = _document(store, doc_id)
            if row is None:
                continue
            is_list = row["kind"] == "list" or _list_version(store, doc_id) is not None
            ident = f"list:{row['doc_number'] or row['id']}" if is_list else identity(row)
            try:  # outside any write transaction: a slow rule holds no lock
                with budget(self.budget):
                    drafts = self.drafts_for(store, row)
            except PatternTimeout as exc:
                store.mark_unclassified(doc_id, f"{exc.where}: pattern took longer than {exc.seconds:g} s")
                document = f"document {doc_id} ({row['title'][:80]})"
                timeouts.append(PatternTimeout(exc.pattern, exc.where, exc.seconds, document))
                continue
            plans.append((row, ident, {event_id(ident, d.action): d for d in drafts}))
        touched: set[str] = set()
        if plans:
            with store.write():
                for row, ident, new in plans:
                    touched |= _store_drafts(store, row, ident, new)
                rebuild_events(store, touched)
        return touched, timeouts

    def _list_drafts(self, store: Store, row: dict[str, Any], view: DocView) -> list[Draft]:
        cur = _list_version(store, row["id"])
        if cur is None:
            return []
        kind = cur.get("source_kind") or view.kind
        rules = [
            r
            for r in self.ruleset.rules
            if r.diff_list
            and (not r.sources or cur["source"] in r.sources)
            and (not r.kinds or kind in r.kinds)
        ]
        if not rules:
            return []
        rule = rules[0]
        # the list before this one: the source's version with the latest date before it (the order
        # of arrival among equal dates), whichever URL it came from (each notice has its own)
        prev = list(
            store.db.query(
                """SELECT * FROM list_versions WHERE source = ? AND id != ?
                     AND (COALESCE(published, '') < COALESCE(?, '')
                          OR (COALESCE(published, '') = COALESCE(?, '') AND id < ?))
                   ORDER BY COALESCE(published, '') DESC, id DESC LIMIT 1""",
                [cur["source"], cur["id"], cur["published"], cur["published"], cur["id"]],
            )
        )
        if not prev:
            return []  # the first version seen is the baseline
        vocab = self.ruleset.vocab
        old = vocab.canonical_items(json.loads(prev[0]["items"]))
        new = vocab.canonical_items(json.loads(cur["items"]))
        added = [x for x in new if not _covered(x, old, vocab)]
        removed = [x for x in old if not _covered(x, new, vocab)]
        out = []
        published = date.fromisoformat(cur["published"]) if cur["published"] else view.published
        for action, minerals, verb in (
            ("list_addition", added, "added to"),
            ("list_removal", removed, "removed from"),
        ):
            if minerals:
                names = ", ".join(vocab.terms[m].name if m in vocab.terms else m for m in minerals)
                out.append(
                    Draft(
                        rule=rule.id,
                        severity=rule.severity,
                        action=action,
                        jurisdiction=rule.jurisdiction,
                        announced=published,
                        effective=None,
                        expires=None,
                        minerals=minerals,
                        items=[],
                        targets=[],
                        refers_to=[],
                        trigger=f"{names} {verb} the list ({row['title']})",
                    )
                )
        return out


def _store_drafts(store: Store, row: dict[str, Any], ident: str, new: dict[str, Draft]) -> set[str]:
    """Replace one document's drafts (inside the caller's transaction); the event ids touched."""
    doc_id = row["id"]
    store.clear_unclassified(doc_id)
    old = {
        r[0] for r in store.db.execute("SELECT event_id FROM event_drafts WHERE document_id = ?", [doc_id])
    }
    store.db.execute("DELETE FROM event_drafts WHERE document_id = ?", [doc_id])
    for eid, d in new.items():
        store.db.execute(
            "INSERT INTO event_drafts(document_id, event_id, rule, draft) VALUES (?, ?, ?, ?)",
            [doc_id, eid, d.rule, json.dumps({**d.as_dict(), "identity": ident}, ensure_ascii=False)],
        )
    touched = old | set(new)
    if row["doc_number"]:
        touched |= _referring(store, [row["doc_number"]])
    return touched


def _covered(x: str, items: list[str], vocab: Any) -> bool:
    """True when `items` cover `x`: it is there, a group of it is, or (for a group) a member is."""
    if x in items:
        return True
    term = vocab.terms.get(x)
    if term is None:
        return False
    return any(g in items for g in term.groups) or any(m in items for m in term.members)


def _list_version(store: Store, doc_id: int) -> dict[str, Any] | None:
    """The newest list version a document states, if it states one."""
    rows = list(
        store.db.query("SELECT * FROM list_versions WHERE document_id = ? ORDER BY id DESC LIMIT 1", [doc_id])
    )
    return rows[0] if rows else None


def _document(store: Store, doc_id: int) -> dict[str, Any] | None:
    rows = list(store.db.query("SELECT * FROM documents WHERE id = ?", [doc_id]))
    return rows[0] if rows else None


def _referring(store: Store, numbers: Iterable[str]) -> set[str]:
    numbers = list(numbers)
    if not numbers:
        return set()
    marks = ",".join("?" * len(numbers))
    return {
        r[0] for r in store.db.execute(f"SELECT event_id FROM event_refs WHERE ref IN ({marks})", numbers)
    }


def rebuild_events(store: Store, ids: Iterable[str]) -> None:
    """Recompute the merged rows of these events from their drafts (controls first, so the events
    that refer to a control see its minerals), then of the events that refer to changed controls."""
    pending = set(ids)
    done: set[str] = set()
    measures: set[str] = set()  # whose states the changes may touch, before and after
    while pending:
        batch = sorted(pending - done, key=lambda i: _rank(store, i))
        pending = set()
        for eid in batch:
            done.add(eid)
            changed_number, touched = _rebuild_one(store, eid)
            measures |= touched
            if changed_number:
                pending |= _referring(store, [changed_number]) - done
    refresh_states(store.db.conn, measures=measures, event_ids=done)


def _rank(store: Store, eid: str) -> int:
    row = store.db.execute("SELECT draft FROM event_drafts WHERE event_id = ? LIMIT 1", [eid]).fetchone()
    if row is None:
        return 0
    return 0 if json.loads(row[0])["action"] in CONTROL_ACTIONS else 1


def _rebuild_one(store: Store, eid: str) -> tuple[str | None, set[str]]:
    """Merge one event's drafts into its row; returns its doc number when it is a control whose
    minerals may matter to events referring to it, and the measures whose states the old and the
    new row take part in."""
    rows = list(
        store.db.query(
            """SELECT e.draft, d.id AS doc_id, d.title, d.doc_number, d.published FROM event_drafts e
           JOIN documents d ON d.id = e.document_id WHERE e.event_id = ? ORDER BY d.published, d.id""",
            [eid],
        )
    )
    old = list(store.db.query("SELECT * FROM events WHERE id = ?", [eid]))
    store.db.execute("DELETE FROM event_minerals WHERE event_id = ?", [eid])
    store.db.execute("DELETE FROM event_refs WHERE event_id = ?", [eid])
    touched = measure_keys(old[0]) if old else set()
    if not rows:
        store.db.execute("DELETE FROM events WHERE id = ?", [eid])
        return (old[0]["doc_number"] if old and old[0]["action"] in CONTROL_ACTIONS else None), touched
    drafts = [json.loads(r["draft"]) for r in rows]
    first = drafts[0]
    doc_number = next((r["doc_number"] for r in rows if r["doc_number"]), None)
    title = next((r["title"] for r in rows if r["doc_number"]), rows[0]["title"])
    merged: dict[str, Any] = {
        "id": eid,
        "identity": first["identity"],
        "action": first["action"],
        "jurisdiction": first["jurisdiction"],
        "announced": min((d["announced"] for d in drafts if d["announced"]), default=None),
        "effective": next((d["effective"] for d in drafts if d["effective"]), None),
        "expires": next((d["expires"] for d in drafts if d["expires"]), None),
        "doc_number": doc_number,
        "title": title,
        "rule": first["rule"],
        "severity": max((d["severity"] for d in drafts), key=severity_rank),
        "trigger": next((d["trigger"] for d in drafts if d["trigger"]), ""),
    }
    lists = {k: _union(d[k] for d in drafts) for k in ("minerals", "items", "targets", "refers_to")}
    from_refs = False
    if not lists["minerals"] and lists["refers_to"]:
        lists["minerals"] = _referenced_minerals(store, lists["refers_to"])
        from_refs = True
    now = now_iso()
    store.db.execute(
        """INSERT INTO events(id, identity, action, jurisdiction, announced, effective, expires, doc_number, title,
               targets, minerals, items, refers_to, rule, severity, trigger, minerals_from_refs, first_seen, updated_at)
           VALUES (:id, :identity, :action, :jurisdiction, :announced, :effective, :expires, :doc_number, :title,
               :targets, :minerals, :items, :refers_to, :rule, :severity, :trigger, :from_refs, :now, :now)
           ON CONFLICT(id) DO UPDATE SET identity = excluded.identity, action = excluded.action,
               jurisdiction = excluded.jurisdiction, announced = excluded.announced, effective = excluded.effective,
               expires = excluded.expires, doc_number = excluded.doc_number, title = excluded.title,
               targets = excluded.targets, minerals = excluded.minerals, items = excluded.items,
               refers_to = excluded.refers_to, rule = excluded.rule, severity = excluded.severity,
               trigger = excluded.trigger, minerals_from_refs = excluded.minerals_from_refs,
               updated_at = CASE WHEN events.minerals = excluded.minerals AND events.action = excluded.action
                   AND COALESCE(events.effective, '') = COALESCE(excluded.effective, '')
                   AND COALESCE(events.expires, '') = COALESCE(excluded.expires, '')
                   THEN events.updated_at ELSE excluded.updated_at END""",
        {
            **merged,
            **{k: json.dumps(v, ensure_ascii=False) for k, v in lists.items()},
            "from_refs": int(from_refs),
            "now": now,
        },
    )
    for m in lists["minerals"]:
        store.db.execute(
            "INSERT OR IGNORE INTO event_minerals(event_id, mineral, announced) VALUES (?, ?, ?)",
            [eid, m, merged["announced"]],
        )
    for ref in lists["refers_to"]:
        store.db.execute("INSERT OR IGNORE INTO event_refs(event_id, ref) VALUES (?, ?)", [eid, ref])
    touched |= measure_keys({**merged, "refers_to": json.dumps(lists["refers_to"])})
    if merged["action"] in CONTROL_ACTIONS and doc_number:
        if not old or old[0]["minerals"] != json.dumps(lists["minerals"], ensure_ascii=False):
            return str(doc_number), touched
    return None, touched


def _union(lists: Iterable[list[str]]) -> list[str]:
    out: dict[str, None] = {}
    for items in lists:
        for x in items or []:
            out.setdefault(x, None)
    return list(out)


def _referenced_minerals(store: Store, refs: list[str]) -> list[str]:
    marks = ",".join("?" * len(refs))
    rows = store.db.execute(
        f"SELECT minerals FROM events WHERE doc_number IN ({marks}) AND action IN ('new_control', 'expanded_control')"
        " ORDER BY announced, id",
        refs,
    ).fetchall()
    return _union(json.loads(r[0]) for r in rows)


# --- reclassify ----------------------------------------------------------------------------------


@dataclass
class Change:
    """An event that appeared, disappeared or changed on reclassification."""

    kind: str  # 'appear' | 'disappear' | 'change'
    event: dict[str, Any]
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class _Rollback(Exception):
    pass


def reclassify(
    store: Store, classifier: Classifier, *, dry_run: bool = False, problems: list[str] | None = None
) -> list[Change]:
    """Re-apply the rules to every stored document; return what appears, disappears or changes.
    With `dry_run` nothing is kept. A document on which a rule runs out of time is left
    unclassified and named in `problems`."""
    before = {e["id"]: e for e in store.db.query("SELECT * FROM events")}
    changes: list[Change] = []
    try:
        with store.write():
            store.db.execute("DELETE FROM event_drafts")
            store.clear_unclassified()
            ids = [r[0] for r in store.db.execute("SELECT id FROM documents ORDER BY published, id")]
            for doc_id in ids:
                try:
                    classifier.classify_document(store, doc_id)
                except PatternTimeout as exc:
                    if problems is not None:
                        problems.append(str(exc))
            rebuild_events(store, before)
            after = {e["id"]: e for e in store.db.query("SELECT * FROM events")}
            for eid, e in after.items():
                if eid not in before:
                    changes.append(Change("appear", e))
                else:
                    diff = {k: (before[eid][k], e[k]) for k in COMPARED if before[eid][k] != e[k]}
                    if diff:
                        changes.append(Change("change", e, diff))
            changes += [Change("disappear", e) for eid, e in before.items() if eid not in after]
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return changes


def event_rows(store: Store) -> list[dict[str, Any]]:
    """Every event as a plain object (the JSON form of `tracker timeline`), oldest first."""
    from tracker.timeline import query

    return [e.as_dict() for e in query(store, oldest_first=True)]
