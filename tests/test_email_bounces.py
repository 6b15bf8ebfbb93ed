"""Inbound for the email channel: bounces (DSN + VERP), one-click answers, AMP posts, unsubscribes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore import (
    AnswersReceived,
    Disposition,
    InboundError,
    InboundRequest,
    OptOutReceived,
    StatusReceived,
)
from cxcore_channels.email import EmailChannel, Mailbox, Verp, parse_dsn, verp_decode, verp_encode

FIXTURES = Path(__file__).parent / "email_fixtures"
BASE = "https://cx.example.in/r"
SECRET = "bounce-secret-from-the-environment"


@pytest.fixture
def channel():
    return EmailChannel(
        base_url=BASE,
        sender="surveys@bazaar.example.in",
        bounce_address="bounces@mail.bazaar.example.in",
        bounce_secret=SECRET,
        tls="none",
    )


def bounce(name: str, authorization: str = f"Bearer {SECRET}") -> InboundRequest:
    return InboundRequest(
        method="POST",
        url=f"{BASE}/email/bounces",
        headers={"Content-Type": "message/rfc822", "Authorization": authorization},
        body=(FIXTURES / name).read_bytes(),
    )


class TestVerp:
    @given(st.text(min_size=1, max_size=40), st.integers(min_value=0, max_value=99))
    def test_round_trip(self, invitation_id, reminder):
        """Any invitation id and reminder survive the trip through a VERP tag."""
        tag = verp_encode(invitation_id, reminder)
        assert all(c.isascii() and (c.isalnum() or c in "-_=.") for c in tag)
        assert verp_decode(tag) == (invitation_id, reminder)

    @pytest.mark.parametrize("invitation_id", ["h--", "h--0", "h--abc"])
    def test_an_id_that_looks_like_a_hashed_tag_still_round_trips(self, invitation_id):
        """Found by Hypothesis: an id beginning 'h--' read back as a hashed tag (None)."""
        tag = verp_encode(invitation_id, 2)
        assert not tag.startswith("h--")
        assert verp_decode(tag) == (invitation_id, 2)

    def test_long_ids_are_hashed(self):
        """A tag that would overflow the 64-character local part is a hash: stable, not readable."""
        verp = Verp(Mailbox("bounces@mail.example.in"))
        long_id = "x" * 80
        tag = verp.tag(long_id, 0)
        assert tag == verp.tag(long_id, 0) != verp.tag(long_id, 1)
        assert len(verp.address(tag).partition("@")[0]) <= 64
        assert verp_decode(tag) is None
        assert verp.tag_of(verp.address(tag)) == tag

    def test_tag_of_other_addresses(self):
        """Only tagged forms of the configured bounce mailbox carry a tag."""
        verp = Verp(Mailbox("bounces@mail.example.in"))
        assert verp.tag_of("bounces+inv-1.0@MAIL.example.in") == "inv-1.0"
        assert verp.tag_of("<bounces+inv-1.0@mail.example.in>") == "inv-1.0"
        assert verp.tag_of("bounces@mail.example.in") is None
        assert verp.tag_of("other+inv-1.0@mail.example.in") is None
        assert verp.tag_of("bounces+inv-1.0@example.in") is None


class TestDsn:
    @pytest.mark.parametrize(
        "authorization",
        ["", "Bearer wrong", f"Token {SECRET}", "Basic !!!", "Basic " + "dXNlcjp3cm9uZw=="],
    )
    def test_a_bounce_without_the_secret_is_refused(self, channel, authorization):
        """A bounce suppresses an address: without the secret, it is not read."""
        with pytest.raises(InboundError, match="bounce secret"):
            channel.parse_inbound(bounce("hard.eml", authorization))

    def test_basic_authentication_carries_the_secret_too(self, channel):
        """Inbound-mail webhooks put credentials in the URL: HTTP Basic, the secret as password."""
        basic = base64.b64encode(f"mta:{SECRET}".encode()).decode()
        (event,) = channel.parse_inbound(bounce("hard.eml", f"Basic {basic}"))
        assert isinstance(event, StatusReceived)

    def test_no_secret_configured_takes_no_bounce(self):
        """Without bounce_secret, bounces over HTTP are refused, saying how to turn them on."""
        channel = EmailChannel(base_url=BASE, sender="surveys@bazaar.example.in", tls="none")
        with pytest.raises(InboundError, match="set the email channel's bounce_secret"):
            channel.parse_inbound(bounce("hard.eml"))

    def test_hard_bounce(self, channel):
        """A 5.x.x failure is a permanent bounce, mapped to the send through the VERP tag."""
        (event,) = channel.parse_inbound(bounce("hard.eml"))
        assert event == StatusReceived(
            provider_id="inv-0001.0@bazaar.example.in",
            disposition=Disposition.BOUNCED,
            invitation_id="inv-0001",
            permanent=True,
            detail="failed 5.1.1: 550 5.1.1 <asha@example.in>: Recipient address rejected: "
            "User unknown in virtual mailbox table",
            address="asha@example.in",
        )

    def test_soft_bounce(self, channel):
        """A 4.x.x failure (mailbox full) is a bounce that is not permanent."""
        (event,) = channel.parse_inbound(bounce("soft.eml"))
        assert isinstance(event, StatusReceived)
        assert event.disposition is Disposition.BOUNCED
        assert event.permanent is False
        assert event.provider_id == "inv-0002.1@bazaar.example.in"
        assert verp_decode(event.provider_id.partition("@")[0]) == ("inv-0002", 1)
        assert event.invitation_id == "inv-0002"
        assert event.address == "ravi@example.in"

    def test_partial_report(self, channel):
        """Per recipient: delivered, failed (permanent); a delay is not final and gives nothing."""
        events = channel.parse_inbound(bounce("partial.eml"))
        assert [(e.disposition, e.permanent, e.address) for e in events] == [
            (Disposition.DELIVERED, False, "meera@example.in"),
            (Disposition.BOUNCED, True, "old.account@example.in"),
        ]
        assert {e.provider_id for e in events} == {"order=207=2Fa.0@bazaar.example.in"}
        assert verp_decode("order=207=2Fa.0") == ("order 7/a", 0)

    def test_without_verp_the_returned_message_id_is_used(self):
        """A report that came back to an untagged address still names the message."""
        report = parse_dsn((FIXTURES / "hard.eml").read_bytes(), verp=None)
        assert report.verp_tag is None
        assert report.original_message_id == "inv-0001.0@bazaar.example.in"
        (status,) = report.recipients
        assert (status.action, status.status, status.permanent) == ("failed", "5.1.1", True)

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"\xff\xfe garbage",
            b"From: a@example.in\r\nSubject: out of office\r\n\r\nI am away.\r\n",
            b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
        ],
        ids=["empty", "binary", "not-a-report", "no-status-part"],
    )
    def test_what_is_not_a_dsn(self, channel, body):
        """Anything but a delivery status notification is an InboundError naming what it is."""
        request = InboundRequest(
            method="POST",
            url=f"{BASE}/email/bounces",
            headers={"content-type": "message/rfc822", "authorization": f"Bearer {SECRET}"},
            body=body,
        )
        with pytest.raises(InboundError, match=r"report|delivery-status"):
            channel.parse_inbound(request)


class TestAnswersAndOptOuts:
    def test_one_click_link(self, channel):
        """GET /s/<token>?q.<id>=<value> is a partial answer with the survey token."""
        (event,) = channel.parse_inbound(
            InboundRequest(method="GET", url=f"{BASE}/s/tok%2Fa.b?q.ltr=9")
        )
        assert event == AnswersReceived(token="tok/a.b", answers={"ltr": 9}, complete=False)

    def test_amp_form_post(self, channel):
        """The AMP form posts q.<id> fields to /amp/<amp token>; empty optional fields are dropped."""
        request = InboundRequest(
            method="POST",
            url=f"{BASE}/amp/tok.amp?__amp_source_origin=https%3A%2F%2Fmail.google.com",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=b"q.ltr=3&q.why=&q.issue[]=late&q.note=%E0%A4%A0%E0%A5%80%E0%A4%95",
        )
        (event,) = channel.parse_inbound(request)
        assert event == AnswersReceived(
            token="tok.amp", answers={"ltr": 3, "issue": ("late",), "note": "ठीक"}, complete=True
        )

    def test_one_click_unsubscribe(self, channel):
        """An RFC 8058 POST to /u/<token> is an opt-out carrying the unsubscribe token."""
        (event,) = channel.parse_inbound(
            InboundRequest(
                method="POST", url=f"{BASE}/u/tok.unsub", body=b"List-Unsubscribe=One-Click"
            )
        )
        assert event == OptOutReceived(token="tok.unsub", keyword="List-Unsubscribe=One-Click")
        assert event.address is None

    @pytest.mark.parametrize(
        ("method", "url", "body", "match"),
        [
            ("GET", f"{BASE}/u/tok.unsub", b"", "only a POST unsubscribes"),
            ("POST", f"{BASE}/u/tok.unsub", b"yes", "expected 'List-Unsubscribe=One-Click'"),
            ("GET", f"{BASE}/s/tok", b"", "carries no answer"),
            ("GET", f"{BASE}/s/tok?q.ltr=", b"", "is empty"),
            ("POST", f"{BASE}/amp/tok", b"q.why=", "carries no answer"),
            ("GET", "https://evil.example.com/r/s/tok?q.ltr=1", b"", "not under the collector"),
            ("GET", f"{BASE}/x/tok?q.ltr=1", b"", "not a survey, unsubscribe or AMP link"),
            ("GET", f"{BASE}/s/tok/extra?q.ltr=1", b"", "not a survey, unsubscribe or AMP link"),
        ],
    )
    def test_refusals(self, channel, method, url, body, match):
        """Requests outside the scheme are InboundErrors that say what was expected."""
        with pytest.raises(InboundError, match=match):
            channel.parse_inbound(InboundRequest(method=method, url=url, body=body))
