"""The cxcore command: validate, show, and clear exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxcore.cli import main
from cxcore.dispatch.cli import KEYS_VARIABLE
from cxcore.testing import fake_channels

EXAMPLES = Path(__file__).parent.parent / "examples" / "retail"
FILES = [str(p) for p in sorted(EXAMPLES.glob("*.toml"))]
RULES = str(EXAMPLES / "rules" / "bazaar.toml")


class TestValidate:
    def test_valid_files(self, capsys):
        """Valid files exit 0 with a count of what they define."""
        assert main(["validate", *FILES]) == 0
        assert capsys.readouterr().out == "ok: 2 files: 1 journey, 5 surveys, 0 custom metrics\n"

    def test_every_problem_of_every_file_is_printed(self, tmp_path, capsys):
        """Each bad file's problems are printed with paths; the exit status is 1."""
        bad = tmp_path / "bad.toml"
        bad.write_text(
            '[[surveys]]\nid = "s"\ntitle = { en = "T" }\nquestions = [{ kind = "nps", id = "q", scale = 11 }]\n'
        )
        missing = tmp_path / "missing.json"
        assert main(["validate", str(bad), str(missing), FILES[0]]) == 2  # one cannot be opened
        err = capsys.readouterr().err
        assert f"{bad}: 2 problems:\n" in err
        assert "  surveys[0].questions[0].text: is missing (required)\n" in err
        assert "  surveys[0].questions[0].scale: 11 is not a valid NPS scale (expected 10)\n" in err
        assert f"{missing}: cannot open: No such file or directory\n" in err
        assert err.endswith("2 files with problems\n")
        assert main(["validate", str(bad), FILES[0]]) == 1  # problems only

    def test_problems_across_files(self, tmp_path, capsys):
        """A survey defined in two files is reported once both are read."""
        copy = tmp_path / "copy.toml"
        copy.write_text((EXAMPLES / "surveys.toml").read_text(encoding="utf-8"), encoding="utf-8")
        assert main(["validate", FILES[1], str(copy)]) == 1
        assert (
            "surveys[5]: 'after_billing' v1 is already defined by surveys[0]"
            in capsys.readouterr().err
        )


class TestValidateRules:
    def test_a_rules_file_is_validated_and_cross_checked(self, capsys):
        """bazaar.toml validates on its own and against the journey and surveys it names."""
        assert main(["validate", RULES]) == 0
        alone = capsys.readouterr()
        assert alone.out == "ok: 1 file: 0 journeys, 0 surveys, 0 custom metrics, 3 trigger rules\n"
        assert alone.err.startswith(  # alone, what it names cannot be checked: it says so
            "note: the rules' surveys and touchpoints were not checked: name the definition files"
        )
        assert main(["validate", *FILES, RULES]) == 0
        both = capsys.readouterr()
        assert both.out == "ok: 3 files: 1 journey, 5 surveys, 0 custom metrics, 3 trigger rules\n"
        assert both.err == ""

    def test_what_a_rules_file_names_must_exist(self, tmp_path, capsys):
        """Unknown surveys, touchpoints and channels are problems, each with its path."""
        rules = tmp_path / "rules.toml"
        rules.write_text(
            "[channels]\nfallback = ['email']\nanonymous = []\naddresses = { email = 'email' }\n\n"
            "[[rules]]\nid = 'a'\ntouchpoint = 'billing_counter'\nsurvey = 'after_billing'\n\n"
            "[[rules]]\nid = 'b'\ntouchpoint = 'till'\nsurvey = 'nps_q9'\nchannels = ['fax']\n",
            encoding="utf-8",
        )
        assert main(["validate", *FILES, str(rules)]) == 1
        err = capsys.readouterr().err
        assert f"{rules}: 4 problems:\n" in err
        assert (
            "  rules[0].touchpoint: touchpoint 'billing_counter' lists channel 'sms', which has "
            "no address kind in channels.addresses (known: email)\n"
        ) in err
        assert (
            "  rules[1].survey: 'nps_q9' is not a defined survey (defined: after_billing, " in err
        )
        assert "  rules[1].touchpoint: 'till' is not a touchpoint of any journey" in err
        assert "  rules[1].channels[0]: 'fax' has no address kind in channels.addresses" in err

    def test_a_file_of_no_known_kind_names_the_kinds(self, tmp_path, capsys):
        """Keys of no kind: an error naming the kinds cxcore knows, with a suggestion."""
        odd = tmp_path / "odd.toml"
        odd.write_text("[[rule]]\nid = 'a'\n", encoding="utf-8")
        assert main(["validate", str(odd)]) == 1
        assert capsys.readouterr().err == (
            f"{odd}: 2 problems:\n"
            "  rule: is not a key of any kind of file cxcore reads (did you mean 'rules'?)\n"
            "  is not a kind of file cxcore reads: definitions (journeys, surveys, metrics); "
            "rules (rules, fatigue, quiet_hours, channels)\n"
            "1 file with problems\n"
        )

    def test_a_file_mixing_kinds_is_refused(self, tmp_path, capsys):
        """Journeys and rules in one file: the keys of each named."""
        mixed = tmp_path / "mixed.toml"
        text = (EXAMPLES / "journey.toml").read_text(encoding="utf-8")
        mixed.write_text(text + "\n[fatigue]\nrecontact_days = 30\n", encoding="utf-8")
        assert main(["validate", str(mixed)]) == 1
        assert (
            "mixes the keys of definitions (journeys) and rules (fatigue): put each kind in a "
            "file of its own"
        ) in capsys.readouterr().err


