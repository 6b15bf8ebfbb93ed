"""The channel-neutral hooks SMS length needs: estimated costs in dispatch, survey checks in validate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from cxcore import (
    EstimatedCost,
    OutboundMessage,
    OutboxState,
    Problem,
    SendResult,
    Survey,
    SurveyCheck,
    TextQuestion,
    ValidationError,
    channel_registry,
)
from cxcore.cli import main
from cxcore.dispatch import DispatchOutcome, DispatchReport
from cxcore.dispatch import cli as dispatch_cli
from cxcore.ports.registry import ChannelRegistry
from cxcore.testing import FakeChannel, fake_channels
from tests.test_dispatch_cli import args_for
from tests.test_dispatch_cli import files as files  # noqa: PLC0414 - the fixture, used here too
from tests.test_dispatch_dispatcher import world

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class PricedChannel(FakeChannel):
    """The fake channel, saying what each send costs: 0.05 INR per character of text."""

    async def send(self, message: OutboundMessage) -> SendResult:
        result = await super().send(message)
        chars = len(message.parts.get("text/plain", ""))
        cost = EstimatedCost(Decimal("0.05") * chars, "INR", detail=f"{chars} chars x 0.05 INR")
        return attrs.evolve(result, cost=cost)


class UnicodeFussyChannel(FakeChannel):
    """A channel that reviews surveys: it warns of any text outside ASCII."""

    @staticmethod
    def check_survey(survey: Survey) -> Sequence[Problem]:
        return [
            Problem(f"title.{locale}", f"{text!r} is not ASCII")
            for locale, text in sorted(survey.title.translations.items())
            if not text.isascii()
        ]


class BrokenCheckChannel(FakeChannel):
    """A channel whose survey check has a bug."""

    @staticmethod
    def check_survey(survey: Survey) -> Sequence[Problem]:
        raise ZeroDivisionError(survey.id)


SURVEY_TOML = """
[[surveys]]
id = "visit"
title = { en = "Your visit \u2013 Bazaar", hi = "Bazaar" }
[[surveys.questions]]
kind = "nps"
id = "ltr"
text = { en = "How likely are you to recommend us?" }
"""


class TestEstimatedCost:
    def test_amounts_are_decimals_and_currencies_iso_codes(self):
        """Strings and integers become decimals; floats, negatives and bad currencies are refused."""
        assert EstimatedCost("0.0800", "USD").amount == Decimal("0.0800")
        assert str(EstimatedCost(2, "INR")) == "2 INR"
        with pytest.raises(ValidationError) as caught:
            EstimatedCost(0.08, "usd")  # type: ignore[arg-type]
        assert [p.path for p in caught.value.problems] == ["amount", "currency"]
        with pytest.raises(ValidationError, match="amount: -1 is less than zero"):
            EstimatedCost("-1", "USD")
        with pytest.raises(ValidationError, match="'cheap' is not a decimal amount"):
            EstimatedCost("cheap", "USD")

    def test_a_report_totals_costs_per_currency(self):
        """estimated_cost() sums per currency; str() adds the totals, and is unchanged without."""

        def outcome(n: int, cost: EstimatedCost | None) -> DispatchOutcome:
            return DispatchOutcome(
                item_id=f"o{n}",
                invitation_id=f"i{n}",
                channel="sms",
                state=OutboxState.SENT,
                cost=cost,
            )

        report = DispatchReport(
            (
                outcome(1, EstimatedCost("0.08", "USD")),
                outcome(2, EstimatedCost("0.25", "INR")),
                outcome(3, EstimatedCost("0.16", "USD")),
                outcome(4, None),
            )
        )
        assert report.estimated_cost() == {"INR": Decimal("0.25"), "USD": Decimal("0.24")}
        assert str(report) == "4 claimed: 4 sent; estimated cost 0.25 INR, 0.24 USD"
        assert str(DispatchReport((outcome(5, None),))) == "1 claimed: 1 sent"

    def test_the_dispatcher_carries_a_channels_estimate_to_its_report(self, tmp_path: Path):
        """A channel's SendResult.cost reaches the outcome and the pass's total."""

        async def go() -> tuple[DispatchReport, list[int]]:
            async with world(tmp_path) as w:
                await w.invite(3)
                channel = PricedChannel(name="email")
                report = await w.dispatcher(channel).run_once()
                lengths = [len(d.message.parts["text/plain"]) for d in channel.deliveries]
                return report, lengths

        report, lengths = asyncio.run(go())
        assert [o.state for o in report.outcomes] == [OutboxState.SENT] * 3
        costs = [o.cost for o in report.outcomes]
        assert all(c is not None and c.currency == "INR" for c in costs)
        assert report.estimated_cost() == {"INR": Decimal("0.05") * sum(lengths)}
        assert "; estimated cost " in str(report)

    def test_cxcore_send_prints_the_estimated_cost(
        self, files: Path, capsys: pytest.CaptureFixture[str]
    ):
        """The send summary adds the estimated cost under 'sent' when the channel gives one."""
        with (
            fake_channels(["email"]) as sent,
            channel_registry().overridden({"email": PricedChannel}),
        ):
            dispatch_cli.run(args_for(files))
        out, _ = capsys.readouterr()
        total = sum(Decimal("0.05") * len(d.message.parts["text/plain"]) for d in sent)
        assert len(sent) == 3
        assert f"  sent       3\n      estimated cost: {total} INR\n" in out


class TestSurveyChecks:
    def test_a_channel_with_check_survey_fits_the_protocol(self):
        """SurveyCheck is a runtime-checkable protocol a channel class may fit, called on the class."""
        assert isinstance(UnicodeFussyChannel, SurveyCheck)
        assert not isinstance(FakeChannel, SurveyCheck)

    def test_the_registry_asks_every_channel_that_checks(self):
        """check_survey() gathers each checking channel's problems, its name first; others say nothing."""
        registry = ChannelRegistry(discover=False)
        registry.register("sms", UnicodeFussyChannel)
        registry.register("email", FakeChannel)
        survey = Survey(
            id="s",
            title={"en": "Caf\u00e9", "hi": "Bazaar"},
            questions=[TextQuestion(id="q", text={"en": "Why?"})],
        )
        assert registry.check_survey(survey) == [
            Problem("title.en", "channel 'sms': 'Caf\u00e9' is not ASCII")
        ]
        assert registry.check_survey(survey, ["email"]) == []

    def test_a_check_that_raises_is_reported_not_raised(self):
        """A buggy check gives a problem naming the channel; the other channels still speak."""
        registry = ChannelRegistry(discover=False)
        registry.register("broken", BrokenCheckChannel)
        registry.register("sms", UnicodeFussyChannel)
        survey = Survey(
            id="s",
            title={"en": "Caf\u00e9"},
            questions=[TextQuestion(id="q", text={"en": "Why?"})],
        )
        problems = registry.check_survey(survey)
        assert problems == [
            Problem("", "channel 'broken': its survey check failed: ZeroDivisionError: s"),
            Problem("title.en", "channel 'sms': 'Caf\u00e9' is not ASCII"),
        ]

    def test_validate_prints_warnings_and_still_passes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        """cxcore validate prints each channel warning, with survey and path, and exits 0."""
        path = tmp_path / "surveys.toml"
        path.write_text(SURVEY_TOML)
        with channel_registry().overridden({"sms": UnicodeFussyChannel}):
            status = main(["validate", str(path)])
        out, err = capsys.readouterr()
        assert status == 0
        assert err == (
            f"{path}: warning: survey 'visit' v1: surveys[0].title.en: "
            "channel 'sms': 'Your visit \u2013 Bazaar' is not ASCII\n"
        )
        assert out == "ok: 1 file: 0 journeys, 1 survey, 0 custom metrics, 1 warning\n"

    def test_validate_strict_fails_on_warnings(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        """With --strict, warnings are problems: exit status 1, and no 'ok'."""
        path = tmp_path / "surveys.toml"
        path.write_text(SURVEY_TOML)
        with channel_registry().overridden({"sms": UnicodeFussyChannel}):
            status = main(["validate", "--strict", str(path)])
        out, err = capsys.readouterr()
        assert status == 1
        assert out == ""
        assert err.endswith("1 warning, which --strict counts as problems\n")

    def test_validate_strict_passes_clean_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        """--strict changes nothing for files without warnings."""
        path = tmp_path / "surveys.toml"
        path.write_text(SURVEY_TOML.replace("\u2013", "-"))
        with channel_registry().overridden({"sms": UnicodeFussyChannel}):
            assert main(["validate", "--strict", str(path)]) == 0
        assert capsys.readouterr().out == "ok: 1 file: 0 journeys, 1 survey, 0 custom metrics\n"
