"""How a value a rule captured (an amount, a recipient, a reference) is cleaned, and how two
names of one measure are compared ("… To Cover Affiliates …" in a rule's title, "… to Cover
Affiliates …" quoted by the rule that suspends it). No imports: the rules engine and the store
both use it."""

from __future__ import annotations

VALUE_LIMIT = 200  # characters kept of a captured value
# trimmed off a captured value: white space, quotes (GPO writes ``…''), and the comma or colon a
# quotation ends with
_EDGES = " \t\n,;:\"'`“”‘’「」『』"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def clean_value(text: str) -> str:
    """A captured amount, recipient or reference as stored: white space collapsed, quotes and
    trailing commas trimmed, at most VALUE_LIMIT characters."""
    return " ".join(text.split()).strip(_EDGES)[:VALUE_LIMIT].rstrip()


def alias_key(text: str) -> str:
    """A name as compared: `clean_value` with ASCII letters in lower case, as SQLite's lower()
    folds them (the index on event_refs is on lower(ref)), other letters as they are."""
    return clean_value(text).translate(_ASCII_LOWER)
