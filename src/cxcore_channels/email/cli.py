"""``cxcore preview email``: write the full rendered survey email (``.eml``) for authors to check.

The core's ``cxcore preview`` command calls :func:`register` with its
sub-commands, so that this adds ``cxcore preview email``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from cxcore import CxError, Definitions, Invitation, SystemClock, loads
from cxcore.cli import UsageError
from cxcore_channels.email.channel import EmailChannel

__all__ = ["register", "run"]

_PREVIEW_BASE = "https://cx.example.com/r"


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def register(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private type
    """Add ``email`` to the ``cxcore preview`` sub-commands; its handler is :func:`run`.

    .. versionadded:: 0.1.0
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "email",
        help="write a survey's invitation email (.eml) as it would be sent",
        description="Render a survey from a definition file as the email channel sends it: "
        "text, AMP and HTML parts, headers and all, as an .eml file.",
    )
    parser.add_argument("--survey", required=True, metavar="FILE", help="a .toml or .json file")
    parser.add_argument("--survey-id", metavar="ID", help="which survey, if the file has several")
    parser.add_argument("--locale", default="en", help="the language to render (default: en)")
    parser.add_argument("--name", default="Asha", help="the respondent's name (default: Asha)")
    parser.add_argument("--to", default="respondent@example.com", help="the recipient address")
    parser.add_argument("--sender", default="surveys@example.com", help="the From address")
    parser.add_argument("--base-url", default=_PREVIEW_BASE, help="the collector's public URL")
    parser.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the preview and return 0.

    Raises:
        UsageError: For a file that is neither .toml nor .json, several surveys
            without ``--survey-id``, or an option the invitation or channel
            cannot use (exit status 2).
        OSError: If the file cannot be opened or the output written (exit status 2).
        CxError: If the file has problems or lacks the survey (exit status 1).

    .. versionadded:: 0.1.0
    """
    path = Path(args.survey)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("toml", "json"):
        msg = f"--survey: {str(path)!r} has suffix {path.suffix!r} (expected .toml or .json)"
        raise UsageError(msg)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{path}: is not UTF-8 text (a binary file?)"
        raise CxError(msg) from None
    defs = loads(text, Definitions, format="toml" if fmt == "toml" else "json", source=str(path))
    ids = sorted({s.id for s in defs.surveys})
    if args.survey_id is None and len(ids) > 1:
        msg = f"{path} has several surveys: pass --survey-id, one of: {', '.join(ids)}"
        raise UsageError(msg)
    surveys = [s for s in defs.surveys if args.survey_id in (None, s.id)]
    if not surveys and not ids:
        other = (
            f"; it defines {_count(len(defs.journeys), 'journey')}: pass the file that "
            "defines [[surveys]]"
            if defs.journeys
            else ""
        )
        msg = f"{path}: defines no surveys (expected a definition file with [[surveys]]){other}"
        raise CxError(msg)
    if not surveys:
        msg = f"{path}: has no survey {args.survey_id!r} (it has: {', '.join(ids)})"
        raise CxError(msg)
    survey = max(surveys, key=lambda s: s.version)
    now = SystemClock().now()
    try:
        invitation = Invitation(
            id=f"preview-{survey.id}-{args.locale}",
            survey_id=survey.id,
            survey_version=survey.version,
            channel="email",
            address=args.to,
            token="preview-token",  # noqa: S106 - a placeholder: the collector signs real ones
            unsubscribe_token="preview-unsubscribe",  # noqa: S106
            amp_token="preview-amp",  # noqa: S106
            created_at=now,
            expires_at=now + timedelta(days=14),
            name=args.name or None,
            locale=args.locale,
        )
        channel = EmailChannel(
            base_url=args.base_url,
            sender=args.sender,
            tls="none",
            amp=args.base_url.startswith("https://"),
        )
        data = channel.message_bytes(channel.render(invitation, survey))
    except (CxError, ValueError) as exc:  # --to, --name, --locale, --sender, --base-url
        raise UsageError(str(exc)) from None
    if args.locale not in survey.locales:
        _say(
            f"note: survey {survey.id!r} has no {args.locale!r} texts; "
            f"{survey.default_locale!r} is shown instead"
        )
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
