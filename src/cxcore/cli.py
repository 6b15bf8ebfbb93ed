"""The ``cxcore`` command.

Each subcommand lives beside the code it drives and adds itself with a
``register(subparsers)`` function that sets ``handler`` on its parser. A handler
takes the parsed arguments and returns the exit status, or raises; :func:`main`
turns what it raises into one ``error:`` line and the status, never a traceback.

One meaning per exit status, for every subcommand:

* 0: done, and nothing was wrong;
* 1: the input has problems: a definition or rules file with problems, a file
  that is empty or not text, invalid rows, sends that failed, plugins that
  failed to load (``channels --strict``). A :class:`~cxcore.CxError` raised by
  a handler means this;
* 2: the command cannot run as given: a command line that does not parse, an
  option or environment variable with a value it cannot use
  (:class:`UsageError`), a file named on the command line that does not exist
  or cannot be opened (:class:`OSError`).

Line numbers in messages are those an editor shows (a CSV header is line 1),
in ascending order.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

from cxcore.definitions import Definitions, _read_document, _suggest, structure
from cxcore.errors import CxError, DefinitionError, Problem
from cxcore.metrics import MetricRegistry, metric_registry
from cxcore.model import ChoiceQuestion, Journey, ScoredQuestion, Survey, TextQuestion
from cxcore.model.survey import Condition
from cxcore.ports.registry import ChannelRegistry, channel_registry

if TYPE_CHECKING:
    from cxcore.distribution.rules import RuleSet

__all__ = ["PREVIEW_GROUP", "UsageError", "build_parser", "main"]

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse has no public name for it


class UsageError(CxError):
    """A command was given a value it cannot use: an option, or an environment variable.

    Raise it from a subcommand's handler (a preview plugin's too): ``cxcore``
    prints ``<command>: error: <message>`` and exits with status 2. Name the
    option or variable, the value, and what was expected.

    .. versionadded:: 0.1.0
    """


# ---------------------------------------------------------------- validate


_KINDS: Mapping[str, tuple[str, ...]] = {
    "definitions": ("journeys", "surveys", "metrics"),
    "rules": ("rules", "fatigue", "quiet_hours", "channels"),
}
"""The kinds of file cxcore reads, each known by its top-level keys."""


def _known_kinds() -> str:
    return "; ".join(f"{kind} ({', '.join(keys)})" for kind, keys in _KINDS.items())


def _kind_of(data: object, source: str) -> str:
    """Which kind of file *data* is, from its top-level keys.

    Raises:
        DefinitionError: If it is empty, of no kind cxcore knows, or mixes two.
    """
    if not isinstance(data, dict):
        what = f"is {type(data).__name__} data, not a table (expected the keys of {_known_kinds()})"
        raise DefinitionError(source, [Problem("", what)])
    if not data:
        what = f"defines nothing (expected the keys of one kind of file: {_known_kinds()})"
        raise DefinitionError(source, [Problem("", what)])
    found = {kind: sorted(set(keys) & set(data)) for kind, keys in _KINDS.items()}
    kinds = [kind for kind, keys in found.items() if keys]
    if len(kinds) > 1:
        mixed = " and ".join(f"{kind} ({', '.join(found[kind])})" for kind in kinds)
        what = f"mixes the keys of {mixed}: put each kind in a file of its own"
        raise DefinitionError(source, [Problem("", what)])
    if not kinds:
        every = [key for keys in _KINDS.values() for key in keys]
        problems = [
            Problem(key, f"is not a key of any kind of file cxcore reads{_suggest(key, every)}")
            for key in sorted(data)
        ]
        problems.append(Problem("", f"is not a kind of file cxcore reads: {_known_kinds()}"))
        raise DefinitionError(source, problems)
    return kinds[0]


def _rules_from(data: object, source: str) -> RuleSet:
    from cxcore.distribution.rules import RuleSet  # noqa: PLC0415 - rules files are rarer

    return structure(data, RuleSet, source=source)


class _Files:
    """Every file of a command line, each read as its kind; problems printed as found."""

    def __init__(self, paths: Sequence[str], err: TextIO) -> None:
        self.definitions = Definitions()
        self.rules: list[tuple[str, RuleSet]] = []
        self.failed = 0
        self.unopened = 0
        for name in paths:
            try:
                data = _read_document(Path(name))
                if _kind_of(data, name) == "rules":
                    self.rules.append((name, _rules_from(data, name)))
                else:
                    self.definitions = self.definitions.merge(
                        structure(data, Definitions, source=name)
                    )
            except CxError as exc:  # DefinitionError, or ValidationError from merging
                self.failed += 1
                print(exc if isinstance(exc, DefinitionError) else f"{name}: {exc}", file=err)
            except OSError as exc:
                self.unopened += 1
                print(f"{name}: cannot open: {exc.strerror or exc}", file=err)
        if self.failed or self.unopened:
            return
        problems = self.definitions.check(metric_registry())
        if problems:
            self.failed += 1
            print(DefinitionError(", ".join(paths), problems), file=err)
        if self.definitions.surveys or self.definitions.journeys:
            for name, rules in self.rules:
                found = rules.check(self.definitions)
                if found:
                    self.failed += 1
                    print(DefinitionError(name, found), file=err)

    def status(self, err: TextIO) -> int:
        """0 if every file is good, else 2 if one could not be opened, else 1 (after a count)."""
        if self.failed or self.unopened:
            print(f"{_count(self.failed + self.unopened, 'file')} with problems", file=err)
        return 2 if self.unopened else 1 if self.failed else 0


def _channel_warnings(defs: Definitions, registry: ChannelRegistry) -> list[str]:
    """What the channels' survey checks (:class:`~cxcore.SurveyCheck`) say, a line each."""
    return [
        f"survey {survey.id!r} v{survey.version}: {problem.under(f'surveys[{i}]')}"
        for i, survey in enumerate(defs.surveys)
        for problem in registry.check_survey(survey)
    ]


