"""The cxcore command: validate, show, and clear exits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cxcore.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples" / "retail"
FILES = [str(p) for p in sorted(EXAMPLES.glob("*.toml"))]
RULES = str(EXAMPLES / "rules" / "bazaar.toml")


class TestValidate:
    def test_valid_files(self, capsys):
        """Valid files exit 0 with a count of what they define."""
        assert main(["validate", *FILES]) == 0
        assert capsys.readouterr().out == "ok: 2 file(s): 1 journey, 5 surveys, 0 custom metrics\n"

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
        assert err.endswith("2 file(s) with problems\n")
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
        assert main(["validate", *FILES, RULES]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[-1] == "ok: 3 file(s): 1 journey, 5 surveys, 0 custom metrics, 3 trigger rules"

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
            "1 file(s) with problems\n"
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