class TestShow:
    def test_journey_map_and_surveys_in_hindi(self, capsys):
        """show prints stages with touchpoints and owners, and questions in the chosen language."""
        assert main(["show", *FILES, "--locale", "hi"]) == 0
        out = capsys.readouterr().out
        assert "Journey bazaar_retail: Bazaar retail journey (6 stages, 12 touchpoints)" in out
        assert (
            "billing_counter    Store billing counter  [owner: store_manager; channels: sms, email]"
            in out
        )
        assert "1.*[nps] ltr: आप बाज़ार को किसी मित्र या सहकर्मी को सुझाने की कितनी संभावना रखते हैं?" in out
        assert "scale 0-10, feeds nps; बिल्कुल संभावना नहीं ... बहुत अधिक संभावना" in out
        assert "shown if found_it in (partly, no)" in out
        assert "scale 1-7, feeds ces; पूरी तरह असहमत ... पूरी तरह सहमत; higher is better" in out

    def test_broken_file_exits_1(self, tmp_path, capsys):
        """show refuses files with problems, printing them."""
        bad = tmp_path / "bad.json"
        bad.write_text('{"journeys": 1}')
        assert main(["show", str(bad)]) == 1
        assert "journeys: 1 is not a list" in capsys.readouterr().err


class TestEntryPoint:
    def test_usage_errors_exit_2(self, capsys):
        """A missing command is a usage error."""
        with pytest.raises(SystemExit) as exc:
            main([])
        assert exc.value.code == 2
        assert "COMMAND" in capsys.readouterr().err

    def test_version_and_module_entry(self):
        """python -m cxcore --version prints the installed version."""
        run = subprocess.run(
            [sys.executable, "-m", "cxcore", "--version"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.startswith("cxcore ")


SURVEYS = str(EXAMPLES / "surveys.toml")
KEY = "k" * 32
SEND = ["send", "--survey", "after_billing", "--audience"]

# (name, argv, environment, exit status, what the message says). Files: "missing" does
# not exist, "dir" is a directory (cannot be opened as a file), "empty" is empty,
# "binary" holds bytes that are not text. {x} is the bad file, {ok} a good audience.
BAD_INPUTS = [
    (
        "validate: missing file",
        ["validate", "{missing}.toml"],
        {},
        2,
        "cannot open: No such file or directory",
    ),
    ("validate: unreadable file", ["validate", "{dir}.toml"], {}, 2, "cannot open: Is a directory"),
    ("validate: empty file", ["validate", "{empty}.toml"], {}, 1, "defines nothing"),
    (
        "validate: binary file",
        ["validate", "{binary}.toml"],
        {},
        1,
        "is not UTF-8 text (a binary file?)",
    ),
    ("validate: no arguments", ["validate"], {}, 2, "the following arguments are required: FILE"),
    (
        "show: missing file",
        ["show", "{missing}.json"],
        {},
        2,
        "cannot open: No such file or directory",
    ),
    ("show: unreadable file", ["show", "{dir}.toml"], {}, 2, "cannot open: Is a directory"),
    ("show: empty file", ["show", "{empty}.toml"], {}, 1, "defines nothing"),
    ("show: binary file", ["show", "{binary}.json"], {}, 1, "is not UTF-8 text"),
    (
        "channels: bad option",
        ["channels", "--strict=yes"],
        {},
        2,
        "ignored explicit argument 'yes'",
    ),
    (
        "score: missing file",
        ["score", "{missing}.csv", "--metric", "nps"],
        {},
        2,
        "cannot open: No such file or directory",
    ),
    ("score: unreadable file", ["score", "{dir}.csv", "--metric", "nps"], {}, 2, "is a directory"),
    ("score: empty file", ["score", "{empty}.csv", "--metric", "nps"], {}, 1, "Empty CSV file"),
    (
        "score: binary file",
        ["score", "{binary}.csv", "--metric", "nps"],
        {},
        1,
        "is not UTF-8 text",
    ),
    (
        "score: bad confidence",
        ["score", "{ok}", "--metric", "nps", "--confidence", "1.5"],
        {},
        2,
        "argument --confidence: '1.5' is not a confidence level",
    ),
    (
        "score: bad period",
        ["score", "{ok}", "--metric", "nps", "--every", "year"],
        {},
        2,
        "argument --every: invalid choice: 'year'",
    ),
    (
        "score: unknown metric",
        ["score", "{ok}", "--metric", "nsp"],
        {},
        2,
        "--metric: unknown metric 'nsp'",
    ),
    (
        "send: missing audience",
        [*SEND, "{missing}.csv"],
        {},
        2,
        "cannot open: No such file or directory",
    ),
    (
        "send: unreadable audience",
        [*SEND, "{dir}.csv"],
        {},
        2,
        "cannot open: Is a directory",
    ),
    (
        "send: empty audience",
        [*SEND, "{empty}.csv"],
        {},
        1,
        "the file is empty (expected a header row",
    ),
    (
        "send: binary audience",
        [*SEND, "{binary}.csv"],
        {},
        1,
        "is not UTF-8 text",
    ),
    (
        "send: binary definitions",
        [
            *SEND,
            "{ok}",
            "--definitions",
            "{binary}.toml",
        ],
        {},
        1,
        "is not UTF-8 text",
    ),
    (
        "send: keys unset",
        [*SEND, "{ok}"],
        {KEYS_VARIABLE: ""},
        2,
        "$CXCORE_TOKEN_KEYS is not set",
    ),
    (
        "send: key too short",
        [*SEND, "{ok}"],
        {KEYS_VARIABLE: "abc"},
        2,
        "$CXCORE_TOKEN_KEYS: keys[0]: is 3 bytes long (expected at least 32)",
    ),
    (
        "send: bad expiry",
        [*SEND, "{ok}", "--expires-days", "0"],
        {},
        2,
        "argument --expires-days: '0' is not a whole number of days",
    ),
    (
        "send: unknown channel",
        [*SEND, "{ok}", "--channel", "fax"],
        {},
        2,
        "--channel: no channel 'fax' is installed",
    ),
    (
        "send: unusable store",
        [*SEND, "{ok}", "--store", "{dir}.db"],
        {},
        2,
        "--store: cannot open",
    ),
    (
        "send: missing deployment file",
        [*SEND, "{ok}", "--config", "{missing}.toml"],
        {},
        2,
        "no such deployment file",
    ),
    (
        "send: unreadable deployment file",
        [*SEND, "{ok}", "--config", "{dir}.toml"],
        {},
        2,
        "cannot open: Is a directory",
    ),
    (
        "send: empty deployment file",
        [*SEND, "{ok}", "--config", "{empty}.toml"],
        {},
        1,
        "store: is missing",
    ),
    (
        "send: binary deployment file",
        [*SEND, "{ok}", "--config", "{binary}.toml"],
        {},
        1,
        "cannot be read: it is not UTF-8 text",
    ),
    (
        "preview: missing file",
        ["preview", "email", "--survey", "{missing}.toml"],
        {},
        2,
        "cannot open: No such file or directory",
    ),
    (
        "preview: empty file",
        ["preview", "email", "--survey", "{empty}.toml"],
        {},
        1,
        "defines no surveys (expected a definition file with [[surveys]])",
    ),
    (
        "preview: the journey file instead of the surveys",
        ["preview", "email", "--survey", str(EXAMPLES / "journey.toml")],
        {},
        1,
        "defines no surveys (expected a definition file with [[surveys]]); it defines 1 journey",
    ),
    (
        "preview: binary file",
        ["preview", "email", "--survey", "{binary}.toml"],
        {},
        1,
        "is not UTF-8 text",
    ),
    (
        "preview: bad recipient",
        ["preview", "email", "--survey", SURVEYS, "--survey-id", "after_billing", "--to", "nobody"],
        {},
        2,
        "is not an ASCII address",
    ),
    ("preview: unknown channel", ["preview", "fax"], {}, 2, "cxcore.previews"),
]


class TestBadInputEverywhere:
    """Every subcommand, given every kind of bad input: a clear message, a documented status."""

    @pytest.mark.parametrize(
        ("argv", "env", "status", "message"),
        [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
    )
    def test_a_clear_error_and_no_traceback(  # noqa: PLR0917 - pytest passes the table's columns
        self, argv, env, status, message, tmp_path, capsys, monkeypatch
    ):
        """The message says what is wrong, the status is 1 (input) or 2 (usage), no traceback."""
        monkeypatch.chdir(tmp_path)  # `cxcore send`'s default store, if any, lands here
        monkeypatch.setenv(KEYS_VARIABLE, KEY)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "dir.toml").mkdir()
        for name in ("dir.csv", "dir.json", "dir.db"):
            (tmp_path / name).mkdir()
        for suffix in (".toml", ".json", ".csv"):
            (tmp_path / f"empty{suffix}").write_bytes(b"")
            (tmp_path / f"binary{suffix}").write_bytes(bytes(range(256)) * 4)
        ok = tmp_path / "ok.csv"
        ok.write_text("metric,score,id,email,timezone\nnps,9,C-1,a@example.in,Asia/Kolkata\n")
        files = {k: str(tmp_path / k) for k in ("missing", "dir", "empty", "binary")}
        args = [a.format(ok=ok, **files) for a in argv]
        if args[0] == "send":
            args += ["--definitions", SURVEYS] if "--definitions" not in args else []
        with fake_channels():  # every installed one: email, sms and whatsapp need options
            got: int | str | None
            try:
                got = main(args)
            except SystemExit as exit_:  # argparse's usage errors
                got = exit_.code
        err = capsys.readouterr().err
        assert (got, message in err) == (status, True), err
        assert "Traceback" not in err

    def test_exit_statuses_are_documented(self):
        """docs/cli.md gives each status one meaning; the table uses only those."""
        page = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
        for status in ("`0`", "`1`", "`2`"):
            assert f"| {status} |" in page
        assert {case[3] for case in BAD_INPUTS} == {1, 2}

    def test_no_traceback_from_the_installed_command(self, tmp_path):
        """The real `cxcore` process, given a short key, prints one error line."""
        (tmp_path / "a.csv").write_text("id,email,timezone\nC-1,a@example.in,Asia/Kolkata\n")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "cxcore",
                "send",
                "--survey",
                "after_billing",
                "--audience",
                str(tmp_path / "a.csv"),
                "--definitions",
                SURVEYS,
                "--store",
                str(tmp_path / "cx.db"),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, KEYS_VARIABLE: "abc"},
        )
        assert run.returncode == 2
        assert run.stderr == (
            "cxcore send: error: $CXCORE_TOKEN_KEYS: keys[0]: is 3 bytes long (expected at least 32)\n"
        )
        assert not (tmp_path / "cx.db").exists()
