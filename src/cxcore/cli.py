"""The ``cxcore`` command.

Each subcommand lives beside the code it drives and adds itself with a
``register(subparsers)`` function that sets ``handler`` on its parser. A handler
takes the parsed arguments and returns the exit status: 0 for success, 1 when
the input has problems (including files that cannot be read), 2 for a command
line that cannot be used.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from cxcore.definitions import Definitions, loads
from cxcore.errors import CxError, DefinitionError
from cxcore.metrics import MetricRegistry, metric_registry
from cxcore.model import ChoiceQuestion, Journey, ScoredQuestion, Survey, TextQuestion
from cxcore.model.survey import Condition
from cxcore.ports.registry import ChannelRegistry, channel_registry

__all__ = ["main"]

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse has no public name for it


# ---------------------------------------------------------------- validate


def _read_all(paths: Sequence[str], err: TextIO) -> tuple[Definitions | None, int]:
    """Load every file, report each file's problems, then the problems across files."""
    merged = Definitions()
    failures = 0
    for name in paths:
        path = Path(name)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in ("toml", "json"):
            failures += 1
            print(f"{name}: has suffix {path.suffix!r} (expected .toml or .json)", file=err)
            continue
        try:
            text = path.read_text(encoding="utf-8")
            defs = loads(text, Definitions, format="toml" if fmt == "toml" else "json", source=name)
            merged = merged.merge(defs)
        except CxError as exc:  # DefinitionError, or ValidationError from merging
            failures += 1
            print(exc if isinstance(exc, DefinitionError) else f"{name}: {exc}", file=err)
        except (OSError, UnicodeDecodeError) as exc:
            failures += 1
            print(f"{name}: cannot read: {exc}", file=err)
    if failures:
        return None, failures
    problems = merged.check(metric_registry())
    if problems:
        print(DefinitionError(", ".join(paths), problems), file=err)
        return None, 1
    return merged, 0


def _validate(args: argparse.Namespace) -> int:
    defs, failures = _read_all(args.files, sys.stderr)
    if defs is None:
        print(f"{failures} file(s) with problems", file=sys.stderr)
        return 1
    print(
        f"ok: {len(args.files)} file(s): {_count(len(defs.journeys), 'journey')}, "
        f"{_count(len(defs.surveys), 'survey')}, {_count(len(defs.metrics), 'custom metric')}"
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
    defs, _ = _read_all(args.files, sys.stderr)
    if defs is None:
        return 1
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
    if broken and args.strict:
        return 1
    return 0


# ---------------------------------------------------------------- main

Registrar = Callable[["Subparsers[argparse.ArgumentParser]"], None]


def _register_core(sub: Subparsers[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate",
        help="check definition files and print every problem",
        description="Check journey, survey and metric definition files (.toml or .json). "
        "Every problem is printed with its path; the exit status is 1 if there is any.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
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


def _register_previews(sub: Subparsers[argparse.ArgumentParser], *, load: bool) -> None:
    preview = sub.add_parser(
        "preview",
        help="render a survey as a channel would send it",
        description="Render a survey invitation exactly as a channel sends it, to check it "
        "before sending. Channel plugins add their own preview commands.",
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
    from cxcore.deployment import cli as config  # noqa: PLC0415
    from cxcore.dispatch import cli as dispatch  # noqa: PLC0415 - only the command line needs them
    from cxcore.dispatch import service  # noqa: PLC0415
    from cxcore.scoring import cli as scoring  # noqa: PLC0415

    return [_register_core, scoring.register, dispatch.register, config.register, service.register]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the ``cxcore`` argument parser with every subcommand.

    Preview plugins are discovered only when *argv* asks for ``preview``.
    """
    parser = argparse.ArgumentParser(
        prog="cxcore", description="cxcore: journeys, surveys, channels and scores."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for register in _registrars():
        register(sub)
    wanted = sys.argv[1:] if argv is None else argv
    _register_previews(sub, load="preview" in wanted)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("cxcore")
    except PackageNotFoundError:  # pragma: no cover - source tree, not installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cxcore`` command with *argv* (default: the process's arguments)."""
    args = build_parser(argv).parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `cxcore show ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
