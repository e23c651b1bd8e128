"""YAML documents that remember where every key and value came from.

PyYAML's plain loaders forget positions and silently keep the last of two
duplicate keys; both would make our errors vague or wrong. Here each file is
composed into nodes and converted by hand, recording the line and column of
every value and key under its path (``("slos", 0, "objective")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..model.diagnostics import Diagnostic, Level, Position, SpecError, field_path

KeyPath = tuple[object, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document of a file, its plain data, and where each path sits."""

    file: str
    index: int
    data: Any
    #: (line, column) of each value and key by path; a Position is built only when a diagnostic asks.
    values: dict[KeyPath, tuple[int, int]] = field(repr=False, compare=False)
    keys: dict[KeyPath, tuple[int, int]] = field(repr=False, compare=False)

    def position(self, path: KeyPath = (), *, key: bool = False) -> Position:
        """The closest known position of ``path`` (or of its key with ``key=True``)."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return Position(self.file, *table[probe])
            if probe in self.values:
                return Position(self.file, *self.values[probe])
            probe = probe[:-1]
        return Position(self.file, *self.values.get((), (1, 1)))

    def get(self, path: KeyPath, default: Any = None) -> Any:
        node = self.data
        for part in path:
            if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
                node = node[part]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return default
        return node

    def sub(self, prefix: KeyPath) -> Document:
        """A view of the value at ``prefix`` as its own document (positions kept)."""
        n = len(prefix)
        values = {p[n:]: pos for p, pos in self.values.items() if p[:n] == prefix}
        keys = {p[n:]: pos for p, pos in self.keys.items() if p[:n] == prefix}
        return Document(self.file, self.index, self.get(prefix), values, keys)


def _position(file: str, mark: yaml.Mark) -> Position:
    return Position(file, mark.line + 1, mark.column + 1)


_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"


def _is_empty_document(node: yaml.Node | None) -> bool:
    """A document with no content: a trailing ``---`` (as Kubernetes manifests often end), two ``---`` in a row,
    or a document of comments only. YAML composes each as an empty null scalar; kubectl, Helm and the peers'
    own tools skip them, so we do too. An explicit ``null`` or ``~`` is content and stays a (refused) document."""
    if node is None:
        return True
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG and node.value == ""


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.values: dict[KeyPath, tuple[int, int]] = {}
        self.keys: dict[KeyPath, tuple[int, int]] = {}
        self.errors: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, path: KeyPath) -> Any:
        mark = node.start_mark
        self.values[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.errors.append(
                        Diagnostic(Level.ERROR, _position(self.file, key_node.start_mark), "",
                                   "mapping keys must be plain strings", "quote the key")
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = path + (key,)
                if key in out:
                    first = self.keys.get(child)
                    self.errors.append(
                        Diagnostic(
                            Level.ERROR,
                            _position(self.file, key_node.start_mark),
                            _render(child),
                            f"duplicate key {key!r} (first defined at line {first[0] if first else '?'})",
                            "remove one of them; YAML would silently keep only the last",
                        )
                    )
                    continue
                self.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.convert(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        if node.tag == _STR_TAG:
            return node.value
        return self._constructor.construct_object(node, deep=True)


def _render(path: KeyPath) -> str:
    return field_path(path)


#: libyaml's parser when PyYAML was built with it: the same nodes and marks, several times faster.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_text(text: str, file: str) -> list[Document]:
    """Parse every non-empty document of a YAML text; raise :class:`SpecError` on syntax errors.

    Empty documents are dropped here, once, so that no reader (native, Sloth, OpenSLO, Pyrra) refuses them
    and none has to know about them; a document's ``index`` still counts them, as they sit in the file."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_COMPOSER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _position(file, mark) if mark else Position(file)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Diagnostic(Level.ERROR, pos, "", f"YAML syntax error: {problem}",
                                    "check indentation and quoting around this line")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(Level.ERROR, Position(file), "", f"YAML error: {exc}", "")]) from None
    documents = []
    errors: list[Diagnostic] = []
    for index, node in enumerate(nodes):
        if _is_empty_document(node):
            continue
        conv = _Converter(file)
        try:
            data = conv.convert(node, ())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            errors.append(Diagnostic(Level.ERROR, _position(file, mark) if mark else Position(file), "",
                                     f"YAML error: {getattr(exc, 'problem', exc)}", ""))
            continue
        errors.extend(conv.errors)
        documents.append(Document(file, index, data, conv.values, conv.keys))
    if errors:
        raise SpecError(errors)
    return documents


def load_file(path: Path) -> list[Document]:
    """Read a YAML file; unreadable or non-UTF-8 files become diagnostics, not tracebacks."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([Diagnostic(Level.ERROR, Position(name), "", "file is not UTF-8 text",
                                    "save the file as UTF-8")]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(Level.ERROR, Position(name), "", f"cannot read file: {exc.strerror}",
                                    "check the path and its permissions")]) from None
    return load_text(text, name)
