"""The English line that says what an event or a control is, for the outputs written in Python.

    MOFCOM 2025 No. 57 — new export control: holmium, erbium, thulium, europium +2; suspended until 2026-11-10

The line is defined once, as the Jinja2 macro `describe` in templates/_describe.j2: the digest and
feed templates import it, and this module calls the same macro for `tracker status`,
`tracker timeline` and `tracker show`, handing it the vocabulary's English names for the minerals
(templates cannot read the vocabulary; Python holds no words of the line). The template
environment and the vocabulary are the caller's (a Tracker loads each once). It also builds the
status records: each (jurisdiction, measure, mineral) row with its measure's title and line,
looked up by event id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2

from tracker.app import Tracker
from tracker.render import STATUS_FIELDS
from tracker.settings import Config
from tracker.state import Status
from tracker.store import Store
from tracker.timeline import TimelineEvent, by_ids
from tracker.vocab import Vocabulary


class Describer:
    """Calls the `describe` macro with an event's data and its minerals' English names."""

    def __init__(self, env: jinja2.Environment, vocab: Vocabulary) -> None:
        self._macro = env.get_template("_describe.j2").module.describe  # type: ignore[attr-defined]
        self._vocab = vocab

    def event(self, e: TimelineEvent, status: Status | None = None) -> str:
        """The line for an event; with `status`, for the control in that state instead of the
        event's own dates."""
        return str(
            self._macro(
                number=e.doc_number,
                action=e.action,
                names=self._vocab.names([*e.minerals, *e.items]),
                effective=e.effective,
                expires=e.expires,
                state=status.state if status else None,
                since=status.since if status else None,
                until=status.until if status else None,
                amount=e.amount,
                recipient=e.recipient,
            )
        ).strip()


def describer(app: Tracker | Config) -> Describer:
    """A Describer with the templates (overrides included) and the vocabulary of `app`: those a
    Tracker has loaded (or loads now, once), or for a bare Config, loaded for this Describer."""
    tracker = Tracker.of(app)
    return Describer(tracker.templates, tracker.vocab)


def described(events: Iterable[TimelineEvent], d: Describer) -> Iterator[TimelineEvent]:
    """The events, streamed, each with its `description` filled in."""
    for e in events:
        e.description = d.event(e)
        yield e


@dataclass(frozen=True)
class StatusRecord:
    """A status row with its measure's title (the original, Chinese for MOFCOM; None when its
    event is gone) and the line for the measure in its state on the day."""

    jurisdiction: str
    measure: str
    title: str | None
    description: str
    mineral: str
    state: str
    since: str | None
    until: str | None
    changed_by: str | None
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        """Every field (STATUS_FIELDS, in their order), JSON-ready."""
        return {k: getattr(self, k) for k in STATUS_FIELDS}


def status_records(store: Store, rows: list[Status], d: Describer) -> list[StatusRecord]:
    """Status rows as records: each with its measure's title and the line for the measure in its
    state on the day. A measure's events are read once, and each line made once per measure and
    state."""
    events = by_ids(store, {r.event_id for r in rows})
    lines: dict[tuple[str, str, str | None, str | None], str] = {}
    out = []
    for r in rows:
        e = events.get(r.event_id)
        key = (r.event_id, r.state, r.since, r.until)
        if key not in lines:
            lines[key] = d.event(e, r) if e is not None else ""
        out.append(
            StatusRecord(
                jurisdiction=r.jurisdiction,
                measure=r.measure,
                title=e.title if e is not None else None,
                description=lines[key],
                mineral=r.mineral,
                state=r.state,
                since=r.since,
                until=r.until,
                changed_by=r.changed_by,
                event_id=r.event_id,
            )
        )
    return out
