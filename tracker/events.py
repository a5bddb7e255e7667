"""Classified events: what the rules make of stored documents, merged per real-world action.

Each rule firing on a document is kept as a draft (`event_drafts`); an event is the merge of the
drafts that share an id, the id being a hash of the action and the announcement's identity (its
document number, or for a presidential document its normalised title and signing date, so the
White House feed item and the Federal Register entry make one event). Events that name the
measures they act on and no minerals of their own take the minerals of those measures, and are
resolved again whenever a referenced measure arrives."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.codes import CONTROL_ACTIONS, MODIFIER_ACTIONS, severity_rank
from tracker.errors import PatternTimeout
from tracker.models import SCOPED_KINDS, Document, scoped_number_key
from tracker.names import alias_key
from tracker.patterns import DOCUMENT_BUDGET, budget
from tracker.rules import DocView, Draft, RuleSet
from tracker.state import measure_keys, refresh_states
from tracker.store import Store
from tracker.store.documents import StoredDocument
from tracker.store.events import MergedEvent, StoredDraft, StoredEvent, StoredListVersion
from tracker.textutil import norm_title
from tracker.vocab import Vocabulary

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
    "amount",
    "recipient",
)


def _categories(meta: dict[str, Any]) -> list[Any]:
    """A document's categories, subtype and type, as its metadata states them (None for those missing)."""
    return [*meta.get("categories", []), meta.get("subtype"), meta.get("type")]


def identity(doc: StoredDocument) -> str:
    """What makes two documents the same real-world action."""
    presidential = doc.kind == "presidential-document" or any(
        c in ("Presidential Actions", "Presidential Document") for c in _categories(doc.meta)
    )
    if presidential and doc.published:
        return f"pres:{norm_title(doc.title)}:{doc.published}"
    if doc.doc_number and doc.source_kind in SCOPED_KINDS:
        # a config-only source's "No. 9" is an action only within its scope and year
        scope = doc.meta.get("number_scope") or doc.source
        published = date.fromisoformat(doc.published) if doc.published else None
        return scoped_number_key(scope, str(doc.doc_number), published) or f"doc:{doc.id}"
    if doc.doc_number:
        return str(doc.doc_number)
    return f"doc:{doc.id}"


def event_id(ident: str, action: str) -> str:
    """Stable id: the same action on the same announcement always gets the same id."""
    return hashlib.sha1(f"{ident}|{action}".encode()).hexdigest()[:16]


def doc_view(doc: StoredDocument) -> DocView:
    """The engine's view of a stored document."""
    return _view(doc, date.fromisoformat(doc.published) if doc.published else None, doc.id)


def stored_view(store: Store, doc_id: int) -> DocView | None:
    """The engine's view of a stored document; None when there is no document `doc_id`."""
    doc = store.stored_document(doc_id)
    return doc_view(doc) if doc is not None else None


def document_view(doc: Document) -> DocView:
    """The engine's view of a document not stored (read from a file): what `doc_view` sees once
    it is stored."""
    return _view(doc, doc.published, None)


def _agencies(meta: dict[str, Any]) -> list[str]:
    """The agencies a Federal Register document names ('Industry and Security Bureau')."""
    agencies = meta.get("agencies")
    return [a for a in agencies if isinstance(a, str)] if isinstance(agencies, list) else []


def _view(doc: Document | StoredDocument, published: date | None, doc_id: int | None) -> DocView:
    # a rule's `subtypes` also names the issuing agency of a Federal Register document, so that a
    # rule for BIS holds whichever configured search carried the document
    return DocView(
        title=doc.title,
        text=doc.text or "",
        source=doc.source,
        kind=doc.source_kind or "",
        language=doc.language or "",
        published=published,
        doc_number=doc.doc_number,
        subtypes=tuple(str(s) for s in [*_categories(doc.meta), *_agencies(doc.meta)] if s),
        id=doc_id,
    )


