"""Definition files: journeys, surveys and metrics as JSON or TOML.

One cattrs converter does every (de)serialisation in cxcore. It is strict: a
string is never silently turned into a number, unknown keys are errors (with a
suggestion for typos), and a broken document raises one
:class:`~cxcore.DefinitionError` that lists every problem with its path:

>>> loads_definitions('''
... [[surveys]]
... id = "after_billing"
... title = { en = "Your visit" }
... [[surveys.questions]]
... kind = "nps"
... id = "ltr"
... text = { en = "How likely are you to recommend us?" }
... scale = 11
... requird = true
... ''', format="toml")
Traceback (most recent call last):
  ...
cxcore.errors.DefinitionError: <string>: 2 problems:
  surveys[0].questions[0].requird: is not a field of an NPS question (did you mean 'required'?)
  surveys[0].questions[0].scale: 11 is not a valid NPS scale (expected 10)
"""

from __future__ import annotations

import difflib
import enum
import functools
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from cxcore.errors import DefinitionError, Problem, ValidationError
from cxcore.metrics import Metric, MetricRegistry, metric_registry
from cxcore.model._checks import Checks, Invalid, as_tuple
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import Scalar
from cxcore.model.journey import Journey
from cxcore.model.survey import (
    QUESTION_KINDS,
    AnswerValue,
    ConditionValue,
    Question,
    ScaleQuestion,
    ScoredQuestion,
    Survey,
)
from cxcore.model.text import LocalizedText

__all__ = [
    "Definitions",
    "Format",
    "converter",
    "dump_definitions",
    "dumps",
    "load_definitions",
    "loads",
    "loads_definitions",
    "structure",
    "unstructure",
]

T = TypeVar("T")
Format = Literal["json", "toml"]
"""The file formats definitions can be read from and written to."""

_QUESTION_NAMES = {
    "nps": "an NPS question",
    "csat": "a CSAT question",
    "ces": "a CES question",
    "rating": "a rating question",
    "scale": "a scale question",
    "choice": "a choice question",
    "text": "a text question",
}


@attrs.frozen(kw_only=True)
class Definitions:
    """The contents of one or more definition files.

    Args:
        journeys: Customer journeys.
        surveys: Surveys (several versions of one survey may appear).
        metrics: Metrics of your own, added to the built-in ones.

    Raises:
        ValidationError: If journey ids, survey id and version pairs, or metric
            names repeat.

    .. versionadded:: 0.1.0
    """

    journeys: tuple[Journey, ...] = attrs.field(default=(), converter=as_tuple)
    surveys: tuple[Survey, ...] = attrs.field(default=(), converter=as_tuple)
    metrics: tuple[Metric, ...] = attrs.field(default=(), converter=as_tuple)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        journeys = checks.items("journeys", self.journeys, Journey, "journeys")
        surveys = checks.items("surveys", self.surveys, Survey, "surveys")
        metrics = checks.items("metrics", self.metrics, Metric, "metrics")
        checks.unique("journeys", journeys, key=lambda j: j.id)
        seen: dict[tuple[str, int], int] = {}
        for i, s in enumerate(surveys):
            key = (s.id, s.version)
            if key in seen:
                checks.add(
                    f"surveys[{i}]",
                    f"{s.id!r} v{s.version} is already defined by surveys[{seen[key]}]",
                )
            else:
                seen[key] = i
        checks.unique("metrics", metrics, key=lambda m: m.name)
        checks.raise_if_any("Definitions")

    def journey(self, journey_id: str) -> Journey:
        """Return the journey called *journey_id*.

        Raises:
            KeyError: If there is none; the message lists the known ones.
        """
        for j in self.journeys:
            if j.id == journey_id:
                return j
        known = ", ".join(j.id for j in self.journeys) or "none"
        msg = f"no journey {journey_id!r}; defined: {known}"
        raise KeyError(msg)

    def survey(self, survey_id: str, version: int | None = None) -> Survey:
        """Return survey *survey_id*: the given *version*, or else the latest.

        Raises:
            KeyError: If there is none; the message lists what is defined.
        """
        found = [s for s in self.surveys if s.id == survey_id and version in (None, s.version)]
        if found:
            return max(found, key=lambda s: s.version)
        known = ", ".join(f"{s.id} v{s.version}" for s in self.surveys) or "none"
        wanted = survey_id if version is None else f"{survey_id} v{version}"
        msg = f"no survey {wanted}; defined: {known}"
        raise KeyError(msg)

    def merge(self, other: Definitions) -> Definitions:
        """Return the definitions of both (as if from one file).

        Raises:
            ValidationError: If the two define the same thing.
        """
        return Definitions(
            journeys=self.journeys + other.journeys,
            surveys=self.surveys + other.surveys,
            metrics=self.metrics + other.metrics,
        )

    def register_metrics(self, registry: MetricRegistry | None = None) -> None:
        """Add the custom :attr:`metrics` to *registry* (by default the process-wide one).

        A metric already registered with the same definition is left alone.

        Raises:
            CxError: If a different metric is registered under one of the names.
        """
        registry = metric_registry() if registry is None else registry
        for metric in self.metrics:
            if metric.name in registry and registry.get(metric.name) == metric:
                continue
            registry.register(metric)

    def check(self, registry: MetricRegistry | None = None) -> list[Problem]:
        """Return problems that need more than one object to see (empty when fine).

        Every scored question must feed a metric that exists (in *registry*, by
        default the process-wide one, or among :attr:`metrics`) and share its
        scale; custom metrics must not take a registered name.
        """
        registry = metric_registry() if registry is None else registry
        known: dict[str, Metric] = {m.name: m for m in registry}
        problems: list[Problem] = []
        for i, m in enumerate(self.metrics):
            if m.name in known and known[m.name] != m:
                problems.append(
                    Problem(
                        f"metrics[{i}].name",
                        f"{m.name!r} is already a registered metric (choose another name)",
                    )
                )
        known.update({m.name: m for m in self.metrics})
        for i, survey in enumerate(self.surveys):
            for j, q in enumerate(survey.questions):
                if isinstance(q, ScoredQuestion):
                    problems.extend(
                        p.under(f"surveys[{i}].questions[{j}]") for p in _metric_problems(q, known)
                    )
        return problems


