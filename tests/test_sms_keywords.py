"""Keywords and replies by SMS, driven by Hypothesis: every opt-out word in many forms, English and Hindi scores."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from cxcore import InboundRequest, ManualClock, NpsQuestion
from cxcore.distribution import TokenService
from cxcore.intake import Intake
from cxcore.replies import read_reply
from cxcore.stores import SQLiteStore
from cxcore.testing.twilio import ACCOUNT, TOKEN
from cxcore_channels.sms import (
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Keyword,
    SmsChannel,
    check_e164,
    keyword_of,
)

_SPACE = st.text(alphabet=" \t\r\n\u00a0", max_size=4)
NPS = NpsQuestion(id="ltr", text={"en": "Recommend us?", "hi": "सिफ़ारिश करेंगे?"})


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flags: "".join(
            c.upper() if f else c.lower() for c, f in zip(word, flags, strict=True)
        )
    )


@given(
    st.sampled_from(sorted(OPT_OUT_WORDS)).flatmap(_cased),
    _SPACE,
    _SPACE,
    st.sampled_from(["", ".", "!"]),
)
def test_every_opt_out_word_in_any_case_and_spacing_opts_out(word, before, after, end):
    """STOP, stop, " Stop. ", "\\tOPTOUT!": the whole message, any case, whitespace ignored."""
    assert keyword_of(f"{before}{word}{end}{after}") == (Keyword.OPT_OUT, word.upper())


@given(st.sampled_from(sorted(OPT_IN_WORDS | HELP_WORDS)).flatmap(_cased), _SPACE)
def test_opt_in_and_help_words(word, space):
    """START, YES, UNSTOP opt in; HELP, INFO ask for help."""
    kind = Keyword.OPT_IN if word.upper() in OPT_IN_WORDS else Keyword.HELP
    assert keyword_of(space + word + space) == (kind, word.upper())


@given(
    st.sampled_from(sorted(OPT_OUT_WORDS)),
    st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=10),
)
def test_a_keyword_inside_a_sentence_is_not_one(word, other):
    """ "stop sending" or "please stop" is a reply, not an opt-out: only the whole message counts."""
    assert keyword_of(f"{word} {other}") is None
    assert keyword_of(f"{other} {word}") is None


_DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_HI = ["शून्य", "एक", "दो", "तीन", "चार", "पाँच", "छह", "सात", "आठ", "नौ", "दस"]


@given(
    st.integers(0, 10),
    st.sampled_from(["ascii", "devanagari", "english", "hindi"]),
    st.sampled_from(["", "!", " great service", " बहुत अच्छा", ". thanks"]),
    _SPACE,
)
def test_scores_are_read_in_english_and_hindi(score, form, tail, space):
    """ "9", "९", "nine", "नौ", each with or without words after, read as the score."""
    word = {
        "ascii": str(score),
        "devanagari": str(score).translate(_DEVANAGARI),
        "english": _EN[score],
        "hindi": _HI[score],
    }[form]
    reading = read_reply(f"{space}{word}{tail}{space}", NPS)
    assert reading.value == score
    assert reading.rest == tail.strip(" !.")


@given(st.integers(11, 999))
def test_out_of_range_scores_are_not_taken(score):
    """A number beyond 10 is not an NPS answer."""
    assert read_reply(str(score), NPS).value is None


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_e164_numbers_pass(number):
    """Every E.164 number is taken as it is."""
    assert check_e164(number, "test") == number


_CHANNEL = SmsChannel(
    account_sid=ACCOUNT,
    auth_token=TOKEN,
    from_number="+15005550006",
    base_url="https://cx.bazaar.example.in/r",
    inbound_url="https://cx.bazaar.example.in/r/c/sms",
)


def _webhook(sid: str, number: str, body: str) -> InboundRequest:
    url = "https://cx.bazaar.example.in/r/c/sms"
    params = {"MessageSid": sid, "From": number, "To": "+15005550006", "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return InboundRequest(
        method="POST",
        url=url,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
        body=urlencode(params).encode(),
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(OPT_OUT_WORDS | OPT_IN_WORDS)).flatmap(_cased),
            st.integers(1, 4),  # how often the provider delivers the webhook
        ),
        min_size=1,
        max_size=5,
    )
)
def test_each_change_is_confirmed_once_however_often_its_webhook_comes(tmp_path_factory, steps):
    """Keywords in any form, each webhook delivered up to 4 times: one confirmation per change."""

    async def scenario(path: Path) -> tuple[list[str], list[str]]:
        clock = ManualClock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
        async with SQLiteStore(path, clock=clock) as store:
            intake = Intake(store, TokenService(["k" * 32], clock=clock), clock=clock)
            confirmations: list[str] = []
            expected: list[str] = []
            # Nothing is known of the number at first: its first keyword, either way, is
            # recorded (an opt-in grants consent in the ledger), and confirmed.
            opted_out: bool | None = None
            for n, (word, times) in enumerate(steps):
                out = word.upper() in OPT_OUT_WORDS
                if out != opted_out:
                    expected.append(_CHANNEL.texts.opt_out if out else _CHANNEL.texts.opt_in)
                    opted_out = out
                request = _webhook(f"SM{n:032x}", "+447700900123", f" {word} ")
                for _ in range(times):
                    events = _CHANNEL.parse_inbound(request)
                    results = await intake.receive("sms", events, key=f"SM{n:032x}")
                    reply = _CHANNEL.inbound_reply(request, results)
                    assert reply is not None
                    confirmations += re.findall(r"<Message>(.*?)</Message>", str(reply.body))
            suppressed = await store.suppression("+447700900123", "sms") is not None
            assert suppressed == bool(opted_out)
            return confirmations, expected

    folder = tmp_path_factory.mktemp("keywords")
    confirmations, expected = asyncio.run(scenario(folder / "cx.db"))
    assert confirmations == expected