class Classifier:
    """Classifies stored documents into events with one rule set; call it with (store, doc id)."""

    def __init__(self, ruleset: RuleSet, budget: float = DOCUMENT_BUDGET):
        self.ruleset = ruleset
        self.budget = budget  # seconds every rule pattern together may take on one document

    def __call__(self, store: Store, doc_id: int) -> None:
        self.classify_document(store, doc_id)

    def drafts_for(self, store: Store, doc: StoredDocument, version: StoredListVersion | None) -> list[Draft]:
        """What the rules make of one stored document, given the newest list version it states, if
        any (a list: the diff of that version with the one before)."""
        view = doc_view(doc)
        drafts = self.ruleset.classify(view)
        if version is not None:
            drafts += self._list_drafts(store, doc, version, view)
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
        plans: list[Plan] = []
        timeouts: list[PatternTimeout] = []
        ids = list(dict.fromkeys(doc_ids))
        versions = store.list_versions_of(ids)
        docs = store.stored_documents(ids)
        for doc_id in ids:
            doc = docs.get(doc_id)
            if doc is None:
                continue
            version = versions.get(doc_id)
            is_list = doc.kind == "list" or version is not None
            ident = f"list:{doc.doc_number or doc.id}" if is_list else identity(doc)
            try:  # outside any write transaction: a slow rule holds no lock
                with budget(self.budget):
                    drafts = self.drafts_for(store, doc, version)
            except PatternTimeout as exc:
                store.mark_unclassified(doc_id, f"{exc.where}: pattern took longer than {exc.seconds:g} s")
                document = f"document {doc_id} ({doc.title[:80]})"
                timeouts.append(PatternTimeout(exc.pattern, exc.where, exc.seconds, document))
                continue
            plans.append((doc, ident, {event_id(ident, d.action): d for d in drafts}))
        touched: set[str] = set()
        if plans:
            with store.write():
                touched = _store_drafts(store, plans)
                rebuild_events(store, touched)
        return touched, timeouts

    def _list_drafts(
        self, store: Store, doc: StoredDocument, cur: StoredListVersion, view: DocView
    ) -> list[Draft]:
        """The additions to and removals from a list since the version before `cur`, as drafts of
        the first rule that diffs this source's lists."""
        kind = cur.source_kind or view.kind
        rules = [
            r
            for r in self.ruleset.rules
            if r.diff_list and (not r.sources or cur.source in r.sources) and (not r.kinds or kind in r.kinds)
        ]
        if not rules:
            return []
        rule = rules[0]
        prev = store.list_version_before(cur)
        if prev is None:
            return []  # the first version seen is the baseline
        vocab = self.ruleset.vocab
        old = vocab.canonical_items(prev.items)
        new = vocab.canonical_items(cur.items)
        added = [x for x in new if not _covered(x, old, vocab)]
        removed = [x for x in old if not _covered(x, new, vocab)]
        out = []
        published = date.fromisoformat(cur.published) if cur.published else view.published
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
                        trigger=f"{names} {verb} the list ({doc.title})",
                    )
                )
        return out


# what classification makes of one document: the document, its identity, its drafts by event id
Plan = tuple[StoredDocument, str, dict[str, Draft]]


def _store_drafts(store: Store, plans: list[Plan]) -> set[str]:
    """Replace these documents' drafts (inside the caller's transaction), all together; the event
    ids touched: those the documents had and have, those of the events that refer to their
    numbers, and with a control, those of the events that cite it by title or citation."""
    store.clear_unclassified_of([doc.id for doc, _, _ in plans])
    touched = store.replace_drafts([(doc.id, ident, new) for doc, ident, new in plans])
    keys: list[str] = []
    for doc, _, new in plans:
        touched |= set(new)
        if any(d.action in CONTROL_ACTIONS for d in new.values()):
            citation = doc.meta.get("citation")
            keys += [
                k for k in map(alias_key, [doc.title, citation if isinstance(citation, str) else ""]) if k
            ]
    touched |= store.events_referring(doc.doc_number for doc, _, _ in plans if doc.doc_number)
    touched |= store.events_citing(keys)
    return touched


def _covered(x: str, items: list[str], vocab: Vocabulary) -> bool:
    """True when `items` cover `x`: it is there, a group of it is, or (for a group) a member is."""
    if x in items:
        return True
    term = vocab.terms.get(x)
    if term is None:
        return False
    return any(g in items for g in term.groups) or any(m in items for m in term.members)


def rebuild_events(store: Store, ids: Iterable[str]) -> None:
    """Recompute the merged rows of these events from their drafts (controls first, so the events
    that refer to a control see its minerals), then of the events that refer to changed controls."""
    pending = set(ids)
    done: set[str] = set()
    measures: set[str] = set()  # whose states the changes may touch, before and after
    controls: set[str] = set()  # the events that were or are controls: only those have states
    while pending:
        batch = pending - done
        # read for the whole batch at once: rebuilding an event changes no other event's drafts or row
        drafts = store.drafts_of(batch)
        stored = store.events_by_id(batch)
        pending = set()
        for eid in sorted(batch, key=lambda i: _rank(drafts.get(i))):
            done.add(eid)
            old = stored.get(eid)
            changed_number, new = _rebuild_one(store, eid, drafts.get(eid), old)
            measures |= measure_keys(old) | measure_keys(new)
            controls |= {e.id for e in (old, new) if e is not None and e.action in CONTROL_ACTIONS}
            if changed_number:
                pending |= store.events_referring([changed_number]) - done
    refresh_states(store, measures=measures, event_ids=controls)


def _rank(drafts: list[StoredDraft] | None) -> int:
    """0 for a control (or an event without drafts), 1 for any other event: the order of rebuilding."""
    return 0 if not drafts or drafts[0].action in CONTROL_ACTIONS else 1


