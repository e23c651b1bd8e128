"""YAML documents that remember where every key and value came from.

PyYAML's plain loaders forget positions and silently keep the last of two
duplicate keys; both would make our errors vague or wrong. Here each file is
composed into nodes and converted by hand, recording the line and column of
every value and key under its path (``("slos", 0, "objective")``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..model.diagnostics import Diagnostic, Level, Position, SpecError, field_path

KeyPath = tuple[object, ...]

# ---- input limits: a hostile or broken file gets a placed error, never a traceback or a memory blow-up ----

#: Largest spec or connection file read (a 10,000-SLO catalogue in one file is about 3 MiB).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Deepest nesting of mappings and lists (specs nest about 8 deep).
MAX_DEPTH = 64
#: Values a document may expand to through aliases, at least; more for large files (10 per byte).
MIN_VALUE_BUDGET = 100_000
#: Longest scalar (a raw PromQL query or a description fits many times over).
MAX_STRING = 64 * 1024
#: Largest integer taken (exact as a float, as every number here ends up).
MAX_INT = 2**53
#: The YAML tags a spec may use: the standard scalars, mappings and lists, and dates (holidays).
ALLOWED_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in
                         ("str", "int", "float", "bool", "null", "timestamp", "map", "seq"))


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


class _Limit(Exception):
    """A document broke an input limit: stop converting it (one diagnostic says which)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Converter:
    def __init__(self, file: str, budget: int = MIN_VALUE_BUDGET):
        self.file = file
        self.values: dict[KeyPath, tuple[int, int]] = {}
        self.keys: dict[KeyPath, tuple[int, int]] = {}
        self.errors: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")
        self._budget = budget
        #: The mappings and lists being converted (an alias back to one of them would never end).
        self._open: set[int] = set()

    def close(self) -> None:
        """Let the constructor go by reference counting: a PyYAML loader refers to itself (its parser state is
        a bound method), and left to the cyclic collector, one per document would wait for a full pass."""
        self._constructor.dispose()

    def _limit(self, node: yaml.Node, path: KeyPath, message: str, hint: str) -> _Limit:
        return _Limit(Diagnostic(Level.ERROR, _position(self.file, node.start_mark), _render(path), message, hint))

    def _unsupported_tag(self, node: yaml.Node, path: KeyPath) -> _Limit:
        return self._limit(node, path, f"YAML tag {_tag_name(node.tag)} is not supported",
                           "remove the tag; specs take plain strings, numbers, booleans, dates, lists and mappings")

    def convert(self, node: yaml.Node, path: KeyPath) -> Any:
        mark = node.start_mark
        self.values[path] = (mark.line + 1, mark.column + 1)
        self._budget -= 1
        if self._budget < 0:
            raise self._limit(node, path, "aliases expand this document to too many values (a YAML alias bomb?)",
                              "use fewer aliases (*name), or write the values out")
        if type(node) is yaml.ScalarNode and node.tag == _STR_TAG and len(node.value) <= MAX_STRING:
            return node.value  # what scalar() returns for a string, without the call: most values are strings
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if node.tag not in ALLOWED_TAGS:
                raise self._unsupported_tag(node, path)
            if len(path) >= MAX_DEPTH:
                raise self._limit(node, path, f"nested deeper than {MAX_DEPTH} levels", "flatten the structure")
            if id(node) in self._open:
                raise self._limit(node, path, "an alias refers to a value that contains it",
                                  "replace the alias (*name) with the values it should hold")
            self._open.add(id(node))
            try:
                return self._container(node, path)
            finally:
                self._open.discard(id(node))
        return self.scalar(node, path)

    def _container(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node, path)
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
        return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]

    def scalar(self, node: yaml.Node, path: KeyPath = ()) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        if len(node.value) > MAX_STRING:
            raise self._limit(node, path, f"value is {len(node.value):,} characters long (at most {MAX_STRING:,})",
                              "shorten it")
        if node.tag == _STR_TAG:
            return node.value
        if node.tag not in ALLOWED_TAGS:
            raise self._unsupported_tag(node, path)
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError, IndexError, yaml.YAMLError):
            raise self._limit(node, path, f"{node.value!r} is not a valid {_tag_name(node.tag)}",
                              "remove the tag or write a value of that type") from None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise self._limit(node, path, f"number {node.value[:40]}{'...' if len(node.value) > 40 else ''} is too "
                              f"large (at most {MAX_INT:,})", "use a smaller number")
        if isinstance(value, float) and not math.isfinite(value):
            raise self._limit(node, path, f"{node.value!r} is not a finite number", "write a finite number")
        return value


