"""``cxcore send``: a CSV audience, checked row by row, sent through fake channels."""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxcore import OutboxState, SendError
from cxcore.cli import main
from cxcore.deployment import CONFIG_VARIABLE
from cxcore.dispatch import cli
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel, fake_channels

SURVEYS = """
[[surveys]]
id = "nps_relationship"
kind = "relationship"
title = { en = "How are we doing?" }

[[surveys.questions]]
kind = "nps"
id = "ltr"
required = true
text = { en = "How likely are you to recommend us?" }

[[surveys]]
id = "csat_quarterly"
kind = "relationship"
title = { en = "Your quarter with us" }

[[surveys.questions]]
kind = "csat"
id = "sat"
text = { en = "How satisfied are you?" }
"""

AUDIENCE = """\
id,email,phone,locale,timezone,country,name,survey,tier
C-1,asha@example.in,+919812345678,en,Asia/Kolkata,IN,Asha,,gold
C-2,bram@example.nl,12345,en,Europe/Amsterdam,NL,Bram,,silver
C-3,chen@example.sg,,en,,SG,Chen,,gold
C-4,dara@example.ie,,en,Europe/Dublin,IE,Dara,nps_q5,gold
C-5,eli@example.com,,en,America/New_York,US,Eli,csat_quarterly,silver
C-6,bounce@example.com,,en,Europe/London,GB,,,
C-1,asha@example.in,,en,Asia/Kolkata,IN,Asha again,,gold
"""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cxcore")
    cli.register(parser.add_subparsers())
    return parser.parse_args(["send", *argv])


@pytest.fixture
def files(tmp_path, monkeypatch):
    """The files of a send with no deployment file: --store and $CXCORE_TOKEN_KEYS serve."""
    monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
    monkeypatch.setenv(cli.KEYS_VARIABLE, "k" * 32)
    (tmp_path / "surveys.toml").write_text(SURVEYS)
    (tmp_path / "customers.csv").write_text(AUDIENCE)
    return tmp_path


def argv_for(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "send",
        "--survey",
        "nps_relationship",
        "--audience",
        str(tmp_path / "customers.csv"),
        "--definitions",
        str(tmp_path / "surveys.toml"),
        "--store",
        str(tmp_path / "cx.db"),
        "--channel",
        "email",
        "--campaign",
        "2026-q4",
        *extra,
    ]


def args_for(tmp_path: Path, *extra: str) -> argparse.Namespace:
    return parse(*argv_for(tmp_path, *extra)[1:])


def outbox_states(db: Path) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with SQLiteStore(db) as store:
            items = await store.outbox()
        counts: dict[str, int] = {}
        for i in items:
            counts[i.state.value] = counts.get(i.state.value, 0) + 1
        return counts

    return asyncio.run(read())


class BouncingChannel(FakeChannel):
    """The fake provider refuses one address for good."""

    async def send(self, message):
        if message.to == "bounce@example.com":
            raise SendError("550 5.1.1 no such user", suppress=True, code="550")
        return await super().send(message)


