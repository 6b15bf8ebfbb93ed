"""Keywords and replies by SMS, driven by Hypothesis: every opt-out word in many forms, English and Hindi scores."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cxcore import NpsQuestion
from cxcore.replies import read_reply
from cxcore_channels.sms import (
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Keyword,
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