def _validate(args: argparse.Namespace) -> int:
    files = _Files(args.files, sys.stderr)
    if status := files.status(sys.stderr):
        return status
    defs = files.definitions
    warnings = _channel_warnings(defs, channel_registry())
    for warning in warnings:
        print(f"{', '.join(args.files)}: warning: {warning}", file=sys.stderr)
    if warnings and args.strict:
        print(
            f"{_count(len(warnings), 'warning')}, which --strict counts as problems",
            file=sys.stderr,
        )
        return 1
    counts = [
        _count(len(defs.journeys), "journey"),
        _count(len(defs.surveys), "survey"),
        _count(len(defs.metrics), "custom metric"),
    ]
    if files.rules:
        counts.append(_count(sum(len(r.rules) for _, r in files.rules), "trigger rule"))
    if warnings:
        counts.append(_count(len(warnings), "warning"))
    print(f"ok: {_count(len(args.files), 'file')}: {', '.join(counts)}")
    if files.rules and not (defs.surveys or defs.journeys):
        print(
            "note: the rules' surveys and touchpoints were not checked: name the definition "
            "files too (cxcore validate journey.toml surveys.toml rules.toml)",
            file=sys.stderr,
        )
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- show


def _show_journey(journey: Journey, out: TextIO) -> None:
    touchpoints = list(journey.touchpoints())
    print(
        f"Journey {journey.id}: {journey.name} "
        f"({_count(len(journey.stages), 'stage')}, {_count(len(touchpoints), 'touchpoint')})",
        file=out,
    )
    width = max((len(tp.id) for tp in touchpoints), default=0)
    for i, stage in enumerate(journey.stages, 1):
        print(f"  {i}. {stage.name}", file=out)
        for tp in stage.touchpoints:
            channels = ", ".join(tp.channels) or "any"
            print(
                f"     - {tp.id:<{width}}  {tp.name}  [owner: {tp.owner}; channels: {channels}]",
                file=out,
            )


def _describe_condition(c: Condition) -> str:
    symbols = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
    if c.op in symbols:
        return f"{c.question} {symbols[c.op]} {c.value}"
    if c.op in ("in", "not_in"):
        values = ", ".join(map(str, c.value)) if isinstance(c.value, tuple) else c.value
        return f"{c.question} {'in' if c.op == 'in' else 'not in'} ({values})"
    return f"{c.question} {c.op.replace('_', ' ')}"


def _show_survey(survey: Survey, locale: str, out: TextIO, registry: MetricRegistry) -> None:
    locales = ", ".join(sorted(survey.locales))
    print(
        f"Survey {survey.id} v{survey.version} ({survey.kind.value}; locales: {locales}; "
        f"repeat: {survey.on_repeat.value})",
        file=out,
    )
    print(f"  {survey.title.get(locale, survey.default_locale)}", file=out)
    for i, q in enumerate(survey.questions, 1):
        mark = "*" if q.required else " "
        print(
            f"  {i}.{mark}[{q.kind}] {q.id}: {q.text.get(locale, survey.default_locale)}", file=out
        )
        if isinstance(q, ScoredQuestion):
            low, high = q.bounds
            detail = f"{low}-{high}, feeds {q.metric_name}"
            if q.metric_name in registry:
                metric = registry.get(q.metric_name)
                ends = [metric.label(low, locale), metric.label(high, locale)]
                if all(ends):
                    detail += f"; {ends[0]} ... {ends[1]}"
            if q.kind == "ces":
                detail += f"; {q.direction.value.replace('_', ' ')}"
            print(f"        scale {detail}", file=out)
        elif isinstance(q, ChoiceQuestion):
            how = "pick any" if q.multiple else "pick one"
            options = " | ".join(o.text.get(locale, survey.default_locale) for o in q.options)
            print(f"        {how}: {options}", file=out)
        elif isinstance(q, TextQuestion):
            print(f"        free text, up to {q.max_length} characters", file=out)
        if q.show_if:
            print(f"        shown if {' and '.join(map(_describe_condition, q.show_if))}", file=out)
    print("  (* = required)", file=out)


