"""YAML loading that remembers where every mapping, key and list item came from.

Mappings load as `YMap` (a dict) and sequences as `YList` (a list); both carry ``line`` and the
line of each key / item, so validation errors can point at ``models/schema.yml:12``.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from headwater.errors import HeadwaterError, Location, YamlError, code_snippet

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YMap(dict[Any, Any]):
    """A dict that knows the file and lines it was read from."""

    path: str = ""
    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def loc(self, key: Any = None) -> Location:
        """Location of ``key`` (or of the mapping itself)."""
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return Location(self.path, line)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle as a plain dict: a cached manifest must unpickle without importing yaml.
        return (dict, (dict(self),))


class YList(list[Any]):
    """A list that knows the file and lines it was read from."""

    path: str = ""
    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []

    def loc(self, index: int | None = None) -> Location:
        if index is not None and index < len(self.item_lines):
            return Location(self.path, self.item_lines[index])
        return Location(self.path, self.line)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


class _BadValue(yaml.constructor.ConstructorError):
    """A scalar the YAML resolver typed (a timestamp, mostly) but whose value cannot be built:
    `2026-13-01` looks like a date to the resolver, and `datetime` rejects it."""


class _Loader(_Base):  # type: ignore[misc,valid-type]
    rel_path = ""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Build ``node``; a value the constructor rejects with a bare `ValueError` (PyYAML gives it
        no mark) becomes a marked error at the node, so the report names the file and line."""
        try:
            return super().construct_object(node, deep=deep)
        except HeadwaterError:
            raise  # ours (a `ValueError` too) already says where
        except (ValueError, OverflowError) as exc:
            problem = str(exc)
            if isinstance(node, yaml.ScalarNode):
                problem = f"`{node.value}` is not a valid {_tag_name(node.tag)}: {exc}"
            raise _BadValue(problem=problem, problem_mark=node.start_mark) from None


def _tag_name(tag: str) -> str:
    """`tag:yaml.org,2002:timestamp` -> `timestamp`."""
    return tag.rsplit(":", 1)[-1]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    out = YMap()
    out.path = loader.rel_path
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, dict | list):
            raise YamlError(
                "a mapping or list is used as a key",
                location=Location(loader.rel_path, key_node.start_mark.line + 1),
                hint='`{{ ... }}` is Jinja, not YAML: quote the value (`key: "{{ ... }}"`), or '
                "write one `{` for a mapping",
            )
        if not isinstance(key, Hashable):  # `? !!set {a}`: PyYAML's own loader refuses it too
            raise YamlError(
                f"a {type(key).__name__} is used as a key",
                location=Location(loader.rel_path, key_node.start_mark.line + 1),
                hint="a key is a string, number, date or boolean",
            )
        if key in out:
            raise YamlError(
                f"duplicate key `{key}`",
                location=Location(loader.rel_path, key_node.start_mark.line + 1),
                hint="each key may appear once per mapping; remove or merge the duplicate",
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YList:
    out = YList(loader.construct_object(child, deep=True) for child in node.value)
    out.path = loader.rel_path
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, rel_path: str) -> Any:
    """Parse YAML text; errors name the file, line and column with the offending line shown."""
    loader = _Loader(text)
    loader.rel_path = rel_path
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "check indentation and quoting; values containing `: ` or `{{` need quotes"
        if isinstance(exc, _BadValue):
            hint = "fix the value, or quote it to keep it a string"
        raise YamlError(
            f"invalid YAML: {problem}",
            location=Location(rel_path, line, col),
            snippet=code_snippet(text, line, col) if line else None,
            hint=hint,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", location=Location(rel_path)) from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path, root: Path) -> Any:
    """Read and parse a YAML file; the location in errors is relative to ``root``."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"file is not UTF-8 text: {exc}", location=Location(rel)) from None
    return load_yaml(text, rel)