def _metric_problems(q: ScoredQuestion, known: Mapping[str, Metric]) -> Iterator[Problem]:
    metric = known.get(q.metric_name)
    if metric is None:
        field = "metric" if isinstance(q, ScaleQuestion) else "kind"
        yield Problem(
            field,
            f"{q.metric_name!r} is not a registered metric (known: {', '.join(sorted(known))})",
        )
        return
    low, high = q.bounds
    if low != metric.low:
        yield Problem("low", f"{low} is not the bottom of metric {metric.name!r} ({metric.low})")
    if high != metric.high:
        yield Problem("scale", f"{high} is not the top of metric {metric.name!r} ({metric.high})")


# ---------------------------------------------------------------- the converter


class _Bad(Exception):  # noqa: N818 - internal signal, never escapes this module
    """A value a structure hook rejects; the message names the value."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{value!r} is not text")
    return value


def _strict_int(value: object, _: type) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Bad(f"{value!r} is not a whole number")
    return value


def _strict_float(value: object, _: type) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _Bad(f"{value!r} is not a number")
    return float(value)


def _strict_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"{value!r} is not true or false")
    return value


def _unstructure_datetime(value: datetime) -> str:
    """ISO 8601, plus the zone's name when it has one (RFC 9557): ``...-05:00[America/New_York]``.

    A named zone is kept so that a time in a DST gap or fold reads back equal:
    Python compares such times across zones as unequal, even at the same instant.
    """
    text = value.isoformat()
    key = getattr(value.tzinfo, "key", None)
    return f"{text}[{key}]" if isinstance(key, str) else text


def _structure_datetime(value: object, _: type) -> datetime:
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, str):
        text, zone = value, None
        if value.endswith("]") and "[" in value:
            text, _bracket, rest = value.partition("[")
            zone = rest[:-1]
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            raise _Bad(f"{value!r} is not an ISO 8601 date and time") from None
        if zone is not None and result.tzinfo is not None:
            result = _in_zone(result, zone, value)
    else:
        raise _Bad(f"{value!r} is not a date and time")
    if result.tzinfo is None:
        raise _Bad(f"{value!r} has no time zone (add an offset such as +05:30 or Z)")
    return result


def _in_zone(written: datetime, zone: str, value: str) -> datetime:
    """The wall time of *written* in the named *zone*, with the fold its offset says."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - rarely needed

    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(f"{value!r} names an unknown time zone {zone!r}") from None
    wall = written.replace(tzinfo=tz, fold=0)
    if wall.utcoffset() != written.utcoffset():
        wall = wall.replace(fold=1)
    if wall.utcoffset() != written.utcoffset():
        raise _Bad(f"{value!r}: the offset is not one {zone} has at that time")
    return wall


