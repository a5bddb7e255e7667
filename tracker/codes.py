"""The codes stored in the database and written in rule files, defined once: actions, the actions
that impose a control and those that change one, severities, and the states of a measure."""

from __future__ import annotations

ACTIONS = (
    "new_control",
    "expanded_control",
    "suspension",
    "lift",
    "reinstatement",
    "list_addition",
    "list_removal",
    "executive_action",
    "agreement",
    "funding",
    "other",
)
# an action that puts a measure in force, and one that changes a measure already in force
CONTROL_ACTIONS = ("new_control", "expanded_control")
MODIFIER_ACTIONS = ("suspension", "lift", "reinstatement")

SEVERITIES = ("info", "low", "medium", "high", "critical")  # lowest first
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# what a measure is on a given day (tracker.state)
STATES = ("pending", "active", "suspended", "lifted")


def severity_rank(severity: str | None) -> int:
    """How serious a severity is, 0 (info, or anything unknown) to 4 (critical)."""
    return SEVERITY_RANK.get(severity or "", 0)
