"""SMS length: GSM-7 and UCS-2 segment counts, the max-segments policy, authoring warnings, cost."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore import (
    EstimatedCost,
    NpsQuestion,
    SendError,
    Survey,
    TextQuestion,
    ValidationError,
)
from cxcore_channels.sms.cost import EXAMPLE_PRICES, PriceTable
from cxcore_channels.sms.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    Forcing,
    Segments,
    TooManySegmentsError,
    check_segments,
    check_survey_texts,
    count_segments,
    gsm7_lookalike,
    gsm7_units,
    is_gsm7,
    split_segments,
)

GSM_BASIC = sorted(GSM7_BASIC)
GSM_ALL = sorted(GSM7_BASIC | GSM7_EXTENSION)
gsm_texts = st.text(alphabet=st.sampled_from(GSM_ALL), max_size=700)
any_texts = st.text(max_size=500)
emoji = st.sampled_from(["😀", "👍", "🙏", "🎉", "🇮🇳"[0], "𝄞"])


def survey(title: str, *questions: str, **locales: str) -> Survey:
    """A survey whose title is *title* (with more locales given as keywords)."""
    return Survey(
        id="after_billing",
        title={"en": title, **locales},
        questions=[
            NpsQuestion(id="ltr", text={"en": questions[0] if questions else "How likely?"}),
            *(TextQuestion(id=f"q{i}", text={"en": t}) for i, t in enumerate(questions[1:])),
        ],
    )


class TestEdgeCases:
    def test_euro_80_is_one_segment_81_is_two(self):
        """'€' is in the extension table: 80 of them are 160 septets (one SMS), 81 are two."""
        assert count_segments("€" * 80) == count_segments("€" * 80)
        eighty = count_segments("€" * 80)
        assert (eighty.encoding, eighty.units, eighty.parts) == (Encoding.GSM7, 160, 1)
        eighty_one = count_segments("€" * 81)
        assert (eighty_one.encoding, eighty_one.units, eighty_one.parts) == (Encoding.GSM7, 162, 2)

    def test_35_emoji_is_one_segment_36_is_two(self):
        """An emoji is a surrogate pair, two UTF-16 units: 35 fill 70, 36 need a second part."""
        one = count_segments("😀" * 35)
        assert (one.encoding, one.units, one.parts) == (Encoding.UCS2, 70, 1)
        two = count_segments("😀" * 36)
        assert (two.encoding, two.units, two.parts) == (Encoding.UCS2, 72, 2)

    def test_lower_c_cedilla_forces_ucs2_capital_does_not(self):
        """'Ç' is in the GSM-7 alphabet, 'ç' is not: it forces UCS-2 and is named with its place."""
        capital = count_segments("Ça va")
        assert capital.encoding is Encoding.GSM7
        assert capital.forced_by == ()
        small = count_segments("Merci, ça va")
        assert small.encoding is Encoding.UCS2
        assert small.forced_by == (Forcing(7, "ç"),)
        assert small.forced_by[0].name == "LATIN SMALL LETTER C WITH CEDILLA"
        assert small.forcing_chars == ("ç",)

    @pytest.mark.parametrize(
        ("text", "parts"),
        [
            ("", 0),
            ("x", 1),
            ("x" * 160, 1),
            ("x" * 161, 2),
            ("x" * 306, 2),
            ("x" * 307, 3),
            ("ç" * 70, 1),
            ("ç" * 71, 2),
            ("ç" * 134, 2),
            ("ç" * 135, 3),
        ],
    )
    def test_the_limits_of_one_and_of_each_part(self, text, parts):
        """160 / 153 septets and 70 / 67 UTF-16 units: the counts at each boundary."""
        assert count_segments(text).parts == parts

    def test_an_escape_is_never_split_from_its_character(self):
        """152 plain septets then '€': the escape would be septet 153, so '€' starts part two."""
        text = "x" * 152 + "€" + "y" * 10
        parts = split_segments(text)
        assert parts == ("x" * 152, "€" + "y" * 10)
        assert count_segments(text).parts == 2

    def test_the_unsplit_escape_can_cost_a_part(self):
        """Three parts' room (459) holds 153 '€' only if escapes could split: they cannot."""
        text = "x" + "€" * 229  # 459 septets, but each part holds 76 '€' after one 'x'
        seg = count_segments(text)
        assert seg.units == 459
        assert seg.parts == 4
        assert [gsm7_units(p) for p in split_segments(text)] == [153, 152, 152, 2]

    def test_a_surrogate_pair_is_never_split(self):
        """66 units then an emoji: the pair would straddle parts one and two, so it moves."""
        text = "ç" * 66 + "😀" + "ç" * 10
        parts = split_segments(text)
        assert parts == ("ç" * 66, "😀" + "ç" * 10)

    def test_form_feed_and_every_extension_character_count_twice(self):
        """Form feed, ^ { } \\ [ ~ ] | and € are two septets each."""
        assert gsm7_units("\f^{}\\[~]|€") == 20
        assert count_segments("\f^{}\\[~]|€").encoding is Encoding.GSM7

    def test_gsm7_units_refuses_a_character_outside_gsm7_and_names_it(self):
        """gsm7_units says which character is not GSM-7, and where."""
        with pytest.raises(
            ValueError, match=r"'ç' \(LATIN SMALL LETTER C WITH CEDILLA\) at position 3"
        ):
            gsm7_units("Ça ç")

    def test_describe_and_limit(self):
        """describe() says parts, encoding and units; limit is the room before another part."""
        seg = count_segments("ç" * 71)
        assert seg.describe() == "2 segments of UCS-2 (71 UTF-16 units)"
        assert seg.limit == 134
        assert count_segments("hi").describe() == "1 segment of GSM-7 (2 septets)"
        assert count_segments("hi").limit == 160


