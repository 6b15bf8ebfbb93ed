"""India's DLT rules: +91 sends need a registration, and text that is an instance of a template."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cxcore import SendError, ValidationError
from cxcore_channels.sms.dlt import (
    DLT_MAX_SLOT_LENGTH,
    DLT_SLOT,
    DltApproval,
    DltError,
    DltMismatchError,
    DltRegistration,
    DltTemplate,
    check_dlt,
    requires_dlt,
)

PE_ID = "1201159876543210987"
VISIT = DltTemplate(
    "1207161234567890123", "Dear {#var#}, thank you for shopping at Bazaar. Rate us: {#var#}"
)
OTP = DltTemplate("1207169999999999999", "Your Bazaar code is {#var#}. Valid for {#var#} minutes.")
REGISTRATION = DltRegistration(PE_ID, "bzaarr", [VISIT, OTP])

slot_values = st.text(max_size=DLT_MAX_SLOT_LENGTH)
fixed_text = st.text(alphabet=st.characters(exclude_characters="{}#", codec="utf-8"), max_size=25)


@st.composite
def templates(draw: st.DrawFn) -> DltTemplate:
    """A template of 0 to 4 slots between pieces of fixed text (slots may be side by side)."""
    pieces = draw(st.lists(fixed_text, min_size=1, max_size=5))
    text = DLT_SLOT.join(pieces)
    assume(text.strip())
    assume(re.findall(r"\{#(.*?)#\}", text) == ["var"] * (len(pieces) - 1))  # no stray {#...#}
    return DltTemplate("1207000000000000001", text)


class TestMatching:
    def test_an_instance_gives_its_slot_values(self):
        """A text that fills the slots matches, and gives what each slot holds."""
        text = "Dear Asha, thank you for shopping at Bazaar. Rate us: https://bz.in/s/x"
        assert VISIT.match(text) == ("Asha", "https://bz.in/s/x")
        assert VISIT.matches(text)

    def test_a_changed_word_is_refused_showing_the_difference(self):
        """One word changed: the error draws template and text with a caret under each difference."""
        text = "Dear Asha, thanks for shopping at Bazaar. Rate us: https://bz.in/s/x"
        with pytest.raises(DltMismatchError) as caught:
            VISIT.match(text)
        assert str(caught.value) == (
            "the text is not an instance of DLT template 1207161234567890123:\n"
            "  template: Dear {#var#}, thank you for shopping at Bazaar. Rate us\u2026\n"
            "                               ^\n"
            "  text:     Dear Asha, thanks for shopping at Bazaar. Rate us: h\u2026\n"
            "                            ^\n"
            "  at text position 16 (template position 19):\n"
            "  expected ' you for shopping at', found 's for shopping at Ba'"
        )
        error = caught.value
        assert (error.position, error.template_position) == (16, 19)
        assert text[error.position] == "s"
        assert VISIT.text[error.template_position] == " "

    def test_an_overlong_slot_is_refused_naming_the_limit(self):
        """A name of 31 characters does not fit a {#var#}: the error says so, and where."""
        name = "A" * 31
        text = f"Dear {name}, thank you for shopping at Bazaar. Rate us: x"
        with pytest.raises(DltMismatchError) as caught:
            VISIT.match(text)
        message = str(caught.value)
        assert "at text position 35 (template position 12)" in message
        assert "slot 1 holds at most 30 characters; it would hold 31" in message
        assert VISIT.matches(f"Dear {'A' * 30}, thank you for shopping at Bazaar. Rate us: x")

    def test_text_after_the_end_is_refused(self):
        """Extra words after the template's last fixed text: expected the end, found them."""
        with pytest.raises(DltMismatchError) as caught:
            OTP.match("Your Bazaar code is 4821. Valid for 10 minutes. Do not share it.")
        assert caught.value.expected == "the end of the text"
        assert caught.value.found == "' Do not share it.'"
        assert caught.value.position == 47

    def test_a_text_cut_short_is_refused(self):
        """A text that stops early: found the end of the text, expected what the template has."""
        with pytest.raises(DltMismatchError) as caught:
            OTP.match("Your Bazaar code is 4821. Valid for 10")
        assert caught.value.found == "the end of the text"
        assert caught.value.expected == "' minutes.'"

    def test_a_different_opening_is_refused_at_position_zero(self):
        """Nothing in common: the difference is at the very start."""
        with pytest.raises(DltMismatchError) as caught:
            VISIT.match("Hi Asha")
        assert (caught.value.position, caught.value.expected) == (0, "'Dear '")

    def test_the_caret_goes_where_one_character_was_changed(self):
        """After a slot, the difference shown is where the text goes on like the template."""
        template = DltTemplate("1", "Hi {#var#}, welcome to Bazaar")
        with pytest.raises(DltMismatchError) as caught:
            template.match("Hi Asha; welcome to Bazaar")
        assert caught.value.position == 7
        assert caught.value.found == "'; welcome to Bazaar'"

    def test_a_line_break_is_drawn_visibly(self):
        """A line break in the text is drawn as a symbol, so the picture stays on one line."""
        with pytest.raises(DltMismatchError) as caught:
            OTP.match("Your Bazaar code is 4821.\nValid for 10 minutes.")
        assert "4821.\u21b5Valid" in str(caught.value)

    def test_a_hindi_template_is_matched_and_its_marks_take_no_column(self):
        """Templates in Devanagari match like any other; the caret skips marks drawn on letters."""
        template = DltTemplate(
            "1207161234567890124", "प्रिय {#var#}, बाज़ार में आने के लिए धन्यवाद। {#var#}"
        )
        assert template.match("प्रिय आशा, बाज़ार में आने के लिए धन्यवाद। https://bz.in/s/x") == (
            "आशा",
            "https://bz.in/s/x",
        )
        with pytest.raises(DltMismatchError) as caught:
            template.match("प्रिय आशा, बाजार में आने के लिए धन्यवाद। https://bz.in/s/x")
        error = caught.value
        assert error.text[error.position] == "\u093e"  # the nukta of 'ज़' is missing before it
        assert error.template.text[error.template_position] == "\u093c"
        lines = str(error).splitlines()
        # A virama (a mark drawn on its letter) takes no column: the caret is one left of
        # where counting characters would put it.
        assert lines[4].index("^") - 12 == error.position - 1

    def test_a_long_text_is_shown_around_the_difference(self):
        """Far into a long text, the picture is a window around the difference, with ellipses."""
        long = DltTemplate("1", "A" * 200 + " {#var#} " + "B" * 200)
        text = "A" * 200 + " x " + "B" * 150 + "C" + "B" * 49
        with pytest.raises(DltMismatchError) as caught:
            long.match(text)
        lines = str(caught.value).splitlines()
        assert lines[3].startswith("  text:     \u2026B")
        assert lines[4].index("^") == lines[3].index("C")

    def test_a_template_without_slots_is_matched_exactly(self):
        """Static content is an instance only of itself."""
        static = DltTemplate("42", "Bazaar is closed on Sunday.")
        assert static.match("Bazaar is closed on Sunday.") == ()
        with pytest.raises(DltMismatchError, match="expected the end of the text"):
            static.match("Bazaar is closed on Sunday. Sorry!")

    @given(templates(), st.data())
    def test_filling_the_slots_always_matches(self, template, data):
        """Round trip: any values of at most 30 characters, filled in, are an instance."""
        values = data.draw(st.lists(slot_values, min_size=template.slots, max_size=template.slots))
        text = template.fill(*values)
        found = template.match(text)
        assert len(found) == template.slots
        assert template.fill(*found) == text

    @given(templates(), st.data())
    def test_a_changed_fixed_character_never_matches_when_slots_are_empty(self, template, data):
        """Empty slots, and one fixed character changed: not an instance, and the position is shown."""
        text = template.fill(*([""] * template.slots))
        assume(text)
        i = data.draw(st.integers(0, len(text) - 1))
        changed = text[:i] + ("#" if text[i] != "#" else "{") + text[i + 1 :]
        assume(not template.matches(changed))  # a slot may still absorb it
        with pytest.raises(DltMismatchError) as caught:
            template.match(changed)
        assert 0 <= caught.value.position <= len(changed)
        assert 0 <= caught.value.template_position <= len(template.text)

    @given(templates(), st.data())
    def test_the_matcher_agrees_with_a_regular_expression(self, template, data):
        """Against an independent oracle (re, each slot .{0,30}): the same texts match."""
        pattern = [re.escape(template.literals[0])]
        for literal in template.literals[1:]:
            pattern += [f"(.{{0,{DLT_MAX_SLOT_LENGTH}}})", re.escape(literal)]
        oracle = re.compile("".join(pattern), re.DOTALL)
        values = data.draw(
            st.lists(st.text(max_size=34), min_size=template.slots, max_size=template.slots)
        )
        pieces = [template.literals[0]]
        for value, literal in zip(values, template.literals[1:], strict=True):
            pieces += [value, literal]
        text = "".join(pieces)
        if text and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(text) - 1))
            text = text[:i] + data.draw(st.text(max_size=2)) + text[i + 1 :]
        assert template.matches(text) == bool(oracle.fullmatch(text))

    @given(templates(), st.data())
    def test_no_text_longer_than_the_template_allows_matches(self, template, data):
        """More characters than the fixed text plus 30 per slot can never be an instance."""
        fixed = sum(map(len, template.literals))
        room = fixed + template.slots * DLT_MAX_SLOT_LENGTH
        text = data.draw(st.text(min_size=room + 1, max_size=room + 5))
        assert not template.matches(text)


