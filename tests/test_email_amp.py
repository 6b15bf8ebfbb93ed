"""The AMP part: every variant the channel produces passes the official AMP4EMAIL validator.

The validator runs offline under node (``tests/amp/validate.js``). Its engine is
fetched once by ``.ci/fetch-amp-validator``; tests find it through
``CXCORE_AMP_VALIDATOR`` or in ``.ci/cache/amp/``. Without it the tests skip
locally, and fail in CI.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest

from cxcore import (
    CesQuestion,
    ChoiceQuestion,
    CsatQuestion,
    Display,
    NpsQuestion,
    Option,
    RatingQuestion,
    ScaleQuestion,
    Survey,
    TextQuestion,
)
from cxcore.testing import sample_invitation, sample_surveys
from cxcore_channels.email import AMP_MAX_BYTES, EmailChannel

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "amp" / "validate.js"
CACHED = ROOT / ".ci" / "cache" / "amp" / "validator_wasm.js"
HOSTILE = 'Asha <script>alert("x")</script>\r\nBcc: v@example.com {{#x}}{{/x}} }}'


def validator_path() -> Path:
    configured = os.environ.get("CXCORE_AMP_VALIDATOR")
    path = Path(configured) if configured else CACHED
    node = shutil.which("node")
    if path.is_file() and node:
        return path
    why = f"the AMP validator is not at {path}" if node else "node is not installed"
    message = f"{why}: run .ci/fetch-amp-validator (and set CXCORE_AMP_VALIDATOR to its output)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def validate(documents: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Validate every document in one node process; return the result per id."""
    path = validator_path()
    lines = "".join(json.dumps({"id": k, "html": v}) + "\n" for k, v in documents.items())
    done = subprocess.run(
        ["node", str(RUNNER), str(path)],  # noqa: S607 - node from PATH, as CI installs it
        input=lines,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    return {r["id"]: r for r in results}


def _t(en: str, hi: str) -> dict[str, str]:
    return {"en": en, "hi": hi}


def variant_surveys() -> list[Survey]:
    """Surveys that cover every question kind and display the templates handle."""
    why = TextQuestion(id="why", required=True, text=_t("Why?", "क्यों?"), max_length=500)
    return [
        *sample_surveys(),
        Survey(
            id="csat_variants",
            title=_t("Your order", "आपका ऑर्डर"),
            intro=_t("Two quick questions.", "दो छोटे सवाल।"),
            thanks=_t("Thanks {{a lot}}!", "बहुत धन्यवाद!"),
            questions=[
                CsatQuestion(
                    id="c_numbers",
                    text=_t("Numbers?", "अंक?"),
                    display=Display.NUMBERS,
                    help=_t("1 is worst", "1 सबसे ख़राब"),
                ),
                CsatQuestion(id="c_emoji", text=_t("Emoji?", "इमोजी?"), display=Display.EMOJI),
                RatingQuestion(id="r3", scale=3, text=_t("Three?", "तीन?"), display=Display.EMOJI),
                RatingQuestion(id="r5", text=_t("Stars?", "सितारे?"), display=Display.STARS),
                why,
            ],
        ),
        Survey(
            id="ces_inverted",
            title=_t("Effort", "प्रयास"),
            questions=[
                CesQuestion(
                    id="effort",
                    direction="lower_is_better",
                    text=_t("Easy?", "आसान?"),
                    low_label=_t("Very easy", "बहुत आसान"),
                    high_label=_t("Hard", "कठिन"),
                ),
                NpsQuestion(
                    id="ltr",
                    text=_t("Recommend?", "सुझाएँगे?"),
                    low_label=_t("No", "नहीं"),
                    high_label=_t("Yes", "हाँ"),
                ),
            ],
        ),
        Survey(
            id="choices",
            title=_t("Choices", "विकल्प"),
            questions=[
                ChoiceQuestion(
                    id="one",
                    required=True,
                    text=_t("Pick one", "एक चुनें"),
                    options=[Option("a", _t("A", "क")), Option("b", _t("B", "ख"))],
                ),
                ChoiceQuestion(
                    id="many",
                    multiple=True,
                    max_choices=2,
                    text=_t("Any", "कोई भी"),
                    options=[
                        Option("x", _t("X", "ग")),
                        Option("y", _t("Y", "घ")),
                        Option("z", _t("Z & <b>", "ङ")),
                    ],
                ),
                ScaleQuestion(
                    id="custom",
                    metric="effort10",
                    low=0,
                    scale=10,
                    text=_t("Custom scale", "अपना पैमाना"),
                ),
            ],
        ),
    ]


def channel(**kwargs: Any) -> EmailChannel:
    return EmailChannel(
        base_url="https://cx.example.in/r", sender="surveys@example.in", tls="none", **kwargs
    )


class TestValidator:
    def test_every_amp_part_passes_amp4email(self):
        """Every survey variant, in English and Hindi, with and without a (hostile) name, validates."""
        email_channel = channel()
        documents: dict[str, str] = {}
        for survey in variant_surveys():
            for locale in ("en", "hi"):
                for who, name in (("anonymous", None), ("asha", "Asha"), ("hostile", HOSTILE)):
                    invitation = sample_invitation(
                        survey, channel="email", locale=locale, name=name
                    )
                    message = email_channel.render(invitation, survey)
                    amp = message.parts["text/x-amp-html"]
                    assert len(amp.encode()) <= AMP_MAX_BYTES
                    documents[f"{survey.id}/{locale}/{who}"] = amp
        documents["known-bad"] = "<html><body>not AMP</body></html>"
        results = validate(documents)
        assert results.keys() == documents.keys()
        assert results.pop("known-bad")["status"] == "FAIL"  # the validator does validate
        failures = {k: r["errors"] for k, r in results.items() if r["status"] != "PASS"}
        assert failures == {}
        assert len(results) == 3 * 2 * len(variant_surveys())


class TestAmpContent:
    def test_form_posts_to_the_amp_token_and_keeps_mustache_apart(self):
        """action-xhr carries the AMP token; template tags survive; data never forms a tag."""
        survey = sample_surveys()[0]
        invitation = sample_invitation(survey, channel="email", name=HOSTILE)
        amp = channel().render(invitation, survey).parts["text/x-amp-html"]
        assert 'action-xhr="https://cx.example.in/r/amp/tok.sample.0001.amp"' in amp
        assert "{{#message}}<p>{{message}}</p>{{/message}}{{^message}}" in amp
        assert "{{#x}}" not in amp
        assert "{\u200b{#x}\u200b}" in amp
        assert "<script>alert" not in amp
        assert "Bcc: v@example.com" in amp  # on one line, as text
        assert 'name="q.ltr"' in amp

    def test_multiple_choice_posts_as_a_list(self):
        """Checkboxes of a multiple choice are named q.<id>[] so one pick still reads as a list."""
        survey = next(s for s in variant_surveys() if s.id == "choices")
        amp = (
            channel()
            .render(sample_invitation(survey, channel="email"), survey)
            .parts["text/x-amp-html"]
        )
        assert amp.count('type="checkbox" name="q.many[]"') == 3
        assert amp.count('type="radio" name="q.one"') == 2

    def test_oversized_amp_part_is_left_out_and_logged(self, caplog):
        """An AMP part over 102,400 bytes is dropped; text and HTML still go; the omission is logged."""
        base = sample_surveys()[0]
        long_help = {"en": "Please tell us more. " * 5000, "hi": "कृपया और बताएँ। " * 900}
        question = attrs.evolve(base.questions[1], help=long_help)
        survey = attrs.evolve(base, questions=(base.questions[0], question))
        invitation = sample_invitation(survey, channel="email")
        with caplog.at_level(logging.WARNING, logger="cxcore.channels.email"):
            message = channel().render(invitation, survey)
        assert list(message.parts) == ["text/plain", "text/html"]
        (record,) = caplog.records
        assert "AMP part left out" in record.getMessage()
        assert invitation.id in record.getMessage()
        assert "asha@example.in" not in record.getMessage()

    def test_just_under_the_limit_is_kept(self):
        """The limit is on bytes: a part just under it stays."""
        base = sample_surveys()[0]
        probe = channel().render(sample_invitation(base, channel="email"), base)
        room = AMP_MAX_BYTES - len(probe.parts["text/x-amp-html"].encode())
        filler = "x" * (room - 200)
        survey = attrs.evolve(base, intro={"en": filler, "hi": filler})
        message = channel().render(sample_invitation(survey, channel="email"), survey)
        size = len(message.parts["text/x-amp-html"].encode())
        assert AMP_MAX_BYTES - 400 < size <= AMP_MAX_BYTES

    def test_amp_off_and_http_base_url(self):
        """amp=False leaves the part out; an http base_url is refused unless AMP is off."""
        from cxcore_channels.email import EmailConfigError  # noqa: PLC0415

        survey = sample_surveys()[0]
        message = channel(amp=False).render(sample_invitation(survey, channel="email"), survey)
        assert list(message.parts) == ["text/plain", "text/html"]
        with pytest.raises(EmailConfigError, match="https"):
            EmailChannel(base_url="http://localhost:8000", sender="s@example.in")
        plain = EmailChannel(base_url="http://localhost:8000", sender="s@example.in", amp=False)
        assert plain.render(sample_invitation(survey, channel="email"), survey).parts