def _show(args: argparse.Namespace) -> int:
    files = _Files(args.files, sys.stderr)
    if status := files.status(sys.stderr):
        return status
    defs = files.definitions
    out = sys.stdout
    for journey in defs.journeys:
        _show_journey(journey, out)
        print(file=out)
    registry = metric_registry().copy()
    defs.register_metrics(registry)
    for survey in defs.surveys:
        _show_survey(survey, args.locale, out, registry)
        print(file=out)
    for metric in defs.metrics:
        buckets = ", ".join(f"{b.name} {b.low}-{b.high}" for b in metric.buckets)
        print(
            f"Metric {metric.name}: {metric.title} ({metric.low}-{metric.high}; {buckets})",
            file=out,
        )
    for name, rules in files.rules:
        ids = ", ".join(r.id for r in rules.rules) or "none"
        countries = ", ".join(w.country for w in rules.quiet_hours) or "none"
        print(
            f"Rules {name}: {_count(len(rules.rules), 'trigger rule')} ({ids}); "
            f"recontact after {rules.fatigue.recontact_days} days; quiet hours: {countries}",
            file=out,
        )
    return 0


# ---------------------------------------------------------------- channels


def _channels(args: argparse.Namespace, registry: ChannelRegistry | None = None) -> int:
    registry = channel_registry() if registry is None else registry
    quiet = logging.getLogger("cxcore.channels")
    previous, quiet.disabled = quiet.disabled, True  # the listing says it, once
    try:
        infos = registry.describe()
    finally:
        quiet.disabled = previous
    if not infos:
        print(
            "no channels installed (plugins register under the entry-point group 'cxcore.channels')"
        )
        return 0
    broken = 0
    for info in infos:
        if info.capabilities is None:
            broken += 1
            print(f"{info.name}: FAILED TO LOAD ({info.origin})")
            print(f"    {info.error}")
            continue
        caps = info.capabilities
        features = [
            f"address: {caps.address.value}",
            f"formats: {', '.join(sorted(caps.formats))}",
            f"inbound: {caps.inbound.value}",
        ]
        if caps.max_length is not None:
            features.append(f"max length: {caps.max_length}")
        if caps.two_way:
            features.append("two-way")
        if caps.offline:
            features.append("works offline")
        print(f"{info.name}: {info.origin}")
        print(f"    {'; '.join(features)}")
        for module in caps.missing():  # it renders, but cannot send here
            from cxcore.scoring import MissingDependencyError  # noqa: PLC0415 - only if missing

            print(f"    cannot send here: {MissingDependencyError(module, 'sending')}")
    if broken and args.strict:
        return 1
    return 0


# ---------------------------------------------------------------- main

Registrar = Callable[["Subparsers[argparse.ArgumentParser]"], None]


def _register_core(sub: Subparsers[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate",
        help="check definition and rules files and print every problem",
        description="Check definition files (journeys, surveys, metrics) and rules files "
        "(trigger rules, fatigue, quiet hours, channel choice), .toml or .json, each known by "
        "its keys. Files given together are checked together: a rule's survey, touchpoint "
        "and channels must exist. Every problem is printed with its path; the exit status "
        "is 1 if there is any, 2 if a file cannot be opened. Installed channels that review "
        "surveys add warnings (an SMS text made UCS-2 by one character).",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--strict",
        action="store_true",
        help="count the channels' warnings as problems (exit status 1)",
    )
    validate.set_defaults(handler=_validate)

    show = sub.add_parser(
        "show",
        help="print the journeys and surveys of definition files",
        description="Print each journey as stages and touchpoints, "
        "and each survey question by question.",
    )
    show.add_argument("files", nargs="+", metavar="FILE")
    show.add_argument("--locale", default="en", help="language of the texts shown (default: en)")
    show.set_defaults(handler=_show)

    channels = sub.add_parser(
        "channels",
        help="list installed channels, their capabilities and load errors",
        description="List the channels found under the entry-point group 'cxcore.channels'.",
    )
    channels.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any plugin fails to load"
    )
    channels.set_defaults(handler=_channels)