class TestTemplates:
    def test_fill_refuses_the_wrong_count_and_an_overlong_value(self):
        """fill() needs one value per slot, each of at most 30 characters."""
        with pytest.raises(DltError, match="has 2 slot\\(s\\), given 1 value"):
            VISIT.fill("Asha")
        with pytest.raises(DltError, match="slot 2 holds at most 30 characters, given 31"):
            VISIT.fill("Asha", "x" * 31)

    def test_bad_templates_list_every_problem(self):
        """An id that is not digits and a slot that is not {#var#} are both named."""
        with pytest.raises(ValidationError) as caught:
            DltTemplate("T-1", "Hi {#name#}, rate us: {#url#}")
        assert [p.path for p in caught.value.problems] == ["template_id", "text", "text"]
        assert "'{#name#}' at position 3 is not a DLT slot" in str(caught.value)

    def test_braces_and_hashes_in_the_fixed_text_are_text(self):
        """'#' and '{' outside a {#var#} are fixed text like any other."""
        order = DltTemplate("5", "Order #{#var#} {ready}: collect at {#var#} #Bazaar")
        assert order.slots == 2
        assert order.match("Order #4521 {ready}: collect at Andheri #Bazaar") == ("4521", "Andheri")

    def test_a_slot_limit_of_your_own(self):
        """max_slot_length changes the room of every slot."""
        short = DltTemplate("7", "Code {#var#}", max_slot_length=4)
        assert short.matches("Code 1234")
        assert not short.matches("Code 12345")