def _structure_enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise _Bad(f"{value!r} is not one of {allowed}") from None


def _structure_scalar(value: object, _: object) -> Scalar:
    if isinstance(value, str | int | float):
        return value
    raise _Bad(f"{value!r} is not text, a number or true/false")


def _structure_answer(value: object, _: object) -> AnswerValue:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _Bad(f"{value!r} is not a number, text or list of option ids")


def _structure_condition_value(value: object, _: object) -> ConditionValue:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return tuple(_structure_answer_scalar(v) for v in value)
    return _structure_answer_scalar(value)


def _structure_answer_scalar(value: object) -> int | str:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _Bad(f"{value!r} is not a number or option id")


def _is_frozendict(t: Any) -> bool:  # noqa: ANN401 - cattrs predicates take any type
    return get_origin(t) is FrozenDict or t is FrozenDict


def _make_frozendict_hook(conv: cattrs.Converter) -> Any:  # noqa: ANN401
    def hook(value: object, t: Any) -> FrozenDict[Any, Any]:  # noqa: ANN401
        if not isinstance(value, Mapping):
            raise _Bad(f"{value!r} is not a table of names to values")
        args = get_args(t) or (str, Any)
        key_type, value_type = args
        result: dict[Any, Any] = {}
        errors: list[Exception] = []
        for key, item in value.items():
            try:
                k = _structure_key(key, key_type)
                result[k] = item if value_type is Any else conv.structure(item, value_type)
            except Exception as exc:  # noqa: BLE001 - collected and reported with their keys
                exc.__notes__ = [*getattr(exc, "__notes__", []), f"@key {key}"]
                errors.append(exc)
        if errors:
            msg = "While structuring a mapping"
            raise ExceptionGroup(msg, errors)
        return FrozenDict(result)

    return hook


def _structure_key(key: object, key_type: Any) -> Any:  # noqa: ANN401
    if key_type is int:
        if isinstance(key, int) and not isinstance(key, bool):
            return key
        if isinstance(key, str) and key.lstrip("-").isdigit():
            return int(key)
        raise _Bad(f"{key!r} is not a whole number")
    if not isinstance(key, str):
        raise _Bad(f"{key!r} is not text")
    return key


def _unstructure_frozendict(value: FrozenDict[Any, Any], conv: cattrs.Converter) -> dict[str, Any]:
    return {str(k): conv.unstructure(v) for k, v in value.items()}


def _is_list_type(t: Any) -> bool:  # noqa: ANN401 - cattrs predicates take any type
    args = get_args(t)
    return get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


def _make_list_hook(conv: cattrs.Converter) -> Any:  # noqa: ANN401
    """Structure ``tuple[X, ...]`` from a list only (a string is not a list of anything)."""

    def hook(value: object, t: Any) -> tuple[Any, ...]:  # noqa: ANN401
        if not isinstance(value, list | tuple):
            raise _Bad(f"{value!r} is not a list")
        (item_type, _) = get_args(t)
        items: list[Any] = []
        errors: list[Exception] = []
        for i, item in enumerate(value):
            try:
                items.append(conv.structure(item, item_type))
            except Exception as exc:  # noqa: BLE001 - collected and reported with their index
                note = cattrs.IterableValidationNote(f"Structuring {t} @ index {i}", i, item_type)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            msg = "While structuring a list"
            raise ExceptionGroup(msg, errors)
        return tuple(items)

    return hook


def _structure_text(value: object, _: type) -> LocalizedText:
    if not isinstance(value, Mapping):
        raise _Bad(
            f'{value!r} is not a table of locale to text, such as {{ en = "...", hi = "..." }}'
        )
    return LocalizedText(value)


