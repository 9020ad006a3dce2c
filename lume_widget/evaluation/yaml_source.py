"""Reading a scenario file's YAML safely: size and encoding, libyaml, alias limits, duplicate keys, secrets, and where each node is.

Everything here works on the composed YAML nodes, before any value is built, so a file
that would expand past :data:`MAX_YAML_NODES` values (a "billion laughs") is refused
without being expanded, and every problem can name its line and column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lume_widget.errors import ConfigurationError

__all__ = [
    "LOADER",
    "MAX_FILE_BYTES",
    "MAX_YAML_NODES",
    "SECRET_KEYS",
    "Problem",
    "Reached",
    "ScenarioFileError",
    "check_expansion",
    "compose",
    "dotted",
    "duplicate_keys",
    "is_union_tag",
    "node_for",
    "problem_at",
    "read_source",
    "secrets_in",
    "walk",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, and where."""

    file: str
    line: int | None
    column: int | None
    where: str
    message: str

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}:{self.column}"
        return f"{place}: {self.where + ': ' if self.where else ''}{self.message}"


class ScenarioFileError(ConfigurationError):
    """A scenario file that cannot be used; ``problems`` names the line and the problem of each."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = (
            "the scenario file has a problem"
            if count == 1
            else f"the scenario file has {count} problems"
        )
        body = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{head}; fix it and run again:\n{body}")


MAX_FILE_BYTES = 2 * 1024 * 1024
"""The largest scenario file read (2 MiB); a script of conversations is far smaller."""

MAX_YAML_NODES = 100_000
"""The most values a file may hold once its aliases (``*name``) are expanded."""

SECRET_KEYS = frozenset({"key", "api_key", "apikey", "token", "authorization", "password"})
"""Keys refused in ``judge:`` and ``simulator:``: credentials come from the environment only."""

_KEY_VARIABLES = {
    "judge": "$LUME_JUDGE_API_KEY (else $OPENAI_API_KEY is used)",
    "simulator": "$LUME_SIMULATOR_API_KEY (else the judge's key is used)",
}

# libyaml's C parser when installed (many times faster), else the pure-Python one.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_source(path: str | Path) -> str:
    """The text of a scenario file: at most :data:`MAX_FILE_BYTES`, UTF-8 (a BOM dropped)."""
    file = Path(path)
    name = str(file)
    try:
        if file.is_dir():
            raise ScenarioFileError(
                [
                    Problem(
                        name, None, None, "", "this is a directory; give the scenario file (YAML)"
                    )
                ]
            )
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioFileError(
                [
                    Problem(
                        name,
                        None,
                        None,
                        "",
                        f"the file holds {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}"
                        " (2 MiB); split it into several scenario files",
                    )
                ]
            )
        raw = file.read_bytes()
    except OSError as exc:
        raise ScenarioFileError(
            [Problem(name, None, None, "", f"cannot read it ({exc.strerror or exc})")]
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioFileError(
            [
                Problem(
                    name,
                    line,
                    column,
                    "",
                    f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8",
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")


def compose(text: str, name: str) -> tuple[yaml.Node, dict[str, Any]]:
    """The YAML's root mapping node and its value, refusing alias bombs before building anything."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioFileError(
            [
                Problem(
                    name,
                    None,
                    None,
                    "",
                    f"the text is over the limit of {MAX_FILE_BYTES:,} characters",
                )
            ]
        )
    loader = LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_expansion(node, name)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        raise ScenarioFileError(
            [problem_at(name, mark, "", f"not valid YAML: {problem}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioFileError([Problem(name, None, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()

    if node is None or not isinstance(data, dict):
        mark = node.start_mark if node is not None else None
        raise ScenarioFileError(
            [problem_at(name, mark, "", "expected a mapping with a 'scenarios' list at the top")]
        )
    return node, data


def duplicate_keys(node: yaml.Node, name: str, loc: tuple[str | int, ...]) -> Iterator[Problem]:
    """A problem for every key that appears twice in one mapping, anywhere in the file."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield problem_at(
                    name,
                    key_node.start_mark,
                    dotted((*loc, key)),
                    f"the key {key!r} appears twice",
                )
            seen.add(key)
            yield from duplicate_keys(value_node, name, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from duplicate_keys(item, name, (*loc, index))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse aliases that refer to themselves or expand past :data:`MAX_YAML_NODES` values.

    Composed YAML shares one node per anchor, so this count is linear in the file, while
    anything that walks the expanded document ("billion laughs") would not finish.
    """
    sizes: dict[int, int] = {}
    expanding: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        if finished:
            expanding.discard(ident)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_YAML_NODES:
                raise ScenarioFileError(
                    [
                        problem_at(
                            name,
                            node.start_mark,
                            "",
                            f"its aliases (*name) expand to more than {MAX_YAML_NODES:,} values;"
                            " write the values out or use fewer nested aliases",
                        )
                    ]
                )
            sizes[ident] = total
            continue
        if ident in sizes:
            continue
        expanding.add(ident)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in expanding:
                raise ScenarioFileError(
                    [
                        problem_at(
                            name,
                            child.start_mark,
                            "",
                            "this anchor is used inside itself (an alias refers to itself); remove that alias",
                        )
                    ]
                )
            if id(child) not in sizes:
                stack.append((child, False))


def secrets_in(root: yaml.Node, name: str) -> list[Problem]:
    """API keys written into ``judge:`` or ``simulator:``: refused, with where to put them."""
    problems: list[Problem] = []
    if not isinstance(root, yaml.MappingNode):
        return problems
    for key_node, value_node in root.value:
        section = str(key_node.value)
        if section not in _KEY_VARIABLES or not isinstance(value_node, yaml.MappingNode):
            continue
        for inner_key, _ in value_node.value:
            if str(inner_key.value).lower() in SECRET_KEYS:
                problems.append(
                    problem_at(
                        name,
                        inner_key.start_mark,
                        f"{section}.{inner_key.value}",
                        "an API key never goes in the scenario file (it would be committed and"
                        f" shared with it); remove this line and set {_KEY_VARIABLES[section]}",
                    )
                )
    return problems


def walk(root: yaml.Node, loc: tuple[str | int, ...]) -> Reached:
    """Follow a pydantic location through the YAML nodes as far as it goes.

    pydantic puts union member tags (``list[str]``, ``str``) into locations; they name
    no YAML node and are skipped.
    """
    node = root
    key_node: yaml.Node | None = None
    walked: list[str | int] = []
    found = True
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for candidate_key, value_node in node.value:
                if str(candidate_key.value) == part:
                    walked.append(part)
                    key_node, node = candidate_key, value_node
                    break
            else:
                if not is_union_tag(part):
                    found = False
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                found = False
                break
            walked.append(part)
            key_node, node = None, node.value[part]
        elif isinstance(part, int) or not is_union_tag(part):
            found = False
            break
    return Reached(node, key_node, tuple(walked), found)


@dataclass(frozen=True)
class Reached:
    """How far :func:`walk` got: the node, its key node, the path walked, whether all of it."""

    node: yaml.Node
    key_node: yaml.Node | None
    walked: tuple[str | int, ...]
    found: bool


def is_union_tag(part: str) -> bool:
    """Whether a pydantic location part is a union member tag (it names no YAML node)."""
    return "[" in part or part in (
        "str",
        "int",
        "float",
        "bool",
        "function-after",
        "function-before",
    )


def node_for(root: yaml.Node, loc: tuple[str | int, ...]) -> yaml.Node:
    """The YAML node a pydantic location reaches (as far as it goes)."""
    return walk(root, loc).node


def dotted(loc: Sequence[str | int]) -> str:
    """``scenarios[0].turns[1].expect``: a location as a person reads it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def problem_at(name: str, mark: Any, where: str, message: str) -> Problem:
    """A :class:`Problem` at a YAML mark (1-based line and column), or without a place."""
    if mark is None:
        return Problem(name, None, None, where, message)
    return Problem(name, mark.line + 1, mark.column + 1, where, message)