PREVIEW_GROUP = "cxcore.previews"
"""Entry points of channel plugins that add a ``cxcore preview <channel>`` subcommand.

Each names a ``register(subparsers)`` function that adds its parser and sets
``handler``, as the email channel does.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors may end with a hint."""

    hint: str | None = None

    def error(self, message: str) -> NoReturn:
        super().error(f"{message}\n{self.hint}" if self.hint else message)


def _register_previews(sub: Subparsers[argparse.ArgumentParser], *, load: bool) -> None:
    preview = sub.add_parser(
        "preview",
        help="render a survey as a channel would send it",
        description="Render a survey invitation exactly as a channel sends it, to check it "
        "before sending. Channel plugins add their own preview commands, through the "
        f"entry-point group {PREVIEW_GROUP!r}.",
    )
    if isinstance(preview, _Parser):
        preview.hint = (
            f"(channel plugins add preview commands through the entry-point group "
            f"{PREVIEW_GROUP!r}: see 'Adding a preview command' in the docs' Writing a channel)"
        )
    channels = preview.add_subparsers(title="channels", metavar="CHANNEL", required=True)
    if not load:  # only `cxcore preview ...` pays for discovering the plugins
        return
    from importlib.metadata import entry_points  # noqa: PLC0415 - costly; needed here only

    for ep in entry_points(group=PREVIEW_GROUP):
        try:
            register = ep.load()
            register(channels)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not break the command
            print(
                f"warning: preview plugin {ep.name!r} ({ep.value}) failed to load: {exc}",
                file=sys.stderr,
            )


def _registrars() -> list[Registrar]:
    from cxcore import kiosk_cli  # noqa: PLC0415
    from cxcore.deployment import cli as config  # noqa: PLC0415
    from cxcore.dispatch import cli as dispatch  # noqa: PLC0415 - only the command line needs them
    from cxcore.dispatch import service  # noqa: PLC0415
    from cxcore.scoring import cli as scoring  # noqa: PLC0415

    return [
        _register_core,
        scoring.register,
        dispatch.register,
        config.register,
        service.register,
        _register_collector,
        kiosk_cli.register,
    ]


def _register_collector(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """``cxcore serve`` and ``cxcore keys``, or a clear word that they need the server extra."""
    from importlib.util import find_spec  # noqa: PLC0415

    missing = [m for m in ("starlette", "uvicorn") if find_spec(m) is None]
    if missing:
        reason = f"{missing[0]} is not installed"
        for name in ("serve", "keys"):
            parser = sub.add_parser(name, help=f"(needs cxcore[server]: {reason})", add_help=False)
            parser.add_argument("rest", nargs=argparse.REMAINDER)
            parser.set_defaults(handler=lambda _args, name=name: _needs_server(name, reason))
        return
    from cxcore.collector import cli as collector  # noqa: PLC0415 - its parsers only

    collector.register(sub)


def _needs_server(command: str, reason: str) -> int:
    print(
        f"error: cxcore {command} needs the server extra ({reason}): "
        "python -m pip install 'cxcore[server]'",
        file=sys.stderr,
    )
    return 2


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the ``cxcore`` argument parser with every subcommand.

    Preview plugins are discovered only when *argv* asks for ``preview``.
    """
    parser = _Parser(prog="cxcore", description="cxcore: journeys, surveys, channels and scores.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # Every command's parser is a _Parser too; registrars see plain ArgumentParsers.
    sub = cast(
        "Subparsers[argparse.ArgumentParser]",
        parser.add_subparsers(title="commands", metavar="COMMAND", required=True),
    )
    for register in _registrars():
        register(sub)
    wanted = sys.argv[1:] if argv is None else argv
    _register_previews(sub, load="preview" in wanted)
    _name_commands(sub)
    return parser


def _name_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Let each command's parser say its name (``cxcore preview email``) in error messages."""
    for parser in dict.fromkeys(sub.choices.values()):
        parser.set_defaults(command=parser.prog)
        for action in parser._actions:  # noqa: SLF001 - argparse lists its sub-commands only here
            if isinstance(action, Subparsers):
                _name_commands(action)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("cxcore")
    except PackageNotFoundError:  # pragma: no cover - source tree, not installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cxcore`` command with *argv* (default: the process's arguments).

    Returns:
        The exit status: 0 when all is well, 1 when the input has problems, 2
        when the command cannot run as given (see the module's docstring).
    """
    args = build_parser(argv).parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    command: str = getattr(args, "command", "cxcore")
    try:
        return handler(args)
    except BrokenPipeError:  # pragma: no cover - `cxcore show ... | head`
        return 0
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        return _error(command, str(exc), 2)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(command, f"{where}cannot open: {exc.strerror or exc}", 2)
    except CxError as exc:
        return _error(command, str(exc), 1)


def _error(command: str, message: str, status: int) -> int:
    print(f"{command}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