def _make_question_hook(conv: cattrs.Converter) -> Any:  # noqa: ANN401
    kinds = ", ".join(repr(k) for k in QUESTION_KINDS)

    def hook(value: object, _: object) -> Question:
        if not isinstance(value, Mapping):
            raise _Bad(f"{value!r} is not a question (expected a table with a kind)")
        kind = value.get("kind")
        if kind is None:
            raise _Bad(f"is missing (expected one of {kinds})", field="kind")
        cls = QUESTION_KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            hint = _suggest(kind, QUESTION_KINDS) if isinstance(kind, str) else ""
            raise _Bad(
                f"{kind!r} is not a question kind (expected one of {kinds}){hint}", field="kind"
            )
        fields = {k: v for k, v in value.items() if k != "kind"}
        return conv.structure(fields, cls)

    return hook


def _make_question_unhook(conv: cattrs.Converter) -> Any:  # noqa: ANN401
    def hook(question: Question) -> dict[str, Any]:
        body = conv.unstructure(question, unstructure_as=type(question))
        return {"kind": question.kind, **body}

    return hook


def _make_class_hook_factory(conv: cattrs.Converter) -> Any:  # noqa: ANN401
    """Structure attrs classes reporting unknown keys *and* every other problem together."""

    def factory(cls: type) -> Any:  # noqa: ANN401
        inner: Any = cattrs.gen.make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False)
        allowed = {a.alias or a.name for a in attrs.fields(cls)}

        def hook(value: object, t: type) -> Any:  # noqa: ANN401
            if not isinstance(value, Mapping):
                raise _Bad(f"{value!r} is not a table (expected {_class_name(cls)})")
            extra = {k for k in value if k not in allowed}
            errors: list[Exception] = []
            if extra:
                errors.append(ForbiddenExtraKeysError("", cls, extra))
            known = {k: v for k, v in value.items() if k in allowed}
            try:
                result = inner(known, t)
            except Exception as exc:  # noqa: BLE001 - reported together with the unknown keys
                errors.append(exc)
                errors.extend(_checks_of_the_rest(conv, cls, known, exc))
            if errors:
                msg = f"While structuring {cls.__name__}"
                raise ExceptionGroup(msg, errors)
            return result

        return hook

    return factory


def _checks_of_the_rest(
    conv: cattrs.Converter, cls: type, known: Mapping[str, Any], exc: Exception
) -> list[ValidationError]:
    """Run *cls*'s own checks on the fields that did structure, so one pass reports more.

    When some fields fail, cattrs never calls the constructor, and problems the
    class itself would find (a missing translation, a scale out of range) stay
    hidden until the first ones are fixed. This builds the object without its
    constructor from the good fields, runs its checks, and keeps what they find
    about fields not already reported. Best effort: any surprise is ignored.
    """
    failed = {
        note.name
        for sub in getattr(exc, "exceptions", ())
        for note in getattr(sub, "__notes__", ())
        if isinstance(note, cattrs.AttributeValidationNote)
    }
    post_init = getattr(cls, "__attrs_post_init__", None)
    if not failed or post_init is None:
        return []  # the constructor itself failed: its checks already ran
    attrs.resolve_types(cls)
    obj: Any = object.__new__(cls)
    for a in attrs.fields(cls):
        if a.name in failed:
            value: Any = Invalid(None, ())
        elif a.name in known:
            try:
                value = conv.structure(known[a.name], a.type)
            except Exception:  # noqa: BLE001 - reported by cattrs already
                failed.add(a.name)
                value = Invalid(None, ())
        elif isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
            value = a.default.factory()
        elif a.default is not attrs.NOTHING:
            value = a.default
        else:
            failed.add(a.name)
            value = Invalid(None, ())
        object.__setattr__(obj, a.name, value)
    try:
        post_init(obj)
    except ValidationError as found:
        rest = [p for p in found.problems if _field_of(p.path) not in failed]
        return [ValidationError(found.subject, rest)] if rest else []
    except Exception:  # noqa: BLE001 - best effort on a half-built object
        return []
    return []