class TestProperties:
    @given(gsm_texts)
    def test_pure_gsm_text_never_reports_ucs2(self, text):
        """Text drawn from the GSM-7 alphabet and its extension is GSM-7, forced by nothing."""
        seg = count_segments(text)
        assert seg.encoding is Encoding.GSM7
        assert seg.forced_by == ()
        assert seg.units == gsm7_units(text)

    @given(any_texts, any_texts)
    def test_parts_are_monotone_in_length(self, text, more):
        """Adding text never makes a message fewer parts."""
        assert count_segments(text).parts <= count_segments(text + more).parts

    @given(st.text(alphabet=st.sampled_from(GSM_BASIC), max_size=700))
    def test_basic_gsm_parts_follow_the_formula(self, text):
        """Without extension characters, parts are 1 up to 160, then ceil(n / 153)."""
        n = len(text)
        expected = 0 if n == 0 else 1 if n <= 160 else -(-n // 153)
        assert count_segments(text).parts == expected

    @given(any_texts)
    def test_forced_by_is_exactly_the_characters_outside_gsm7(self, text):
        """forced_by lists every character that is not GSM-7, with its position, in order."""
        seg = count_segments(text)
        assert [(f.position, f.char) for f in seg.forced_by] == [
            (i, c) for i, c in enumerate(text) if not is_gsm7(c)
        ]
        assert (seg.encoding is Encoding.UCS2) == bool(seg.forced_by)

    @given(any_texts)
    def test_ucs2_units_are_utf16_code_units(self, text):
        """A UCS-2 text's units are its UTF-16 length."""
        seg = count_segments(text + "ç")
        assert seg.units == len((text + "ç").encode("utf-16-le")) // 2

    @given(st.one_of(gsm_texts, any_texts, st.lists(emoji, max_size=120).map("".join)))
    def test_split_parts_join_back_and_each_fits(self, text):
        """The parts join back to the text, there are as many as counted, and each fits its room."""
        seg = count_segments(text)
        parts = split_segments(text)
        assert "".join(parts) == text
        assert len(parts) == seg.parts
        room = seg.encoding.single if seg.parts == 1 else seg.encoding.per_part
        for part in parts:
            units = (
                gsm7_units(part)
                if seg.encoding is Encoding.GSM7
                else len(part.encode("utf-16-le")) // 2
            )
            assert units <= room


class TestPolicy:
    def test_over_the_limit_is_refused_naming_count_limit_and_encoding(self):
        """A text over max_segments is refused: the count, the limit, the encoding and the culprit."""
        with pytest.raises(TooManySegmentsError) as caught:
            check_segments("Thanks! " + "ç" * 70, 1, field="channels.sms.max_segments")
        message = str(caught.value)
        assert "2 segments of UCS-2 (78 UTF-16 units)" in message
        assert "over the limit of 1 (channels.sms.max_segments = 1)" in message
        assert "'ç' (LATIN SMALL LETTER C WITH CEDILLA) at position 8" in message
        assert caught.value.segments.parts == 2
        assert caught.value.max_segments == 1

    def test_the_refusal_is_a_final_send_error(self):
        """The dispatcher ends such a send 'failed': not retryable, not ambiguous, no suppression."""
        with pytest.raises(SendError) as caught:
            check_segments("x" * 400, 2)
        assert not caught.value.retryable
        assert not caught.value.ambiguous
        assert not caught.value.suppress
        assert isinstance(caught.value, ValueError)
        assert "3 segments of GSM-7 (400 septets), over the limit of 2" in str(caught.value)

    def test_at_the_limit_and_without_a_limit_it_passes(self):
        """Exactly max_segments parts is allowed; None means no limit."""
        assert check_segments("x" * 306, 2).parts == 2
        assert check_segments("x" * 5000, None).parts == 33

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
    def test_a_bad_limit_is_refused_naming_the_setting(self, bad):
        """max_segments must be a whole number of 1 or more; the message names the setting."""
        with pytest.raises(ValueError, match=r"^sms\.max_segments: .* is not a whole number"):
            check_segments("hi", bad, field="sms.max_segments")


class TestAuthoringWarnings:
    def test_a_stray_character_is_named_with_path_position_and_cost(self):
        """One curly apostrophe in an otherwise GSM-7 question: named, placed, with a stand-in."""
        text = (
            "How likely are you to recommend Bazaar to a friend? We\u2019d love to know " + "x" * 70
        )
        (problem,) = check_survey_texts(survey("Your visit", text))
        assert problem.path == "questions[0].text.en"
        assert "'\u2019' (RIGHT SINGLE QUOTATION MARK) at position 54" in problem.message
        assert '(write "\'" instead)' in problem.message
        assert "forces UCS-2: 3 segments of UCS-2 (140 UTF-16 units)" in problem.message
        assert "instead of 1 segment of GSM-7 (140 septets)" in problem.message

    def test_a_single_part_text_says_how_much_room_it_lost(self):
        """A text that stays one part either way is still reported: it lost room."""
        (problem,) = check_survey_texts(survey("Merci, ça va?"))
        assert problem.path == "title.en"
        assert "'ç' (LATIN SMALL LETTER C WITH CEDILLA) at position 7 (write 'c' instead)" in (
            problem.message
        )
        assert "room for 57 more units instead of 147 in GSM-7" in problem.message

    def test_every_stray_character_is_named_once(self):
        """Several characters: each named at its first position."""
        (problem,) = check_survey_texts(survey("\u201cGreat\u201d \u2013 really\u2026"))
        for named in ("'\u201c'", "'\u201d'", "'\u2013'", "'\u2026'"):
            assert problem.message.count(named) == 1
        assert problem.message.index("'\u201c'") < problem.message.index("'\u2026'")
        assert " force UCS-2" in problem.message

    def test_a_text_in_another_script_is_not_reported(self):
        """Hindi in Devanagari is UCS-2 by nature: no warning, while the English text gets one."""
        problems = check_survey_texts(survey("Your visit 👍", hi="आपकी यात्रा"))
        assert [p.path for p in problems] == ["title.en"]

    def test_a_gsm7_survey_has_no_warnings(self):
        """Plain GSM-7 texts, even with extension characters and Ç, give nothing."""
        assert check_survey_texts(survey("Your visit [Bazaar] €", "Ça va? {0-10}", "Why?")) == []

    def test_every_text_of_the_survey_is_reviewed(self):
        """Title, intro, thanks, question text, help and labels, in every locale."""
        s = Survey(
            id="s",
            title={"en": "Title"},
            intro={"en": "Intro \u2019"},
            thanks={"en": "Thanks \u2019"},
            questions=[
                NpsQuestion(
                    id="ltr",
                    text={"en": "Q \u2019", "fr": "Q ç"},
                    help={"en": "Help \u2019"},
                    low_label={"en": "Low \u2019"},
                ),
            ],
        )
        assert [p.path for p in check_survey_texts(s)] == [
            "intro.en",
            "thanks.en",
            "questions[0].text.en",
            "questions[0].text.fr",
            "questions[0].help.en",
            "questions[0].low_label.en",
        ]

    @pytest.mark.parametrize(
        ("char", "stand_in"),
        [
            ("\u2019", "'"),
            ("\u201c", '"'),
            ("\u2014", "-"),
            ("\u2026", "..."),
            ("\u00a0", " "),
            ("ç", "c"),
            ("ō", "o"),
            ("é", "é"),
            ("\u20b9", "Rs."),
            ("😀", None),
            ("न", None),
        ],
    )
    def test_lookalikes(self, char, stand_in):
        """The GSM-7 stand-in for a character, where there is one."""
        assert gsm7_lookalike(char) == stand_in


def estimate(table: PriceTable, to: str, text: str | Segments) -> EstimatedCost:
    """The estimate, which these tests expect to exist."""
    cost = table.estimate(to, text)
    assert cost is not None
    return cost


class TestCost:
    def test_price_by_longest_prefix_times_segments(self):
        """The longest matching prefix sets the price; the amount is parts times price."""
        table = PriceTable("INR", {"+91": "0.25", "+9180": "0.20"}, default="2")
        cost = estimate(table, "+918012345678", "x" * 200)
        assert cost == EstimatedCost(Decimal("0.40"), "INR", detail=cost.detail)
        assert cost.detail == "2 segments of GSM-7 x 0.20 INR (+9180)"
        assert estimate(table, "+919876543210", "hi").amount == Decimal("0.25")
        assert (
            estimate(table, "+14155550100", "hi").detail == "1 segment of GSM-7 x 2 INR (default)"
        )
        assert estimate(table, "whatsapp:+919876543210", "hi").amount == Decimal("0.25")

    def test_an_unpriced_destination_has_no_estimate(self):
        """Without a default, a number no prefix matches has no estimate rather than a wrong one."""
        table = PriceTable("USD", {"+1": "0.0083"})
        assert table.price("+447700900123") is None
        assert table.estimate("+447700900123", "hi") is None

    def test_a_count_can_be_given_instead_of_text(self):
        """estimate() takes the count it already has."""
        seg = count_segments("😀" * 36)
        assert estimate(EXAMPLE_PRICES, "+919876543210", seg).amount == Decimal("0.1600")

    def test_the_example_table_says_it_is_an_example(self):
        """EXAMPLE_PRICES carries its own label: made-up figures."""
        assert EXAMPLE_PRICES.source is not None
        assert EXAMPLE_PRICES.source.startswith("EXAMPLE ONLY")

    def test_bad_tables_list_every_problem(self):
        """Currency, prefixes, prices and default are all checked, each problem named."""
        with pytest.raises(ValidationError) as caught:
            PriceTable("usd", {"91": "0.1", "+44": "cheap", "+1": 0.0083}, default="-1")  # type: ignore[dict-item]
        paths = [p.path for p in caught.value.problems]
        assert paths == [
            "currency",
            "per_segment['91']",
            "per_segment['+44']",
            "per_segment['+1']",
            "default",
        ]
        assert "'cheap' is not a price" in str(caught.value)

    @given(st.text(alphabet=st.sampled_from([*GSM_ALL, "ç", "😀"]), max_size=600))
    def test_cost_is_parts_times_price(self, text):
        """For any text, the estimate is its parts times the price per segment."""
        assert estimate(EXAMPLE_PRICES, "+919876543210", text).amount == count_segments(
            text
        ).parts * Decimal("0.0800")


class TestBenchmark:
    def test_the_benchmark_runs_quick_and_prints_a_line_per_case(self):
        """bench_sms_text --quick checks ours against its baseline and prints one JSON line per case."""
        root = Path(__file__).parent.parent
        run = subprocess.run(
            [sys.executable, str(root / "benchmarks" / "bench_sms_text.py"), "--quick"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd=root,
        )
        assert run.returncode == 0, run.stderr
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        assert [line["case"] for line in lines] == [
            "count_segments",
            "DLT template match (3 slots)",
        ]
        for line in lines:
            assert line["bench"] == "sms_text"
            assert line["texts"] == 200
            assert line["per_second"] > 0
            assert line["ratio"] > 0
            assert line["baseline"]
