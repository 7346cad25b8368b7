"""YAML with line numbers: every mapping value keeps the line it was written on.

`yaml.compose` gives the node tree with marks (libyaml when available); scalars and
sub-trees are then built by PyYAML's safe constructor, so values are plain Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from chainsleuth.errors import ParseError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Keys whose values stay nodes, so that their items keep line numbers too.
_RAW_KEYS = frozenset({"tags", "actors"})


@dataclass(frozen=True)
class Field:
    """One mapping value and the (1-based) line of its key."""

    value: Any
    line: int


@dataclass
class Problems:
    """The errors found in one file; `raise_if_any` turns them into one ParseError."""

    file: str
    errors: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        """Record an error at `line` (0 when the file as a whole is wrong)."""
        self.errors.append((line, message))

    def raise_if_any(self) -> None:
        """ParseError listing every error by line, saying that nothing was imported. An
        error repeated word for word (a bad header field every tag inherits) shows once."""
        if not self.errors:
            return
        self.errors = list(dict.fromkeys(self.errors))
        lines = [
            f"  {self.file}:{line}: {msg}" if line else f"  {self.file}: {msg}"
            for line, msg in sorted(self.errors, key=lambda e: e[0])
        ]
        raise ParseError(
            f"{self.file}: {len(self.errors)} error(s), nothing imported\n" + "\n".join(lines)
        )


def compose(text: str, file: str) -> yaml.Node:
    """The node tree of one YAML document; ParseError with the line of a syntax error."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ParseError(
            f"{file}:{line}: malformed YAML: {exc.problem or exc.context}; nothing imported"
        ) from None
    except yaml.YAMLError as exc:
        raise ParseError(f"{file}: malformed YAML: {exc}; nothing imported") from None
    if node is None:
        raise ParseError(f"{file}: empty YAML document; nothing imported")
    return node


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def value(node: yaml.Node) -> Any:
    """The plain Python value of a node (safe types only)."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def mapping(node: yaml.Node, problems: Problems, what: str) -> dict[str, Field]:
    """A mapping node as {key: Field}; records non-mappings and duplicate keys."""
    if not isinstance(node, yaml.MappingNode):
        problems.add(line_of(node), f"{what} must be a mapping")
        return {}
    out: dict[str, Field] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key in out:
            problems.add(line_of(key_node), f"duplicate key {key!r} in {what}")
            continue
        raw: Any = value_node if key in _RAW_KEYS else value(value_node)
        out[key] = Field(raw, line_of(key_node))
    return out