def _field_of(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


@functools.cache
def converter() -> cattrs.Converter:
    """Return the one converter cxcore (de)serialises everything with.

    It turns model values into plain JSON- and TOML-ready data and back:
    datetimes become ISO 8601 strings with their offset, enums their values,
    questions carry their ``kind``, fields left at their default are omitted.
    """
    conv = cattrs.Converter(forbid_extra_keys=True, omit_if_default=True, detailed_validation=True)
    # Hooks by class are found through the MRO: StrEnum comes before str in an
    # enum's MRO, so enums reach the enum hook and plain strings the strict one.
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(enum.Enum, _structure_enum)
    conv.register_structure_hook(enum.StrEnum, _structure_enum)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, _unstructure_datetime)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda e: e.value
    )
    conv.register_structure_hook_func(_is_frozendict, _make_frozendict_hook(conv))
    conv.register_structure_hook_func(_is_list_type, _make_list_hook(conv))
    conv.register_unstructure_hook_func(
        _is_frozendict, functools.partial(_unstructure_frozendict_any, conv=conv)
    )
    conv.register_structure_hook(LocalizedText, _structure_text)
    conv.register_unstructure_hook(LocalizedText, lambda t: dict(t.translations))
    conv.register_structure_hook_func(lambda t: t == Scalar, _structure_scalar)
    conv.register_structure_hook_func(lambda t: t == AnswerValue, _structure_answer)
    conv.register_structure_hook_func(lambda t: t == ConditionValue, _structure_condition_value)
    conv.register_structure_hook_func(lambda t: t == Question, _make_question_hook(conv))
    conv.register_structure_hook_factory(attrs.has, _make_class_hook_factory(conv))
    conv.register_unstructure_hook_func(lambda t: t == Question, _make_question_unhook(conv))
    return conv


def _unstructure_frozendict_any(value: object, conv: cattrs.Converter) -> dict[str, Any]:
    assert isinstance(value, FrozenDict)  # noqa: S101 - dispatched on FrozenDict only
    return _unstructure_frozendict(value, conv)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _class_name(cls: type | None) -> str:
    if cls is None:
        return "this table"
    kind = getattr(cls, "kind", None)
    if isinstance(kind, str) and kind in _QUESTION_NAMES:
        return _QUESTION_NAMES[kind]
    return f"a {cls.__name__}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _problems(exc: BaseException, path: str) -> Iterator[Problem]:
    """Walk cattrs' exception tree, yielding every problem with its full path."""
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            yield Problem(
                _join(path, key), f"is not a field of {_class_name(exc.cl)}{_suggest(key, allowed)}"
            )
    elif isinstance(exc, ValidationError):
        yield from (p.under(path) for p in exc.problems)
    elif isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            if isinstance(sub, KeyError) and (expected := _expected(sub)):
                yield Problem(_note_path(sub, path), f"is missing (required: {expected})")
            else:
                yield from _problems(sub, _note_path(sub, path))
    elif isinstance(exc, _Bad):
        yield Problem(_join(path, exc.field) if exc.field else path, str(exc))
    elif isinstance(exc, KeyError):
        yield Problem(path, "is missing (required)")
    else:
        yield Problem(path, f"{exc}")


_EXPECTED_OF_TYPE: dict[object, str] = {
    int: "a whole number",
    float: "a number",
    str: "text",
    bool: "true or false",
    datetime: "a time with its zone, e.g. '2026-12-07T10:00:00+05:30'",
}


