"""YAML with line numbers, validated by pydantic models, and the one error type for it.

Policy documents, `partners.yaml` and the policy test cases are read the same way: the
YAML is composed into a node tree, whose start marks give every key and item its line and
column; the data is validated by a pydantic model; each problem becomes an `Issue` naming
the file, the line, the path inside the document (`rules[2].fields.identty`, counting
items from 0) and, for an unknown name, the closest known one. A file with any problem is
refused whole, with all of its problems at once.
"""

from __future__ import annotations

import difflib
import types
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, RootModel, ValidationError
from pydantic_core import PydanticCustomError

from hub.text import hidden

Path = tuple[str | int, ...]
Problem = tuple[Path, str, str | None]  # a path below a model, a message, a suggestion
M = TypeVar("M", bound=BaseModel)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Aliases may repeat a node many times over ("billion laughs"); count every node reached,
# repeats included, and refuse a document past these bounds before validating it.
MAX_NODES = 50_000
MAX_DEPTH = 64


@dataclass(frozen=True, kw_only=True)
class Issue:
    """One problem at one place: what a console shows at its line."""

    file: str = ""
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    path: str = ""  # inside the document: `rules[2].fields.identty`
    message: str
    suggestion: str | None = None  # the closest known name, for an unknown one

    def __str__(self) -> str:
        place = ":".join(str(p) for p in (self.file, self.line, self.column) if p)
        text = ": ".join(p for p in (place, self.path, self.message) if p)
        return f"{text}; did you mean {self.suggestion!r}?" if self.suggestion else text


class PolicyError(ValueError):
    """YAML (a policy, partners, test cases) that cannot be used whole. `errors` lists every
    reason as text; `issues` the same reasons with their file, line, path and suggestion."""

    def __init__(self, problems: Iterable[str | Issue]) -> None:
        self.issues = [p if isinstance(p, Issue) else Issue(message=p) for p in problems]
        self.errors = [str(i) for i in self.issues]
        super().__init__("; ".join(self.errors))


