"""The pipeline, in one place: fetch → classify → events → states → alerts.

The sources run side by side on the fetch's worker threads (`tracker.fetch`). The documents a
source stores are handed to the classifier once stored (a page's documents together, in a
transaction of their own), which is loaded by the first document that needs it (`OnDemand`) and
writes their events and the measure states those change (`tracker.events`, `tracker.state`). When
every source has run, the alerts are brought up to date (`tracker.alerts`). Digests are sent on
their own schedule (`tracker.digest`). The CLI, the scheduler, the demo and `tracker rules eval` all fetch through
here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker import fetch as stage
from tracker.alerts import sync_alerts
from tracker.app import Tracker
from tracker.models import RunStats
from tracker.settings import Config
from tracker.sources.base import Progress

if TYPE_CHECKING:
    from tracker.errors import PatternTimeout
    from tracker.events import Classifier
    from tracker.store import Store
    from tracker.yamlfile import RuleFileError

log = logging.getLogger(__name__)

# what a run does when the rules cannot be loaded, given the error: fetch regardless (news is
# stored unclassified, never lost) after telling someone
OnBrokenRules = Callable[["RuleFileError"], None]


def classifier_of(app: Tracker, on_broken_rules: OnBrokenRules | None) -> Classifier | None:
    """The tracker's classifier; with broken rules, None after `on_broken_rules` was told (without
    it, the RuleFileError is raised)."""
    from tracker.yamlfile import RuleFileError

    try:
        return app.classifier
    except RuleFileError as exc:
        if on_broken_rules is None:
            raise
        on_broken_rules(exc)
        return None


class OnDemand:
    """The tracker's classifier, loaded when the first stored document needs it: a fetch that
    finds nothing new (the common cron run) never reads, compiles or even imports the rules.
    Broken rules are found then: `on_broken_rules` is told once (without it, the RuleFileError is
    raised), and the documents stay marked unclassified, so the first fetch after the rules are
    mended classifies them. Safe to share between the threads of a fetch."""

    def __init__(self, app: Tracker, on_broken_rules: OnBrokenRules | None) -> None:
        self.app = app
        self.on_broken_rules = on_broken_rules
        self.broken = False  # the rules were needed and could not be loaded
        self._lock = threading.Lock()

    def classify_many(self, store: Store, doc_ids: Iterable[int]) -> list[PatternTimeout]:
        """Classify these documents (`Classifier.classify_many`); with broken rules, none."""
        with self._lock:  # one thread loads; the others wait for it rather than load again
            classifier = None if self.broken else classifier_of(self.app, self.on_broken_rules)
            self.broken = classifier is None
        return [] if classifier is None else classifier.classify_many(store, doc_ids)


def fetch(
    app: Tracker | Config,
    names: Sequence[str] | None = None,
    *,
    mode: str = "fetch",
    until: date | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    classify: bool = True,
    on_broken_rules: OnBrokenRules | None = None,
) -> list[RunStats]:
    """Run the named sources (else every enabled one) through the whole pipeline and return what
    each did. A failing source is recorded as failed and never stops the others. With
    `on_broken_rules`, the rules are loaded only if a document needs classifying (`OnDemand`);
    without it, first, so that a RuleFileError reaches the caller. With `classify` false, or broken
    rules and `on_broken_rules` given, documents are stored unclassified (with broken rules, the
    next run that loads them catches up; without `classify`, `tracker reclassify` does) and no
    alerts are made."""
    app = Tracker.of(app)
    if classify and on_broken_rules is None:
        classifier_of(app, None)  # a RuleFileError is the caller's: raised here, not in a worker
    classifier = OnDemand(app, on_broken_rules) if classify else None
    results = stage.fetch(
        app.config, names, mode=mode, until=until, progress=progress, stop=stop, classifier=classifier
    )
    if classifier is not None and not classifier.broken:
        with app.store() as store:
            sync_alerts(store, app.config, datetime.now(UTC))
    return results


def ingest(
    app: Tracker | Config, source_name: str, files: Sequence[str | Path], url: str | None = None
) -> list[dict[str, Any]]:
    """Store and classify local files through a source's parser (`tracker.fetch.ingest`); alerts
    follow on the next fetch or digest, as for any stored document."""
    app = Tracker.of(app)
    return stage.ingest(app.config, source_name, files, url, classifier=app.classifier)
