"""Rendering and building survey emails: templates, the sandbox, MIME, DKIM."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore import CxError, OutboundMessage, Survey, get_metric
from cxcore.testing import sample_invitation, sample_surveys
from cxcore_channels.email import (
    DkimSigner,
    EmailChannel,
    EmailTemplateError,
    EmailTemplates,
    Mailbox,
    build_message,
)

DATE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def channel(**kwargs: Any) -> EmailChannel:
    return EmailChannel(
        base_url="https://cx.example.in/r", sender="surveys@example.in", tls="none", **kwargs
    )


def surveys() -> dict[str, Survey]:
    return {s.id: s for s in sample_surveys()}


def render(survey_id: str = "sample_nps", locale: str = "en", **kwargs: Any) -> OutboundMessage:
    survey = surveys()[survey_id]
    invitation = sample_invitation(survey, channel="email", locale=locale, **kwargs)
    return channel().render(invitation, survey)


class TestDefaultTemplates:
    def test_nps_has_eleven_one_click_scores_in_every_part(self):
        """NPS: 0 to 10, each a link with its score, with the metric's end labels."""
        message = render()
        for media_type in ("text/plain", "text/html"):
            body = message.parts[media_type]
            assert re.findall(r"q\.ltr=(\d+)", body) == [str(v) for v in range(11)], media_type
        assert "Not at all likely" in message.parts["text/plain"]
        assert "Extremely likely" in message.parts["text/html"]

    def test_emoji_rating_reads_glyphs_and_labels_from_the_metric_registry(self):
        """The emoji rating shows the registry's symbols and Hindi labels; links carry levels."""
        message = render("sample_rating", locale="hi")
        metric = get_metric("rating")
        html = message.parts["text/html"]
        for level in range(1, 6):
            assert metric.symbols[level] in html
            assert str(metric.label(level, "hi")) in html
        assert re.findall(r"q\.mood=(\d)", html) == ["1", "2", "3", "4", "5"]
        assert "😄" not in re.findall(r"q\.mood=([^\"&\s]+)", html)

    def test_csat_stars_and_ces_labels(self):
        """CSAT shown as stars; CES lists its seven agreement labels in Hindi."""
        html = render("sample_csat").parts["text/html"]
        assert "★★★★★" in html
        ces = render("sample_ces", locale="hi").parts["text/plain"]
        for level in range(1, 8):
            assert str(get_metric("ces").label(level, "hi")) in ces

    def test_hindi_words_and_subject(self):
        """Hindi invitations get Hindi words throughout and a Hindi subject."""
        message = render(locale="hi")
        assert message.subject == "हम कैसा कर रहे हैं?"
        assert "नमस्ते Asha," in message.parts["text/plain"]
        assert "सदस्यता छोड़ें" in message.parts["text/html"]
        assert 'lang="hi"' in message.parts["text/x-amp-html"]

    def test_display_logic_hides_follow_ups_and_links_to_the_page(self):
        """Questions shown only after an answer are left to the survey page, which is linked."""
        text = render("sample_mixed").parts["text/plain"]
        assert "q.issue" not in text
        assert "Continue in your browser: https://cx.example.in/r/s/tok.sample.0001" in text

    def test_render_is_deterministic(self):
        """The same invitation renders to equal messages, AMP included."""
        assert render("sample_csat", locale="hi") == render("sample_csat", locale="hi")