def _rebuild_one(
    store: Store, eid: str, drafts: list[StoredDraft] | None, old: StoredEvent | None
) -> tuple[str | None, MergedEvent | None]:
    """Merge one event's drafts into its row (`old`, the row as stored); returns its doc number
    when it is a control whose minerals may matter to events referring to it, and the new row
    (None when the event is gone)."""
    if not drafts:
        if old is not None:
            store.delete_event(eid)
        return (old.doc_number if old and old.action in CONTROL_ACTIONS else None), None
    merged = _merge(store, eid, drafts)
    store.save_event(merged, stored=old is not None)
    if merged.action in CONTROL_ACTIONS and merged.doc_number:
        if old is None or old.minerals != merged.minerals:
            return str(merged.doc_number), merged
    return None, merged


def _merge(store: Store, eid: str, drafts: list[StoredDraft]) -> MergedEvent:
    """One event of its drafts (by date of issue of their documents): the first draft's action and
    rule, the earliest announcement, the first effective date, expiry, trigger, amount and
    recipient stated, the highest severity, every list joined; a suspension, lift or reinstatement
    that cites a measure by its title or citation names it by its number once that measure is
    stored; an event naming measures and no minerals of its own takes theirs. A control is also
    known by its documents' titles and citations (its aliases)."""
    first = drafts[0]
    lists = {k: _union(getattr(d, k) for d in drafts) for k in ("minerals", "items", "targets", "refers_to")}
    if first.action in MODIFIER_ACTIONS and lists["refers_to"]:
        lists["refers_to"] = _resolved(store, lists["refers_to"], first.jurisdiction)
    aliases: list[str] = []
    if first.action in CONTROL_ACTIONS:
        for d in drafts:
            aliases += [alias_key(d.document_title), alias_key(d.citation or "")]
    from_refs = not lists["minerals"] and bool(lists["refers_to"])
    if from_refs:
        lists["minerals"] = _union(store.control_minerals(lists["refers_to"]))
    return MergedEvent(
        id=eid,
        identity=first.identity,
        action=first.action,
        jurisdiction=first.jurisdiction,
        announced=min((d.announced for d in drafts if d.announced), default=None),
        effective=next((d.effective for d in drafts if d.effective), None),
        expires=next((d.expires for d in drafts if d.expires), None),
        doc_number=next((d.document_number for d in drafts if d.document_number), None),
        title=next((d.document_title for d in drafts if d.document_number), first.document_title),
        targets=lists["targets"],
        minerals=lists["minerals"],
        items=lists["items"],
        refers_to=lists["refers_to"],
        rule=first.rule,
        severity=max((d.severity for d in drafts), key=severity_rank),
        trigger=next((d.trigger for d in drafts if d.trigger), ""),
        minerals_from_refs=from_refs,
        amount=next((d.amount for d in drafts if d.amount), None),
        recipient=next((d.recipient for d in drafts if d.recipient), None),
        aliases=tuple(a for a in dict.fromkeys(aliases) if a),
    )


def _resolved(store: Store, refs: list[str], jurisdiction: str) -> list[str]:
    """References with each that is the title or citation of exactly one stored control of
    `jurisdiction` replaced by that control's measure (its number); the others as they are."""
    known = store.measures_aliased([alias_key(r) for r in refs], jurisdiction)
    out = []
    for ref in refs:
        measures = known.get(alias_key(ref), set())
        out.append(next(iter(measures)) if len(measures) == 1 else ref)
    return list(dict.fromkeys(out))


def _union(lists: Iterable[list[str]]) -> list[str]:
    out: dict[str, None] = {}
    for items in lists:
        for x in items or []:
            out.setdefault(x, None)
    return list(out)


# --- reclassify ----------------------------------------------------------------------------------


@dataclass
class Change:
    """An event that appeared, disappeared or changed on reclassification: the event as stored
    (`StoredEvent.as_row`), and for a change each field of COMPARED that changed, (before, after)."""

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
    before = {e.id: e for e in store.all_events()}
    changes: list[Change] = []
    try:
        with store.write():
            store.clear_drafts()
            store.clear_unclassified()
            for doc_id in store.document_ids():
                try:
                    classifier.classify_document(store, doc_id)
                except PatternTimeout as exc:
                    if problems is not None:
                        problems.append(str(exc))
            rebuild_events(store, before)
            changes = _changes(before, {e.id: e for e in store.all_events()})
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return changes


def _changes(before: dict[str, StoredEvent], after: dict[str, StoredEvent]) -> list[Change]:
    """The events that appear, change (compared on COMPARED, as stored) and disappear."""
    changes: list[Change] = []
    for eid, e in after.items():
        new = e.as_row()
        if eid not in before:
            changes.append(Change("appear", new))
            continue
        old = before[eid].as_row()
        diff = {k: (old[k], new[k]) for k in COMPARED if old[k] != new[k]}
        if diff:
            changes.append(Change("change", new, diff))
    changes += [Change("disappear", e.as_row()) for eid, e in before.items() if eid not in after]
    return changes


def event_rows(store: Store) -> list[dict[str, Any]]:
    """Every event as a plain object (the JSON form of `tracker timeline`), oldest first."""
    from tracker.timeline import query  # not at the top: a fetch classifies without it

    return [e.as_dict() for e in query(store, oldest_first=True)]