def _tag_name(tag: str) -> str:
    """``!!int`` for YAML's own tags, the tag as written otherwise."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _render(path: KeyPath) -> str:
    """The field path, its middle elided when it is deep (a limit's error must stay one readable line)."""
    if len(path) > 12:
        return field_path(path[:4]) + "..." + field_path(path[-4:]).lstrip(".")
    return field_path(path)


#: libyaml's parser when PyYAML was built with it: the same nodes and marks, several times faster.
_PARSER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Tags of plain scalars resolved so far (keys, names, numbers recur in every spec), bounded.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_MAX = 1 << 14
_PLAIN_TAG_LONGEST = 64


class _Composer(_PARSER):  # type: ignore[valid-type,misc]
    """:data:`_PARSER` with the tag of each short plain scalar remembered. The parser asks the resolver (Python)
    for every scalar, and a plain one is matched against the implicit resolvers' patterns: for a short value
    seen before, the answer is the same (PyYAML's safe resolvers depend on the text alone)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and len(value) <= _PLAIN_TAG_LONGEST \
                and not self.yaml_path_resolvers:
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                if len(_PLAIN_TAGS) >= _PLAIN_TAGS_MAX:
                    _PLAIN_TAGS.clear()
                tag = _PLAIN_TAGS[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


_COMPOSER = _Composer


def load_text(text: str, file: str) -> list[Document]:
    """Parse every non-empty document of a YAML text; raise :class:`SpecError` on syntax errors.

    Empty documents are dropped here, once, so that no reader (native, Sloth, OpenSLO, Pyrra) refuses them
    and none has to know about them; a document's ``index`` still counts them, as they sit in the file."""
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([Diagnostic(Level.ERROR, Position(file), "",
                                    f"file is {len(text):,} characters long (at most {MAX_FILE_BYTES:,})",
                                    "split it into several files")])
    try:
        nodes = list(yaml.compose_all(text, Loader=_COMPOSER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _position(file, mark) if mark else Position(file)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Diagnostic(Level.ERROR, pos, "", f"YAML syntax error: {problem}",
                                    "check indentation and quoting around this line")]) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SpecError([Diagnostic(Level.ERROR, Position(file, line, column), "",
                                    f"the character U+{ord(character):04X} is not allowed in YAML",
                                    "remove it, or write it as an escape (\\x1b) in a double-quoted string")]
                        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(Level.ERROR, Position(file), "", f"YAML error: {exc}",
                                    "check the file is valid YAML")]) from None
    documents = []
    errors: list[Diagnostic] = []
    for index, node in enumerate(nodes):
        if _is_empty_document(node):
            continue
        conv = _Converter(file, max(MIN_VALUE_BUDGET, 10 * len(text)))
        try:
            data = conv.convert(node, ())
        except _Limit as exc:
            errors.append(exc.diagnostic)
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            errors.append(Diagnostic(Level.ERROR, _position(file, mark) if mark else Position(file), "",
                                     f"YAML error: {getattr(exc, 'problem', exc)}", ""))
            continue
        finally:
            conv.close()
        errors.extend(conv.errors)
        documents.append(Document(file, index, data, conv.values, conv.keys))
    if errors:
        raise SpecError(errors)
    return documents


def load_file(path: Path) -> list[Document]:
    """Read a YAML file; unreadable or non-UTF-8 files become diagnostics, not tracebacks."""
    name = str(path)
    try:
        with open(path, "rb") as handle:  # read at most one byte past the limit: /dev/zero must not hang us
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise SpecError([Diagnostic(Level.ERROR, Position(name), "",
                                        f"file is larger than {MAX_FILE_BYTES:,} bytes",
                                        "split it into several files")])
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError([Diagnostic(Level.ERROR, Position(name), "", "file is not UTF-8 text",
                                    "save the file as UTF-8")]) from None
    except OSError as exc:
        raise SpecError([Diagnostic(Level.ERROR, Position(name), "", f"cannot read file: {exc.strerror}",
                                    "check the path and its permissions")]) from None
    return load_text(text, name)