class TestRegistration:
    def test_a_registration_checks_its_fields(self):
        """The entity id is digits; the header six letters or six digits; template ids unique."""
        with pytest.raises(ValidationError) as caught:
            DltRegistration("PE-1", "BZR", [VISIT, VISIT])
        assert [p.path for p in caught.value.problems] == [
            "entity_id",
            "header",
            "templates[1].template_id",
        ]
        assert DltRegistration(PE_ID, "123456").header == "123456"
        assert REGISTRATION.header == "BZAARR"

    def test_templates_can_be_given_as_a_mapping(self):
        """{template id: text}, as a configuration file has them."""
        registration = DltRegistration(PE_ID, "BZAARR", {"1207161234567890123": VISIT.text})
        assert registration.templates == (VISIT,)

    def test_approve_finds_the_template_the_text_is_an_instance_of(self):
        """Without a template id, the registered template the text fits is found."""
        approval = REGISTRATION.approve("Your Bazaar code is 4821. Valid for 10 minutes.")
        assert approval == DltApproval(
            entity_id=PE_ID, header="BZAARR", template_id=OTP.template_id, values=("4821", "10")
        )

    def test_approve_with_an_id_uses_that_template_only(self):
        """With a template id, only that template counts."""
        with pytest.raises(DltMismatchError, match=VISIT.template_id):
            REGISTRATION.approve(
                "Your Bazaar code is 4821. Valid for 10 minutes.", VISIT.template_id
            )

    def test_an_unknown_template_id_lists_the_registered_ones(self):
        """A template id that is not registered: the error lists those that are."""
        with pytest.raises(
            DltError, match="'1' is not registered \\(registered: 1207161234567890123, "
        ):
            REGISTRATION.approve("hi", "1")

    def test_no_template_fits_shows_the_closest(self):
        """Of several templates, the one the text follows furthest is the one shown."""
        with pytest.raises(DltMismatchError) as caught:
            REGISTRATION.approve("Your Bazaar code is 4821. Valid for ten mins.")
        assert caught.value.template is OTP


class TestCheckDlt:
    def test_numbers_outside_india_need_nothing(self):
        """A +1 or +44 number, or a WhatsApp address, is not checked."""
        assert check_dlt("+14155550100", "anything", None) is None
        assert check_dlt("whatsapp:+919876543210", "anything", None) is None
        assert not requires_dlt("+4420")
        assert requires_dlt("+919876543210")

    def test_a_plus_91_number_without_a_registration_is_refused(self):
        """A +91 number needs the entity id, the header and a template: the error names all three."""
        with pytest.raises(DltError) as caught:
            check_dlt("+919876543210", "hello", None)
        message = str(caught.value)
        for needed in ("DLT entity id", "sender header", "template id"):
            assert needed in message

    def test_a_plus_91_number_with_a_registered_text_is_approved(self):
        """The approval carries what the provider needs: entity id, header, template id."""
        approval = check_dlt(
            "+919876543210",
            VISIT.fill("Asha", "https://bz.in/s/x"),
            REGISTRATION,
            VISIT.template_id,
        )
        assert approval is not None
        assert (approval.entity_id, approval.header, approval.template_id) == (
            PE_ID,
            "BZAARR",
            VISIT.template_id,
        )

    def test_a_refusal_is_a_final_send_error(self):
        """The dispatcher ends the send 'failed': it is never retried, nor the address suppressed."""
        with pytest.raises(SendError) as caught:
            check_dlt("+919876543210", "Rate us!", REGISTRATION)
        assert isinstance(caught.value, DltMismatchError)
        assert not caught.value.retryable
        assert not caught.value.ambiguous
        assert not caught.value.suppress