def _expected(exc: BaseException) -> str | None:
    """What a missing field takes, from cattrs' note on *exc*: its enum's values, or its kind."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, cattrs.AttributeValidationNote):
            kind = note.type
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                return "one of " + ", ".join(repr(m.value) for m in kind)
            return _EXPECTED_OF_TYPE.get(kind)
    return None


def _note_path(exc: BaseException, path: str) -> str:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, cattrs.AttributeValidationNote):
            return _join(path, note.name)
        if isinstance(note, cattrs.IterableValidationNote):
            return f"{path}[{note.index}]"
        if isinstance(note, str) and note.startswith("@key "):
            return _join(path, note[5:])
    return path


def structure(data: object, cls: type[T], *, source: str = "<data>", path: str = "") -> T:
    """Build a *cls* from plain data (parsed JSON or TOML).

    Raises:
        DefinitionError: Listing every problem with its path.
    """
    try:
        return converter().structure(data, cls)
    except (
        ClassValidationError,
        IterableValidationError,
        ValidationError,
        _Bad,
        ExceptionGroup,
    ) as exc:
        raise DefinitionError(source, _dedupe(_problems(exc, path))) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise DefinitionError(source, [Problem(path, str(exc))]) from None


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def unstructure(value: object) -> Any:  # noqa: ANN401 - plain data of any shape
    """Turn a model value into plain data ready for JSON or TOML."""
    if isinstance(value, tuple(QUESTION_KINDS.values())):
        return converter().unstructure(value, unstructure_as=Question)
    return converter().unstructure(value)


def _parse(text: str, fmt: Format, source: str) -> Any:  # noqa: ANN401
    try:
        if fmt == "json":
            return json.loads(text)
        return tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            source, [Problem(f"line {exc.lineno}", f"is not valid JSON: {exc.msg}")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(source, [Problem("", f"is not valid TOML: {exc}")]) from None


def _render(data: Any, fmt: Format) -> str:  # noqa: ANN401
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    import tomli_w  # noqa: PLC0415 - only needed when writing TOML

    return tomli_w.dumps(data)


def _check_format(fmt: str) -> Format:
    if fmt not in ("json", "toml"):
        msg = f"format {fmt!r} is not supported (expected 'json' or 'toml')"
        raise ValueError(msg)
    return fmt  # type: ignore[return-value]


def loads(text: str, cls: type[T], *, format: Format = "json", source: str = "<string>") -> T:  # noqa: A002
    """Parse *text* and build a *cls* from it (a :class:`~cxcore.Response`, say).

    Raises:
        DefinitionError: If the text does not parse, or listing every problem.
    """
    fmt = _check_format(format)
    return structure(_parse(text, fmt, source), cls, source=source)


def dumps(value: object, *, format: Format = "json") -> str:  # noqa: A002
    """Write a model value as JSON or TOML text that :func:`loads` reads back equal."""
    return _render(unstructure(value), _check_format(format))


def loads_definitions(
    text: str,
    *,
    format: Format = "toml",  # noqa: A002
    source: str = "<string>",
    registry: MetricRegistry | None = None,
) -> Definitions:
    """Parse definitions from *text*; see :func:`load_definitions`."""
    defs = loads(text, Definitions, format=format, source=source)
    problems = defs.check(registry)
    if problems:
        raise DefinitionError(source, problems)
    return defs


def load_definitions(*paths: str | Path, registry: MetricRegistry | None = None) -> Definitions:
    """Load journeys, surveys and metrics from one or more ``.toml`` or ``.json`` files.

    Several files are merged as if they were one.

    Args:
        paths: The files; the format follows the suffix.
        registry: Where registered metrics are looked up; the process-wide
            registry by default.

    Raises:
        DefinitionError: Listing every problem of the first file that has any,
            each with its path (``surveys[0].questions[2].scale: ...``).
        OSError: If a file cannot be read.
    """
    result = Definitions()
    for path in map(Path, paths):
        data = _read_document(path)
        defs = structure(data, Definitions, source=str(path))
        try:
            result = result.merge(defs)
        except ValidationError as exc:
            raise DefinitionError(str(path), exc.problems) from None
    problems = result.check(registry)
    if problems:
        raise DefinitionError(", ".join(map(str, paths)), problems)
    return result


def dump_definitions(definitions: Definitions, *, format: Format = "toml") -> str:  # noqa: A002
    """Write *definitions* as TOML or JSON text that :func:`loads_definitions` reads back equal."""
    return dumps(definitions, format=format)


def _format_of(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("json", "toml"):
        raise DefinitionError(
            str(path), [Problem("", f"has suffix {path.suffix!r} (expected .toml or .json)")]
        )
    return suffix  # type: ignore[return-value]


def _read_document(path: Path) -> Any:  # noqa: ANN401 - parsed JSON or TOML of any shape
    """Read a ``.toml`` or ``.json`` file as plain data: the one way cxcore reads its files.

    Raises:
        DefinitionError: If the suffix is neither, the file is not UTF-8 text
            (a binary file), or it does not parse.
        OSError: If the file cannot be opened.
    """
    fmt = _format_of(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        what = (
            f"is not UTF-8 text (a binary file?): byte {raw[exc.start]:#04x} at offset {exc.start}"
        )
        raise DefinitionError(str(path), [Problem("", what)]) from None
    return _parse(text, fmt, str(path))