class TestSafety:
    HOSTILE = 'Asha <script>alert("x")</script>\r\nBcc: victim@example.com'

    def test_hostile_name_is_escaped_and_one_line(self):
        """A name with markup is escaped in HTML and AMP, and has no line break in any part."""
        message = render(name=self.HOSTILE)
        for media_type in ("text/html", "text/x-amp-html"):
            body = message.parts[media_type]
            assert "<script>" not in body
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Bcc: victim@example.com" in body
        first = message.parts["text/plain"].splitlines()[0]
        assert first == 'Hello Asha <script>alert("x")</script> Bcc: victim@example.com,'

    def test_invisible_direction_overrides_are_removed_from_names(self):
        """A right-to-left override in a name cannot reorder what the reader sees."""
        message = render(name="Asha\u202egnp.exe")
        assert "\u202e" not in message.parts["text/plain"]

    @pytest.mark.parametrize(
        "source",
        [
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "{{ t.__class__ }}",
            "{{ cycler.__init__.__globals__ }}",
            "{{ range.__globals__ }}",
            "{% for i in range(10**9) %}x{% endfor %}",
            "{{ range(100000) | list }}",
            "{{ 'x' * 100000000 }}",
            "{{ 9 ** 999999 }}",
            "{% for a in range(999) %}{% for b in range(999) %}xx{% endfor %}{% endfor %}",
            "{{ t.update({'hello': 'pwned'}) }}",
            "{{ questions.append(1) }}",
            "{{ undefined_name }}",
            "{{ 1 / 0 }}",
        ],
    )
    def test_sandbox_escapes_raise_our_template_error(self, source):
        """Reaching for internals, huge ranges or outputs, or mutating data: EmailTemplateError."""
        templates = attrs.evolve(EmailTemplates.default(), html=source)
        survey = surveys()["sample_nps"]
        ch = channel(templates=templates)
        with pytest.raises(EmailTemplateError) as caught:
            ch.render(sample_invitation(survey, channel="email"), survey)
        assert isinstance(caught.value, CxError)
        assert caught.value.template == "html"
        assert "email template 'html'" in str(caught.value)

    def test_syntax_errors_are_reported_when_the_channel_is_made(self):
        """A broken template fails at configuration, naming the template and the line."""
        templates = attrs.evolve(EmailTemplates.default(), subject="Hi {{ name ")
        with pytest.raises(EmailTemplateError, match=r"'subject'.*TemplateSyntaxError"):
            channel(templates=templates)

    def test_subject_template_output_is_one_line(self):
        """Whatever a subject template produces, the subject is one line."""
        templates = attrs.evolve(
            EmailTemplates.default(), subject="{{ name }}\r\n\n{{ survey.title }}\u2028!"
        )
        survey = surveys()["sample_nps"]
        invitation = sample_invitation(survey, channel="email", name="Asha\nBcc: x@example.com")
        message = channel(templates=templates).render(invitation, survey)
        assert message.subject == "Asha Bcc: x@example.com How are we doing? !"

    def test_amp_templates_keep_mustache_in_raw_blocks(self):
        """A mustache tag outside a raw block is a Jinja expression: a missing name fails loudly."""
        templates = attrs.evolve(EmailTemplates.default(), amp="<p>{{message}}</p>")
        survey = surveys()["sample_nps"]
        with pytest.raises(EmailTemplateError, match=r"'amp'.*message"):
            channel(templates=templates).render(sample_invitation(survey, channel="email"), survey)


def _parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def _message(
    subject: str, parts: Mapping[str, str] | None = None, **headers: str
) -> OutboundMessage:
    return OutboundMessage(
        invitation_id="inv-1",
        channel="email",
        to="asha@example.in",
        subject=subject,
        parts=parts or {"text/plain": "hello\n", "text/html": "<p>hello</p>\n"},
        headers={"Message-ID": "<inv-1.0@example.in>", **headers},
    )