def suggest(name: object, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one, if any is close."""
    if not isinstance(name, str):
        return None
    # Stricter than difflib's 0.6: long names sharing a prefix (event types) are not close.
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return found[0] if found else None


def problems(found: list[Problem]) -> PydanticCustomError:
    """What a model validator raises for problems below its model, each at its own path."""
    return PydanticCustomError("problems", "; ".join(m for _, m, _ in found), {"problems": found})


def known_name(what: str, known: Collection[str]) -> Any:
    """An `Annotated` validator for a name of a closed vocabulary (a role, a purpose)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in known:
            raise PydanticCustomError(
                "unknown_name", f"unknown {what} {value!r}", {"suggestion": suggest(value, known)}
            )
        return value

    return BeforeValidator(check)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


# `roles: police_officer` is read as `roles: [police_officer]`.
OneOrMany = BeforeValidator(_one_or_many)


class Strict(BaseModel):
    """Base of the YAML models: no unknown keys, no coercion ("5" is not 5, 1 not true)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def render(path: Path) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}" if out else str(step)
    return out


@dataclass(frozen=True)
class Source:
    """A YAML text read into plain data, with the line and column of every key and item."""

    file: str
    data: Any
    marks: dict[Path, tuple[int, int]]

    def locate(self, loc: Sequence[Any]) -> tuple[int, int]:
        """The place of the deepest node on `loc`; steps the document does not hold (a
        missing key, pydantic's internal steps) keep the place of the node above."""
        here: Path = ()
        for step in loc:
            if here + (step,) in self.marks:
                here = here + (step,)
        return self.marks.get(here, (1, 1))

    def issue(self, loc: Sequence[Any], message: str, suggestion: str | None = None) -> Issue:
        line, column = self.locate(loc)
        path = tuple(s for s in loc if s != "[key]")
        return Issue(
            file=self.file,
            line=line,
            column=column,
            path=render(path),
            message=message,
            suggestion=suggestion,
        )

    def validate(
        self,
        model: type[M],
        context: dict[str, Any] | None = None,
        more: Sequence[Problem] = (),
    ) -> M:
        """The document as `model`; raises PolicyError with one issue per problem, and
        with `more`: problems found outside the model, at their path from the top."""
        issues = [self.issue(*p) for p in more]
        try:
            valid = model.model_validate(self.data, context=context)
        except ValidationError as exc:
            issues += self._issues(model, exc)
        if issues:
            issues.sort(key=lambda i: (i.line or 0, i.column or 0))
            raise PolicyError(issues)
        return valid

    def _issues(self, model: type[BaseModel], exc: ValidationError) -> list[Issue]:
        out = []
        for err in exc.errors(include_url=False):
            loc, ctx = err["loc"], err.get("ctx") or {}
            message, suggestion = _message(err), ctx.get("suggestion")
            if err["type"] == "problems":
                out += [self.issue(loc + at, m, s) for at, m, s in ctx["problems"]]
                continue
            if err["type"] == "extra_forbidden":
                name = err["loc"][-1]
                message = f"unknown key {name!r}"
                suggestion = suggest(name, _keys(model, err["loc"][:-1]))
            out.append(self.issue(loc, message, suggestion))
        return out


_MESSAGES = {
    "missing": "required",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "invalid_key": "keys must be text",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


def _message(err: Any) -> str:
    text = _MESSAGES.get(err["type"], err["msg"])
    return text[0].lower() + text[1:]


def _keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys the model allows at `loc` (for suggesting one in place of an unknown key)."""
    kind: Any = model
    steps = list(loc)
    while True:
        if get_origin(kind) in (Union, types.UnionType):  # an optional model
            kind = next(a for a in get_args(kind) if a is not type(None))
        is_model = isinstance(kind, type) and issubclass(kind, BaseModel)
        if is_model and issubclass(kind, RootModel):
            kind = kind.model_fields["root"].annotation
        elif not steps:
            return list(kind.model_fields) if is_model else []
        elif is_model and str(steps[0]) in kind.model_fields:
            kind = kind.model_fields[str(steps.pop(0))].annotation
        elif get_origin(kind) in (list, tuple) and isinstance(steps[0], int):
            kind, _ = get_args(kind)[0], steps.pop(0)
        elif get_origin(kind) is dict:
            kind, _ = get_args(kind)[1], steps.pop(0)
        else:
            return []


def _hidden_characters(text: str, file: str) -> list[Issue]:
    """A policy is reviewed by people before it is approved: what they read must be what
    is checked, so no control or invisible format character (a tab aside)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for column, ch in enumerate(line, start=1):
            if hidden(ch, "\t\ufeff"):
                message = (
                    f"character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}) is not "
                    "allowed: it can make the text read differently from what is checked"
                )
                found.append(Issue(file=file, line=number, column=column, message=message))
    return found


def load(text: str, file: str) -> Source:
    """Read one YAML document; raises PolicyError naming the line of a syntax error, a
    duplicate key, a hidden or direction-changing character, or a document too large once
    its aliases are expanded."""
    hidden = _hidden_characters(text, file)
    if hidden:
        raise PolicyError(hidden)
    loader = _Loader(text)
    marks: dict[Path, tuple[int, int]] = {(): (1, 1)}
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node else None
        found = _index(loader, node, marks) if node else []
    except yaml.MarkedYAMLError as exc:
        mark, problem = exc.problem_mark or exc.context_mark, exc.problem or exc.context
        if exc.problem and exc.context and exc.context_mark:
            problem = f"{exc.context} (line {exc.context_mark.line + 1}), {problem}"
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"not valid YAML: {problem}"
        raise PolicyError([Issue(file=file, line=line, column=column, message=message)]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyError([Issue(file=file, message=f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    source = Source(file, data, marks)
    if found:
        raise PolicyError(source.issue(path, message) for path, message in found)
    return source


def _index(
    loader: Any, root: yaml.Node, marks: dict[Path, tuple[int, int]]
) -> list[tuple[Path, str]]:
    """Record the place of every key and item (of a repeated key, the last, whose value
    counts); return the duplicate keys, or the one reason the document is too large."""
    found: list[tuple[Path, str]] = []
    stack: list[tuple[yaml.Node, Path]] = [(root, ())]
    marks[()] = _mark(root)
    count = 0
    while stack:
        node, path = stack.pop()
        count += 1
        if count > MAX_NODES or len(path) > MAX_DEPTH:
            return [(path, "the document is too large or too deeply nested")]
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                # YAML reads a bare `null:` key as the null value.
                child = path + ("null" if key is None else key,)
                if key in seen:
                    found.append((child, f"duplicate key {key!r}"))
                seen.add(key)
                marks[child] = _mark(key_node)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                marks[path + (i,)] = _mark(item)
                stack.append((item, path + (i,)))
    return found


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1
