"""A strict YAML reader for maintainer-edited files: duplicate keys are errors, every mapping and
string knows its line, and only `true`/`false` are booleans (so `NO`, Norway, stays a string)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tracker.errors import TrackerError


class RuleFileError(TrackerError):
    """A problem in a rule or vocabulary file, located as file:line."""

    def __init__(self, file: str | Path, line: int | None, message: str):
        self.file = str(file)
        self.line = line
        self.message = message
        super().__init__(f"{self.file}:{line}: {message}" if line else f"{self.file}: {message}")


class LStr(str):
    """A string that remembers the line it was written on."""

    line: int = 0


class LDict(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    @classmethod
    def at(cls, line: int, **items: Any) -> LDict:
        """A mapping made in code (a shorthand written out in full), every key placed on `line`."""
        out = cls(items)
        out.line, out.key_lines = line, dict.fromkeys(items, line)
        return out

    def line_of(self, key: str) -> int:
        """Line of `key`, or of the mapping itself when the key is absent."""
        return self.key_lines.get(key, self.line)


class LList(list[Any]):
    """A sequence that remembers its line."""

    line: int = 0


# PyYAML ships no type hints (no stubs are installed), so mypy sees SafeLoader as Any: subclassing
# it is an error under --strict only (disallow_subclassing_any), hence unused-ignore for the
# project's own, milder settings
class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    file = "<yaml>"


# what the value of a node is made with: the loader's construct_object (deep), or _FastLoader.build
_Construct = Callable[[yaml.Node], Any]


def _mapping(loader: _Loader, node: yaml.MappingNode, construct: _Construct | None = None) -> LDict:
    construct = construct or functools.partial(loader.construct_object, deep=True)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = construct(key_node)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise RuleFileError(loader.file, line, f"keys must be text, not {key!r}")
        if key in out:
            raise RuleFileError(
                loader.file, line, f"duplicate key {key!r} (first at line {out.key_lines[key]})"
            )
        out[str(key)] = construct(value_node)
        out.key_lines[str(key)] = line
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode, construct: _Construct | None = None) -> LList:
    construct = construct or functools.partial(loader.construct_object, deep=True)
    out = LList(construct(n) for n in node.value)
    out.line = node.start_mark.line + 1
    return out


def _string(loader: _Loader, node: yaml.ScalarNode) -> LStr:
    s = LStr(loader.construct_scalar(node))
    s.line = node.start_mark.line + 1
    return s


def _checked(tag: str, what: str) -> Callable[[_Loader, yaml.Node], Any]:
    """The SafeLoader constructor for `tag`, with a bad value ('2030-13-01') made a file:line error
    instead of a ValueError."""
    construct = yaml.SafeLoader.yaml_constructors[tag]

    def checked(loader: _Loader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, AttributeError) as exc:
            raise RuleFileError(
                loader.file, node.start_mark.line + 1, f"{node.value!r} is not a valid {what} ({exc})"
            ) from None

    return checked


# libyaml's parser, when PyYAML was built with it, reads rule files several times faster than the
# pure-Python one; the pure-Python one reads a file again only when it has a syntax error, for its
# messages (the ones the docs and the tests quote)
class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc, unused-ignore]
    file = "<yaml>"

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._built: dict[int, Any] = {}  # id of a mapping or sequence node -> its value

    def build(self, node: yaml.Node) -> Any:
        """The value of `node`, as `construct_object(node, deep=True)` makes it: the mappings,
        sequences and strings that make nearly all of a rule file built here, in less time than
        the general machinery takes; any other node by the loader's constructors."""
        tag = node.tag
        if tag == _STR:  # not noted: a string holds nothing (an alias of one gives an equal copy)
            return _string(self, node)
        if tag != _MAP and tag != _SEQ:
            return self.construct_object(node, deep=True)
        key = id(node)  # an alias is the same node: the same value
        value = self._built.get(key)
        if value is _BUILDING:
            raise yaml.constructor.ConstructorError(
                None, None, "found unconstructable recursive node", node.start_mark
            )
        if value is None:
            self._built[key] = _BUILDING
            value = self._built[key] = (_mapping if tag == _MAP else _sequence)(self, node, self.build)
        return value


_STR, _MAP, _SEQ = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "map", "seq"))
_BUILDING = object()  # the value of a node while its own items are built


def _configure(loader: type[Any]) -> None:
    """Booleans only as true/false (YAML 1.1 reads yes/no/on/off too), every mapping, sequence and
    string with its line, duplicate keys refused, bad dates and numbers a file:line error."""
    loader.yaml_implicit_resolvers = {
        k: [(tag, regexp) for tag, regexp in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
    }
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    for tag, what in (("timestamp", "date (YYYY-MM-DD)"), ("int", "integer"), ("float", "number")):
        loader.add_constructor(f"tag:yaml.org,2002:{tag}", _checked(f"tag:yaml.org,2002:{tag}", what))
    loader.add_constructor("tag:yaml.org,2002:map", _mapping)
    loader.add_constructor("tag:yaml.org,2002:seq", _sequence)
    loader.add_constructor("tag:yaml.org,2002:str", _string)


_configure(_Loader)
_configure(_FastLoader)


def load_yaml(path: str | Path) -> Any:
    """Parse one file; RuleFileError (file:line) on a syntax error or a duplicate key."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(path, None, f"cannot read: {exc}") from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, file: str) -> Any:
    """Parse YAML text that came from `file`."""
    fast = _FastLoader(text)
    fast.file = file
    try:
        node = fast.get_single_node()
        return None if node is None else fast.build(node)
    except yaml.YAMLError:
        pass  # read it again below, for the pure-Python parser's message
    finally:
        fast.dispose()
    loader = _Loader(text)
    loader.file = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"YAML syntax: {exc.problem or exc.context}"
        # an unclosed bracket or quote is found lines later: name the line it opened on too
        if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise RuleFileError(file, line, message) from None
    except yaml.YAMLError as exc:
        raise RuleFileError(file, None, f"YAML syntax: {exc}") from None
    finally:
        loader.dispose()


def plain(value: Any) -> Any:
    """A loaded value with its strings, lists and mappings made plain str, list and dict (tuples
    stay tuples), for keeping once its file is checked: each LStr carries a dict for its line."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def line_of(value: Any, default: int = 0) -> int:
    """The line a loaded value came from, if it knows it."""
    return int(getattr(value, "line", default) or default)
