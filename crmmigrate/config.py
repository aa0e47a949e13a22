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
from pydantic import BaseModel, ValidationError

from crmmigrate.errors import CrmMigrateError, did_you_mean

M = TypeVar("M", bound=BaseModel)


class BadConfig(CrmMigrateError):
    """A config file that is not valid YAML or does not fit its schema."""


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


def read_yaml(path: Path) -> tuple[Any, Located]:
    """A YAML file's data and the line of every value in it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadConfig("no such file.", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadConfig(f"cannot be read: {exc}.", file=str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None and exc.context_mark is not None and mark.index >= len(text):
            mark = exc.context_mark  # unclosed at the end of the file: say where it opened
        raise BadConfig(
            f"not valid YAML: {exc.problem}.",
            file=str(path),
            line=mark.line + 1 if mark else None,
        ) from None
    return data, Located(node)


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
