"""Config files (mappings, rules, migrations): YAML parsed strictly into pydantic models.

A mistake in a config file is reported with the file, the line and, for a mistyped key, the
key it was probably meant to be, before anything runs:

    mappings/contacts.yaml, line 7: unknown key 'tranforms' (did you mean 'transforms'?)
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from crmmigrate.errors import CrmMigrateError, did_you_mean

M = TypeVar("M", bound=BaseModel)


class BadConfig(CrmMigrateError):
    """A config file that is not valid YAML or does not fit its schema."""


class Strict(BaseModel):
    """A config model: a key it does not know is an error (reported by `parse` with its line
    and the key it was probably meant to be), and once read it is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StrictMutable(BaseModel):
    """A `Strict` model that is not frozen (a normaliser's options)."""

    model_config = ConfigDict(extra="forbid")


class Located:
    """Where each value of a YAML document sits: path of keys and indexes -> line number."""

    def __init__(self, node: yaml.Node | None) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                self.lines[child] = key.start_mark.line + 1
                self._walk(value, child)
                self.lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: tuple[Any, ...]) -> int | None:
        """The line of the deepest part of `path` that exists in the document."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


# The budget a config file is read within. Config files are small and shallow; a file over
# these limits is a mistake or an attack (an alias bomb expands a 1 KB file to billions of
# values), refused before it costs memory or time.
MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 100
MAX_VALUES = 1_000_000


class _Budget(yaml.MarkedYAMLError):
    """A YAML document over the budget, at the mark where it went over."""


class _BudgetLoader(yaml.SafeLoader):
    """The safe loader with nesting bounded while composing (PyYAML composes recursively, so
    5,000 nested brackets would end in RecursionError) and a value no Python type takes
    (2023-02-30, an integer of 5,000 digits) reported at its line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Budget(problem=f"nested more than {MAX_DEPTH} levels deep",
                              problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]} ({exc})",
                problem_mark=node.start_mark,
            ) from None


def read_yaml(path: Path) -> tuple[Any, Located]:
    """A YAML file's data and the line of every value in it, read within the budget (size,
    depth, values after aliases are expanded), refusing a key given twice in one mapping."""
    path = Path(path)
    text = _read_text(path)
    loader = None
    try:
        loader = _BudgetLoader(text)  # checks every character first
        node = loader.get_single_node()
        if node is not None:
            _check_graph(node)
        located = Located(node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None and exc.context_mark is not None and mark.index >= len(text):
            mark = exc.context_mark  # unclosed at the end of the file: say where it opened
        raise BadConfig(
            f"{exc.problem}." if isinstance(exc, _Budget) else f"not valid YAML: {exc.problem}.",
            file=str(path),
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        raise BadConfig(
            f"not valid YAML: {_kind(exc.character)} #x{exc.character:04x} at character {column} "
            "of the line; YAML allows no control character but tab and newline.",
            file=str(path), line=line, hint="Remove it, or write it as an escape in a double-quoted string (\"\\x01\").",
        ) from None
    except yaml.YAMLError as exc:
        raise BadConfig(f"not valid YAML: {exc}.", file=str(path)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, located


def _kind(code: int) -> str:
    return "control character" if code < 0x20 or 0x7F <= code < 0xA0 else "character"


def _read_text(path: Path) -> str:
    """The file's text, read only if it is a regular file within MAX_BYTES."""
    try:
        if not path.is_file():
            if not path.exists():
                raise BadConfig("no such file.", file=str(path))
            raise BadConfig("not a file (a directory, device or pipe); give a YAML file.", file=str(path))
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadConfig(f"cannot be read: {exc.strerror}.", file=str(path)) from None
    if len(raw) > MAX_BYTES:
        raise BadConfig(f"over {MAX_BYTES // (1024 * 1024)} MiB: too large for a config file.", file=str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadConfig(
            f"not UTF-8 text: byte(s) {raw[exc.start:exc.end].hex(' ')} at byte offset {exc.start}.",
            file=str(path), line=raw.count(b"\n", 0, exc.start) + 1,
            hint="Save the file as UTF-8.",
        ) from None


def _check_graph(root: yaml.Node) -> None:
    """Refuse what would make the document cost more than it shows, or say less than it
    seems to: an alias inside the node it names (an endless document), more than
    MAX_VALUES values once aliases are expanded, and a key given twice in one mapping (the
    second would silently replace the first)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[id(node)] > MAX_VALUES:
                raise _Budget(problem=f"more than {MAX_VALUES:,} values once its aliases are expanded "
                              "(an alias bomb?)", problem_mark=node.start_mark)
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise _Budget(problem="an alias refers to a node that contains it, which makes the "
                          "document endless", problem_mark=node.start_mark)
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_unique_keys(node)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_unique_keys(node: yaml.MappingNode) -> None:
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        first = seen.setdefault((key.tag, key.value), key)
        if first is not key:
            raise _Budget(problem=f"key {key.value!r} is given twice in one mapping (first on line "
                          f"{first.start_mark.line + 1}); the second would silently replace the first",
                          problem_mark=key.start_mark)


def parse(model: type[M], data: Any, located: Located, *, file: str, context: dict | None = None) -> M:
    """`data` validated into `model`; the first problem is raised with its line, and every
    problem is listed."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        # A misspelt key is also a missing one: report the misspelling, the cause, first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        problems = [_describe(error, model, located) for error in errors]
        first_line = problems[0][0]
        text = problems[0][1]
        if len(problems) > 1:
            text += " Also: " + "; ".join(
                (f"line {line}: " if line else "") + message for line, message in problems[1:]
            )
        raise BadConfig(text, file=file, line=first_line) from None


def load(model: type[M], path: Path, *, context: dict | None = None) -> M:
    data, located = read_yaml(path)
    if data is None:
        raise BadConfig("the file is empty.", file=str(path))
    return parse(model, data, located, file=str(path), context=context)


class At(ValueError):
    """A problem a model validator finds at a place deeper than itself: `path` is where."""

    def __init__(self, path: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _describe(error: dict[str, Any], model: type[BaseModel], located: Located) -> tuple[int | None, str]:
    loc = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, At):
        loc = (*loc, *cause.path)
    line = located.line(loc)
    where = ".".join(str(part) for part in loc) or "the file"
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, loc[:-1])
        guess = did_you_mean(key, allowed) if allowed else None
        message = f"unknown key {key!r}" + (f" (did you mean {guess!r}?)" if guess else "")
        if allowed:
            message += f"; allowed here: {', '.join(sorted(allowed))}."
        else:
            message += "."
        return line, message
    if error["type"] == "missing":
        return line, f"{where}: required key {str(loc[-1])!r} is missing."
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    return line, f"{where}: {message}."


def _allowed_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at `path`, for did-you-mean on a mistyped key."""
    annotation: Any = model
    for part in path:
        annotation = _step_into(annotation, part)
        if annotation is None:
            return []
    found = _model_of(annotation)
    if found is None:
        return []
    return [f.alias or name for name, f in found.model_fields.items()]


def _step_into(annotation: Any, part: Any) -> Any:
    """The annotation of `part` inside a value annotated `annotation`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _step_into(arg, part)
            if found is not None:
                return found
        return None
    if origin is dict:
        return typing.get_args(annotation)[1]
    if origin is list:
        return typing.get_args(annotation)[0] if isinstance(part, int) else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part)
        if field is None:
            field = next((f for f in annotation.model_fields.values() if f.alias == part), None)
        return field.annotation if field is not None else None
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation like `X | None` stands for, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None