class TestMime:
    @given(subject=st.text(max_size=300), name=st.text(max_size=80))
    def test_no_input_adds_a_header(self, subject, name):
        """Whatever the subject and sender name, the headers are exactly the ones written."""
        data = build_message(_message(subject), sender=Mailbox("s@example.in", name), date=DATE)
        head = data.split(b"\r\n\r\n", 1)[0]
        assert head.isascii()
        names = [
            line.split(b":", 1)[0].lower()
            for line in head.split(b"\r\n")
            if not line.startswith((b" ", b"\t"))
        ]
        assert names == [
            b"from",
            b"to",
            b"subject",
            b"date",
            b"message-id",
            b"mime-version",
            b"content-type",
        ]
        assert all(len(line) <= 78 for line in head.split(b"\r\n"))
        parsed = _parse(data)
        assert str(parsed["Subject"]) == " ".join(
            subject.translate(dict.fromkeys([*range(32), 127, 133, 8232, 8233], " ")).split()
        )

    def test_hindi_bodies_and_long_lines(self):
        """Hindi text is base64 or quoted-printable, long lines are wrapped, and all decodes back."""
        hindi = "नमस्ते " * 200 + "\n"
        long_ascii = "x" * 500 + " =_cx_ trap\n"
        data = build_message(
            _message("नमस्ते", {"text/plain": hindi, "text/html": long_ascii}),
            sender=Mailbox("s@example.in", "बाज़ार"),
            date=DATE,
        )
        assert data.isascii()
        assert all(len(line) <= 78 for line in data.split(b"\r\n"))
        parsed = _parse(data)
        plain, html = parsed.iter_parts()
        assert plain["Content-Transfer-Encoding"] == "base64"
        assert html["Content-Transfer-Encoding"] == "quoted-printable"
        assert plain.get_content().replace("\r\n", "\n") == hindi
        assert html.get_content().replace("\r\n", "\n") == long_ascii
        assert str(parsed["From"]) == "बाज़ार <s@example.in>"
        assert str(parsed["Subject"]) == "नमस्ते"

    @given(body=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400))
    def test_every_body_decodes_back_in_short_lines(self, body):
        """Whatever the text (ASCII, Devanagari, emoji, CR/LF), its part decodes back, lines <= 78."""
        data = build_message(
            _message("x", {"text/plain": body}), sender=Mailbox("s@example.in"), date=DATE
        )
        assert all(len(line) <= 78 for line in data.split(b"\r\n"))
        (plain,) = _parse(data).iter_parts()
        expected = body.replace("\r\n", "\n").replace("\r", "\n")
        if not expected.endswith("\n"):
            expected += "\n"
        assert plain.get_content().replace("\r\n", "\n") == expected

    def test_reserved_headers_are_refused(self):
        """A message cannot set From, Content-Type or Bcc through its headers."""
        for name in ("From", "Content-Type", "Bcc"):
            with pytest.raises(ValueError, match=name):
                build_message(
                    _message("x", None, **{name: "a@example.in"}),
                    sender=Mailbox("s@example.in"),
                    date=DATE,
                )


class TestDkim:
    def test_signature_covers_both_list_unsubscribe_headers_and_verifies(self):
        """A DKIM-signed message verifies against its public key and signs List-Unsubscribe(-Post)."""
        import dkim  # type: ignore[import-untyped]  # noqa: PLC0415
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        import base64  # noqa: PLC0415

        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
        signer = DkimSigner(domain="example.in", selector="cx", private_key=private)
        assert "BEGIN" not in repr(signer)
        ch = channel(dkim=signer)
        survey = surveys()["sample_nps"]
        data = ch.message_bytes(ch.render(sample_invitation(survey, channel="email"), survey))
        assert data.startswith(b"DKIM-Signature:")
        signature = data.split(b"\r\n\r\n", 1)[0].split(b"\r\nFrom:", 1)[0]
        signed = re.search(rb"h=([^;]+);", signature.replace(b"\r\n", b"").replace(b" ", b""))
        assert signed is not None
        assert {b"list-unsubscribe", b"list-unsubscribe-post"} <= set(
            signed.group(1).lower().split(b":")
        )

        def dns(name, timeout=5):
            del timeout
            assert name == b"cx._domainkey.example.in."
            return record

        assert dkim.verify(data, dnsfunc=dns)
        tampered = data.replace(
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing"
        )
        assert not dkim.verify(tampered, dnsfunc=dns)

    def test_leaving_out_list_unsubscribe_is_refused(self):
        from cxcore_channels.email import EmailConfigError  # noqa: PLC0415

        with pytest.raises(EmailConfigError, match="List-Unsubscribe-Post"):
            DkimSigner(
                domain="example.in",
                selector="cx",
                private_key=b"k",
                headers=("From", "List-Unsubscribe"),
            )
