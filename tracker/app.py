"""The wiring: a `Tracker` holds one configuration and what it loads once (the rule set and its
classifier, the vocabulary, the templates, each recipient's resolved filters), the way urlwatch's
`Urlwatch` or an HTTP client holds theirs. The CLI's Context and the scheduler each make one,
and pass it to the stages that need more than the configuration; nothing is reloaded per
recipient, per digest or per command. `tracker.pipeline` runs the stages in order on it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.alerts import Route
from tracker.errors import ConfigError
from tracker.settings import Config, Recipient
from tracker.store import Store

if TYPE_CHECKING:
    import jinja2

    from tracker.events import Classifier
    from tracker.rules import RuleSet
    from tracker.vocab import Vocabulary

# The rules, the vocabulary and the templates are imported where they are first loaded: a fetch
# that finds nothing new needs none of them (tracker.pipeline loads the classifier on demand).


class Tracker:
    """One configuration and what it loads on first use and keeps: `ruleset`, `classifier`,
    `vocab`, `templates` and `routes`. A RuleFileError or ConfigError surfaces on that first use
    and is raised again on the next (nothing half-loaded is kept). Share it between threads once
    the parts they use are loaded (two threads loading one part at once would both read the files,
    and one result is kept); Store connections are opened per call of `store`, one per thread."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def of(cls, app: Tracker | Config) -> Tracker:
        """`app` itself, or a Tracker made for one call from a bare Config (what the library's
        entry points accept, so a script can pass either)."""
        return app if isinstance(app, Tracker) else cls(app)

    @cached_property
    def rules_dir(self) -> Path:
        """The rules folder: --rules, else `[rules] dir`, else the rules shipped with the tracker."""
        from tracker.rules import default_rules_dir

        return self.config.rules_dir or default_rules_dir()

    @cached_property
    def ruleset(self) -> RuleSet:
        """Every rule file of the rules folder, compiled (RuleFileError when one is wrong)."""
        from tracker.rulefile import load_rules

        return load_rules(self.rules_dir)

    @cached_property
    def classifier(self) -> Classifier:
        """The classifier over `ruleset`."""
        from tracker.events import Classifier

        return Classifier(self.ruleset)

    @cached_property
    def vocab(self) -> Vocabulary:
        """The vocabulary (minerals, groups, countries): the rule set's own when it is loaded, else
        read alone, which is cheaper for commands that only name minerals."""
        if "ruleset" in self.__dict__:
            return self.ruleset.vocab
        from tracker.vocab import load_vocabulary

        return load_vocabulary(self.rules_dir)

    @cached_property
    def templates(self) -> jinja2.Environment:
        """The one template environment: `[digest] templates` first, then the built-in ones."""
        from tracker.templating import environment

        return environment(self.config)

    @cached_property
    def routes(self) -> dict[str, Route]:
        """Every configured recipient's filters, minerals resolved through the vocabulary ('镓',
        'Ga', a group), by email. All are checked at once, so one mistyped mineral is a
        ConfigError naming its recipient before anything is sent to anyone."""
        return {r.email: self._resolve(r) for r in self.config.recipients}

    def route(self, recipient: Recipient) -> Route:
        """The filters of `recipient`: a configured one's from `routes`, any other resolved now."""
        if recipient in self.config.recipients:
            return self.routes[recipient.email]
        return self._resolve(recipient)

    def _resolve(self, recipient: Recipient) -> Route:
        if not recipient.minerals:
            return Route(recipient, frozenset())
        ids: set[str] = set()
        for name in recipient.minerals:
            mid = self.vocab.resolve(name)
            if mid is None:
                raise ConfigError(
                    f"unknown mineral {name!r}",
                    file=str(self.config.path or "<config>"),
                    key=f"recipients ({recipient.email}).minerals",
                )
            ids |= self.vocab.expand([mid])
        return Route(recipient, frozenset(ids))

    def store(self, *, create: bool = True) -> Store:
        """A new connection to the configured database (one per thread)."""
        return Store(self.config.db_path, create=create)