class TestSend:
    def test_bad_rows_are_reported_and_the_rest_sent(self, files, capsys):
        """Bad phone, missing time zone and unknown survey fail their rows; the rest are sent; exit 1."""
        with fake_channels(["email"]) as sent:
            status = cli.run(args_for(files))
        out, err = capsys.readouterr()
        assert status == 1
        assert err.splitlines() == [
            f"{files / 'customers.csv'}: row 3, column 'phone': '12345' is not an E.164 phone number (expected e.g. '+919812345678')",
            f"{files / 'customers.csv'}: row 4, column 'timezone': is empty (expected an IANA time zone: 'Asia/Kolkata')",
            f"{files / 'customers.csv'}: row 5, column 'survey': 'nps_q5' is not a known survey (known: csat_quarterly, nps_relationship)",
        ]
        assert sorted(str(d.message.to) for d in sent) == [
            "asha@example.in",
            "bounce@example.com",
            "eli@example.com",
        ]
        assert {d.message.subject for d in sent} == {"How are we doing?", "Your quarter with us"}
        assert out.splitlines()[0] == (
            "cxcore send: survey 'nps_relationship', campaign '2026-q4', 7 rows"
        )
        assert out.splitlines()[1:] == [
            "  sent       3",
            "  suppressed 0",
            "  deferred   0",
            "  skipped    1",
            "      1 x recontact_window (eligible again at "
            + out.split("eligible again at ")[1].split(")")[0]
            + ")",
            "  failed     3",
            "      row 3, column 'phone': '12345' is not an E.164 phone number (expected e.g. '+919812345678')",
            "      row 4, column 'timezone': is empty (expected an IANA time zone: 'Asia/Kolkata')",
            "      row 5, column 'survey': 'nps_q5' is not a known survey (known: csat_quarterly, nps_relationship)",
        ]
        assert outbox_states(files / "cx.db") == {"sent": 3}

    def test_send_outcomes_are_summarised_with_reasons(self, files, capsys):
        """A provider's refusal shows as suppressed, with its reason; a re-run sends nothing twice."""
        with fake_channels(["email"]) as sent:
            from cxcore.ports.registry import channel_registry  # noqa: PLC0415

            with channel_registry().overridden({"email": BouncingChannel}):
                first = cli.run(args_for(files))
                again = cli.run(args_for(files))
        out, _ = capsys.readouterr()
        assert first == again == 1  # the bad rows fail each time
        summaries = out.split("cxcore send:")[1:]
        assert "  suppressed 1\n      1 x 550 5.1.1 no such user (code 550)\n" in summaries[0]
        assert "  sent       2\n" in summaries[0]
        assert "  sent       0\n" in summaries[1]  # the same campaign: nothing sent twice
        assert "      3 x invited by an earlier run of campaign '2026-q4'\n" in summaries[1]
        assert "claimed by another dispatcher" not in summaries[1]
        assert len(sent) == 2
        assert outbox_states(files / "cx.db") == {"sent": 2, "suppressed": 1}

    def test_a_new_campaign_skips_people_asked_inside_the_window(self, files, capsys):
        """The store refuses to ask again inside the recontact window: skipped, with when.

        A campaign decides on what it asks itself; who else was asked (by an
        earlier campaign, the collector, another process) the store knows, and
        refuses in the write's transaction. Nothing is stored or sent twice.
        """
        with fake_channels(["email"]) as sent:
            cli.run(args_for(files))
            first = len(sent)
            argv = argv_for(files)
            argv[argv.index("2026-q4")] = "2027-q1"
            again = cli.run(parse(*argv[1:]))
        out, _ = capsys.readouterr()
        assert again == 1  # the bad rows fail each time
        summary = out.split("cxcore send:")[2]
        assert "campaign '2027-q1', 7 rows" in summary
        assert "  sent       0\n" in summary
        skips = re.findall(r"      (\d+) x recontact_window \(eligible again at (\S+)\)\n", summary)
        assert sum(int(n) for n, _ in skips) == 4, summary  # and Asha, listed twice
        month = datetime.now(UTC) + timedelta(days=29)
        assert all(datetime.fromisoformat(at) > month for _, at in skips)
        assert len(sent) == first == 3
        assert outbox_states(files / "cx.db") == {"sent": 3}

    @pytest.mark.parametrize("window", [1, 2, 3])
    def test_rows_stored_in_windows_sum_up_the_same(self, files, capsys, monkeypatch, window):
        """However many invitations are stored at once, the same rows are sent, skipped, failed."""
        monkeypatch.setattr(cli, "_WINDOW", window)
        with fake_channels(["email"]) as sent:
            status = cli.run(args_for(files))
        out, _ = capsys.readouterr()
        assert status == 1
        assert sorted(str(d.message.to) for d in sent) == [
            "asha@example.in",
            "bounce@example.com",
            "eli@example.com",
        ]
        assert "  sent       3\n" in out
        assert "      1 x recontact_window" in out  # Asha, listed twice, is asked once
        assert outbox_states(files / "cx.db") == {"sent": 3}

    def test_a_row_the_store_refuses_fails_alone(self, files, capsys):
        """An invitation the store will not keep fails its row, by number; the others go."""

        async def create() -> None:
            async with SQLiteStore(files / "cx.db"):
                pass

        asyncio.run(create())
        with sqlite3.connect(files / "cx.db") as db:  # a rule a DBA added
            db.execute(
                "CREATE TRIGGER no_bounces BEFORE INSERT ON invitations "
                "WHEN NEW.address = 'bounce@example.com' "
                "BEGIN SELECT RAISE(ABORT, 'no mail to bounce@example.com'); END"
            )
        with fake_channels(["email"]) as sent:
            status = cli.run(args_for(files))
        out, err = capsys.readouterr()
        assert status == 1
        assert sorted(str(d.message.to) for d in sent) == ["asha@example.in", "eli@example.com"]
        refused = [line for line in err.splitlines() if "row 7" in line]
        assert len(refused) == 1
        assert "no mail to bounce@example.com" in refused[0]
        assert "  failed     4\n" in out
        assert outbox_states(files / "cx.db") == {"sent": 2}

    def test_dry_run_stores_and_sends_nothing(self, files, capsys):
        """A dry run decides every row, but creates no store and stores and sends nothing."""
        with fake_channels(["email"]) as sent:
            status = cli.run(args_for(files, "--dry-run"))
        out, _ = capsys.readouterr()
        assert status == 1
        assert sent == []
        assert "7 rows (dry run: nothing stored or sent)" in out
        assert "  would send 3\n" in out
        assert sorted(p.name for p in files.iterdir()) == ["customers.csv", "surveys.toml"]

    def test_dry_run_reads_an_existing_store_and_writes_nothing_to_it(self, files, capsys):
        """With a store already there, a dry run reads its surveys and stores nothing in it."""
        asyncio.run(self._create(files / "cx.db"))
        with fake_channels(["email"]) as sent:
            status = cli.run(args_for(files, "--dry-run"))
        assert status == 1
        assert sent == []
        assert outbox_states(files / "cx.db") == {}

    @staticmethod
    async def _create(db: Path) -> None:
        async with SQLiteStore(db):
            pass

    def test_failures_are_listed_by_row_in_ascending_order(self, files, capsys):
        """A row the store refuses comes in row order among the invalid rows, on stderr and in the summary."""
        (files / "customers.csv").write_text(
            "id,email,timezone\n"
            "C-1,bounce@example.com,Asia/Kolkata\n"
            "C-2,bad,Asia/Kolkata\n"
            "C-3,ok@example.com,Asia/Kolkata\n"
        )
        asyncio.run(self._create(files / "cx.db"))
        with sqlite3.connect(files / "cx.db") as db:
            db.execute(
                "CREATE TRIGGER no_bounces BEFORE INSERT ON invitations "
                "WHEN NEW.address = 'bounce@example.com' "
                "BEGIN SELECT RAISE(ABORT, 'no mail to bounce@example.com'); END"
            )
        with fake_channels(["email"]):
            status = cli.run(args_for(files))
        out, err = capsys.readouterr()
        assert status == 1
        rows = [line.split(": row ", 1)[1].split(",")[0].split(":")[0] for line in err.splitlines()]
        assert rows == ["2", "3"]
        failed = out.split("  failed     2\n", 1)[1].splitlines()
        assert failed[0].startswith("      row 2: ")
        assert failed[1] == "      row 3, column 'email': 'bad' is not an email address"

    def test_unknown_survey_option(self, files, capsys):
        """A --survey neither the definitions nor the store know: exit 1, the known ones listed."""
        with fake_channels(["email"]):
            argv = argv_for(files)
            argv[argv.index("nps_relationship")] = "nps_q5"
            status = main(argv)
        _, err = capsys.readouterr()
        assert status == 1
        assert err == (
            "cxcore send: error: --survey: 'nps_q5' is not a known survey (known: "
            "csat_quarterly, nps_relationship; pass --definitions FILE)\n"
        )

    def test_missing_keys(self, files, capsys, monkeypatch):
        """No $CXCORE_TOKEN_KEYS: a usage error, exit 2, no traceback."""
        monkeypatch.delenv(cli.KEYS_VARIABLE)
        with fake_channels(["email"]):
            status = main(argv_for(files))
        _, err = capsys.readouterr()
        assert status == 2
        assert err.startswith("cxcore send: error: $CXCORE_TOKEN_KEYS is not set")

    def test_short_key(self, files, capsys, monkeypatch):
        """A key too short to sign with: the variable named, exit 2, nothing stored."""
        monkeypatch.setenv(cli.KEYS_VARIABLE, "abc")
        with fake_channels(["email"]):
            status = main(argv_for(files))
        _, err = capsys.readouterr()
        assert status == 2
        assert err == (
            "cxcore send: error: $CXCORE_TOKEN_KEYS: keys[0]: is 3 bytes long (expected at least 32)\n"
        )
        assert not (files / "cx.db").exists()

    def test_header_without_timezone(self, files, capsys):
        """An audience without a required column: exit 1, the columns it has listed."""
        (files / "customers.csv").write_text("id,email\nC-1,a@example.com\n")
        with fake_channels(["email"]):
            status = main(argv_for(files))
        _, err = capsys.readouterr()
        assert status == 1
        assert err == (
            f"cxcore send: error: {files / 'customers.csv'}: the header has no 'timezone' column "
            "(it has 'id', 'email')\n"
        )

    def test_outbox_state_names(self):
        assert [s.value for s in OutboxState] == [
            "pending",
            "sending",
            "sent",
            "unknown",
            "failed",
            "suppressed",
        ]
