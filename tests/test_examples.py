"""The examples run: the retail demo goes end to end, from visits to scores."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

DEMO = Path(__file__).parent.parent / "examples" / "retail" / "demo.py"


def number_after(text: str, label: str, end: str = "\n") -> int:
    """The number printed after *label* in *text*, up to *end*."""
    assert label in text, label
    return int(text.split(label, 1)[1].split(end, 1)[0])


def test_the_retail_demo_runs_end_to_end(tmp_path):
    """A short run sends invitations, stores answers and prints scores by store, with explain()."""
    db = tmp_path / "bazaar.db"
    run = subprocess.run(
        [sys.executable, str(DEMO), "--customers", "600", "--days", "3", "--db", str(db)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Invitations sent:" in out
    emails = int(out.split("email (over SMTP): ", 1)[1].split(",", 1)[0])
    assert emails > 0  # through the real channel to a real SMTP server
    # Through the real SMS channel, over HTTP, to the Twilio emulator.
    texts = number_after(out, "sms (over HTTP to the Twilio emulator): ", ")")
    india = number_after(out, "sms to +91 numbers, from DLT header BZAARR, with the survey link: ")
    abroad = number_after(out, "sms to numbers abroad, answered by reply: ")
    assert india > 0  # DLT: each text an instance of a registered template, from the header
    assert abroad > 0
    assert india + abroad == texts
    assert "not an instance of DLT template" not in out
    assert "Unsubscribed with one click (RFC 8058):" in out
    assert "Responses stored:" in out
    assert "One-click answers from emails, over HTTP to the collector:" in out
    # The texts carry short links (/l/<code>), which the collector sends on to the survey page.
    short = "Short links in texts opened (/l/<code>): "
    assert number_after(out, short, " x HTTP 303") > 0
    pages = "Survey pages answered from an SMS link, over HTTP: "
    assert number_after(out, pages, " x HTTP 200") > 0
    # SMS replies, posted to the collector's SMS route as Twilio's signed inbound webhook.
    replies = "SMS answers by reply, Twilio's signed webhook to /c/sms: "
    assert number_after(out, replies, " x HTTP 200") > 0
    receipts = "SMS delivery receipts, Twilio's signed status callbacks: "
    assert number_after(out, receipts, " x HTTP 200") == texts
    assert "HTTP 4" not in out
    assert "HTTP 5" not in out
    assert "Feed, read by consumer 'demo-report'" in out
    assert "-- CSAT after billing, % satisfied (4-5), by store" in out
    assert "=> skip: recontact_window; eligible again at" in out
    assert db.is_file()


HISTORY = DEMO.parent / "history.py"


def _history_module() -> types.ModuleType:
    import importlib.util  # noqa: PLC0415 - the example is a script, not a package

    spec = importlib.util.spec_from_file_location("bazaar_history_example", HISTORY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs resolves the classes' annotations through it
    spec.loader.exec_module(module)
    return module


def test_the_retail_history_is_repeatable_and_keeps_its_truths():
    """The same seed gives the same history; its known truths show in the plain answers."""
    history = _history_module()
    first = history.bazaar_history(customers=400, seed=7)
    again = history.bazaar_history(customers=400, seed=7)
    assert first.responses == again.responses
    assert first.interactions == again.interactions
    other = history.bazaar_history(customers=400, seed=8)
    assert other.responses != first.responses

    big = history.bazaar_history(customers=1500, seed=7)
    i = big.initiative

    def mean_billing(*, treated: bool, after: bool) -> float:
        values = [
            r.answers["billing_sat"]
            for r in big.responses
            if r.survey_id == "after_billing"
            and (r.context["store"] in i.stores) == treated
            and (r.started_at.date() >= i.start) == after
        ]
        return float(sum(values)) / len(values)

    did = (mean_billing(treated=True, after=True) - mean_billing(treated=True, after=False)) - (
        mean_billing(treated=False, after=True) - mean_billing(treated=False, after=False)
    )
    assert 0.2 < did < 0.7  # rounding to the 1-5 scale blurs the latent lift of 0.45
    kinds = {r.respondent.value for r in big.responses}
    assert kinds == {"customer", "anonymous", "agent"}
    assert any(
        "\u0900" <= ch <= "\u097f" for r in big.responses for ch in str(r.answers.get("why", ""))
    )


def test_the_retail_history_writes_a_store(tmp_path):
    """The command line writes every response into a SQLite store that scores read back."""
    db = tmp_path / "history.db"
    run = subprocess.run(
        [sys.executable, str(HISTORY), "--db", str(db), "--customers", "200", "--weeks", "8"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "responses and" in run.stdout
    assert "weakest touchpoint: home_delivery" in run.stdout
