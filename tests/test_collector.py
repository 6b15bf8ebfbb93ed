"""The collector over real HTTP: uvicorn on a loopback port, driven with httpx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx
import pytest

from cxcore import (
    AddressKind,
    Capabilities,
    InboundMode,
    InboundRequest,
    Purpose,
    RespondentKind,
)
from cxcore.collector import CONTENT_SECURITY_POLICY, RateLimits
from cxcore.distribution import RuleSet, Sampling, load_rules
from cxcore.distribution.decide import invitation_id
from cxcore.intake import InboundReply, IntakeResult
from cxcore.testing import FakeChannel, signed_invitation
from cxcore_channels.email import EmailChannel
from tests.collector_support import EMAIL, Served, serve_collector

HTML = {"Accept": "text/html"}
AMP_SENDER = {"AMP-Email-Sender": "surveys@bazaar.example.in"}
ONE_CLICK = "List-Unsubscribe=One-Click"


class Replying(FakeChannel):
    """A fake channel that answers its own requests, as an SMS provider expects."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats={"text/plain"}, address=AddressKind.PHONE, two_way=True, inbound=InboundMode.FORM
    )

    def inbound_reply(
        self, request: InboundRequest, results: list[IntakeResult]
    ) -> InboundReply | None:
        del request
        ok = all(r.ok for r in results)
        return InboundReply(
            status=200,
            body=f"<Response>{'thanks' if ok else 'sorry'}</Response>",
            media_type="text/xml",
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    rules = load_rules(Path(__file__).parent.parent / "examples/retail/rules/bazaar.toml")
    channels = {
        "fake": FakeChannel(name="fake"),
        "replying": Replying(name="replying"),
        "email": EmailChannel(
            base_url="http://127.0.0.1/r",
            sender="surveys@bazaar.example.in",
            bounce_address="bounces@mail.bazaar.example.in",
            bounce_secret="bounce-secret",
            tls="none",
            amp=False,
        ),
    }
    with serve_collector(
        tmp_path,
        channels=channels,
        rules=rules,
        agent_surveys=("store_exit",),
        limits=RateLimits(per_address=None, per_key=None),
    ) as s:
        yield s


def get(s: Served, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(f"{s.url}{path}", timeout=10, **kw)


def post(s: Served, path: str, **kw: Any) -> httpx.Response:
    return httpx.post(f"{s.url}{path}", timeout=10, **kw)


def interaction_item(
    interaction_id: str, customer: str, store: str | None = None
) -> dict[str, object]:
    """An item of the interactions API: a support call of *customer* (at *store*), with their record."""
    interaction: dict[str, str] = {
        "id": interaction_id,
        "touchpoint": "support_call",
        "customer_id": customer,
        "occurred_at": "2026-12-07T10:00:00+05:30",
    }
    if store is not None:
        interaction["store"] = store
    return {
        "interaction": interaction,
        "customer": {
            "id": customer,
            "email": f"{customer.lower()}@example.in",
            "timezone": "Asia/Kolkata",
            "country": "IN",
        },
    }


def bazaar_rules(**fatigue: Any) -> RuleSet:
    """The retail example's rules, with *fatigue* changed."""
    bazaar = load_rules(Path(__file__).parent.parent / "examples/retail/rules/bazaar.toml")
    return attrs.evolve(bazaar, fatigue=attrs.evolve(bazaar.fatigue, **fatigue))


def ask(s: Served, body: dict[str, Any]) -> dict[str, Any]:
    """POST one interaction; what the collector decided."""
    reply = post(s, "/api/interactions", json=body, headers={"X-Api-Key": s.key("interactions")})
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


class TestSurveyPages:
    def test_a_one_click_score_is_saved_and_the_page_asks_the_rest(self, served):
        """The score is stored before the page shows, with the remaining questions."""
        inv = served.invite()
        page = get(served, f"/s/{quote(inv.token)}?q.ltr=4", headers=HTML)
        assert page.status_code == 200
        assert 'lang="en"' in page.text
        assert "we have saved your answer" in page.text
        assert 'name="q.issue[]"' in page.text  # revealed by the low score
        assert 'value="4" checked' in page.text
        response = served.run(served.store.invitation_response(inv.id))
        assert response is not None
        assert dict(response.answers) == {"ltr": 4}
        assert not response.is_complete

    def test_a_short_link_leads_to_the_survey_page(self, served):
        """/l/<code> answers 303 to the survey page at the public URL; a wrong code, a friendly 404."""
        inv = served.invite()
        assert inv.short_code is not None
        before = served.counts()
        for method in ("GET", "HEAD"):
            moved = httpx.request(method, f"{served.url}/l/{inv.short_code}", timeout=10)
            assert moved.status_code == 303
            assert moved.headers["location"] == f"{served.url}/s/{quote(inv.token, safe='')}"
            assert moved.headers["cache-control"] == "no-store"
        page = httpx.get(f"{served.url}/l/{inv.short_code}", follow_redirects=True, timeout=10)
        assert page.status_code == 200
        assert 'name="q.ltr"' in page.text
        wrong = inv.short_code[:-1] + ("A" if inv.short_code[-1] != "A" else "B")
        for code in (wrong, "short", "x" * 200, "%00", "Ab3dE9xK2mQ7.."):
            refused = get(served, f"/l/{code}", headers=HTML)
            assert refused.status_code == 404, code
            assert "link" in refused.text.lower()
            assert "Traceback" not in refused.text
        assert served.counts() == before  # nothing written

    def test_the_form_completes_the_response(self, served):
        """A POST of the form completes the one response and thanks the respondent."""
        inv = served.invite()
        get(served, f"/s/{quote(inv.token)}?q.ltr=9", headers=HTML)
        done = post(
            served,
            f"/s/{quote(inv.token)}",
            data={"shown": "ltr,agent,why", "q.ltr": "9", "q.agent": "5", "q.why": "Quick"},
            headers=HTML,
        )
        assert done.status_code == 200
        assert "Thank you for helping us improve." in done.text
        response = served.run(served.store.invitation_response(inv.id))
        assert response is not None
        assert response.is_complete
        assert dict(response.answers) == {"ltr": 9, "agent": 5, "why": "Quick"}
        assert served.counts()["responses"] == 1

    def test_a_low_score_reveals_a_question_before_completing(self, served):
        """Answers that show a new question keep the response open and ask it."""
        inv = served.invite()
        page = post(
            served,
            f"/s/{quote(inv.token)}",
            data={"shown": "ltr,agent,why", "q.ltr": "3"},
            headers=HTML,
        )
        assert page.status_code == 200
        assert 'name="q.issue[]"' in page.text
        response = served.run(served.store.invitation_response(inv.id))
        assert response is not None
        assert not response.is_complete

    def test_bad_answers_show_the_page_again_with_every_problem(self, served):
        """A missing required answer is named beside its question; nothing is stored."""
        inv = served.invite()
        before = served.counts()
        page = post(
            served,
            f"/s/{quote(inv.token)}",
            data={"shown": "ltr,agent,why", "q.agent": "9"},
            headers=HTML,
        )
        assert page.status_code == 422
        assert 'href="#q-ltr"' in page.text
        assert 'href="#q-agent"' in page.text
        assert served.counts() == before

    def test_the_page_speaks_the_invitations_language(self, served):
        """A Hindi invitation's page is in Hindi, with lang="hi"."""
        inv = served.invite(locale="hi")
        page = get(served, f"/s/{quote(inv.token)}", headers=HTML)
        assert 'lang="hi"' in page.text
        assert "आप बाज़ार की सिफ़ारिश" in page.text
        assert "भेजें" in page.text

    def test_every_single_character_change_of_a_token_is_refused_and_writes_nothing(self, served):
        """Tampered links get a friendly page, never an error dump, and change nothing."""
        inv = served.invite()
        before = served.counts()
        token = inv.token
        alphabet = "AZaz09-_."
        for i in range(len(token)):
            for replacement in alphabet:
                if replacement == token[i]:
                    continue
                forged = token[:i] + replacement + token[i + 1 :]
                page = get(served, f"/s/{quote(forged, safe='')}?q.ltr=10", headers=HTML)
                assert page.status_code in (403, 404, 410), (i, replacement, page.status_code)
                assert "This link is not valid" in page.text
                assert "Traceback" not in page.text
                break  # one change per position keeps the test fast; all positions are covered
        assert served.counts() == before

    def test_an_expired_invitation_gets_a_closed_page_in_its_language(self, served):
        """After expiry, the page says the survey closed, in Hindi for a Hindi invitation."""
        inv = served.invite(locale="hi", days=1)
        served.clock.advance(days=2)
        before = served.counts()
        page = get(served, f"/s/{quote(inv.token)}?q.ltr=9", headers=HTML)
        assert page.status_code == 410
        assert "यह सर्वे बंद हो चुका है" in page.text
        assert served.counts() == before

    def test_an_unsubscribe_token_does_not_open_the_survey(self, served):
        """A token of another purpose is refused like a forged one."""
        inv = served.invite()
        page = get(served, f"/s/{quote(inv.unsubscribe_token or '')}", headers=HTML)
        assert page.status_code == 403
        assert "This link is not valid" in page.text

    def test_an_answered_survey_says_so(self, served):
        """Coming back to a completed survey shows a thank-you, not the form."""
        inv = served.invite(survey_id="store_exit")
        post(
            served, f"/s/{quote(inv.token)}", data={"shown": "sat,note", "q.sat": "5"}, headers=HTML
        )
        again = get(served, f"/s/{quote(inv.token)}", headers=HTML)
        assert "You have already answered" in again.text

    def test_pages_carry_a_strict_policy_and_are_never_cached(self, served):
        """Every page has the CSP, no-store, no referrer (links carry tokens)."""
        inv = served.invite()
        page = get(served, f"/s/{quote(inv.token)}", headers=HTML)
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-frame-options"] == "DENY"
        css = get(served, "/static/cx.css")
        assert css.status_code == 200
        assert "text/css" in css.headers["content-type"]

    def test_a_head_request_never_writes(self, served):
        """Link checkers that HEAD a one-click link record nothing."""
        inv = served.invite()
        before = served.counts()
        reply = httpx.head(f"{served.url}/s/{quote(inv.token)}?q.ltr=2", timeout=10)
        assert reply.status_code == 200
        assert served.counts() == before


class TestUnsubscribe:
    def test_a_get_asks_and_a_one_click_post_unsubscribes(self, served):
        """GET writes nothing (mail scanners follow links); the RFC 8058 POST opts out."""
        inv = served.invite()
        url = f"/u/{quote(inv.unsubscribe_token or '')}"
        before = served.counts()
        page = get(served, url, headers=HTML)
        assert page.status_code == 200
        assert 'value="One-Click"' in page.text
        assert served.counts() == before
        done = post(
            served,
            url,
            content=ONE_CLICK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200
        assert served.run(served.store.suppression(EMAIL, "email")) == "opt_out"
        again = post(
            served,
            url,
            content=ONE_CLICK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert again.status_code == 200
        consent = served.run(served.store.consent("C-9", "email", Purpose.SURVEY))
        assert consent is not None
        assert consent.granted is False

    def test_another_body_is_refused(self, served):
        """Only the one-click body unsubscribes."""
        inv = served.invite()
        before = served.counts()
        reply = post(served, f"/u/{quote(inv.unsubscribe_token or '')}", content="yes please")
        assert reply.status_code == 400
        assert served.counts() == before


class TestAmpForms:
    def test_an_allowed_sender_posts_answers_with_cors_version_2(self, served):
        """AMP-Email-Sender on the allow-list: JSON 200 with AMP-Email-Allow-Sender."""
        inv = served.invite()
        reply = post(
            served,
            f"/amp/{quote(inv.amp_token or '')}",
            data={"q.ltr": "10", "q.agent": "4"},
            headers=AMP_SENDER,
        )
        assert reply.status_code == 200
        assert reply.json() == {"ok": True}
        assert reply.headers["amp-email-allow-sender"] == "surveys@bazaar.example.in"
        response = served.run(served.store.invitation_response(inv.id))
        assert response is not None
        assert response.is_complete

    def test_multipart_bodies_and_cors_version_1(self, served):
        """__amp_source_origin and Origin: the version 1 headers come back; multipart is read."""
        inv = served.invite()
        reply = post(
            served,
            f"/amp/{quote(inv.amp_token or '')}?__amp_source_origin=surveys%40bazaar.example.in",
            files={"q.ltr": (None, "9")},
            headers={"Origin": "https://mail.google.com"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["access-control-allow-origin"] == "https://mail.google.com"
        assert (
            reply.headers["amp-access-control-allow-source-origin"] == "surveys@bazaar.example.in"
        )

    @pytest.mark.parametrize(
        "headers",
        [{"AMP-Email-Sender": "spam@evil.example"}, {}, {"Origin": "https://mail.google.com"}],
    )
    def test_an_unknown_or_missing_sender_is_refused(self, served, headers):
        """No allowed sender: 403 JSON, nothing written."""
        inv = served.invite()
        before = served.counts()
        reply = post(
            served, f"/amp/{quote(inv.amp_token or '')}", data={"q.ltr": "9"}, headers=headers
        )
        assert reply.status_code == 403
        assert reply.json()["ok"] is False
        assert served.counts() == before

    def test_forged_and_expired_tokens_get_json_never_a_redirect(self, served):
        """Errors are 4xx JSON with the CORS headers, so the email shows its error template."""
        inv = served.invite(days=1)
        before = served.counts()
        forged = post(
            served,
            f"/amp/{quote((inv.amp_token or '')[:-1] + 'x')}",
            data={"q.ltr": "9"},
            headers=AMP_SENDER,
        )
        assert forged.status_code == 403
        assert forged.json()["error"]["reason"] == "tampered_token"
        assert forged.headers["amp-email-allow-sender"] == "surveys@bazaar.example.in"
        served.clock.advance(days=2)
        expired = post(
            served, f"/amp/{quote(inv.amp_token or '')}", data={"q.ltr": "9"}, headers=AMP_SENDER
        )
        assert expired.status_code == 410
        assert expired.json()["error"]["reason"] == "expired"
        assert served.counts() == before


class TestChannelRoutes:
    def test_a_channels_form_post_goes_through_intake(self, served):
        """The generic route hands the request to parse_inbound, then to Intake; JSON comes back."""
        inv = served.invite(channel="fake")
        reply = post(served, "/c/fake/in", data={"token": inv.token, "q.ltr": "8", "complete": "1"})
        assert reply.status_code == 200
        body = reply.json()
        assert body["ok"] is True
        assert body["results"][0]["outcome"] == "created"
        assert body["results"][0]["complete"] is True

    def test_an_opt_out_through_a_channel(self, served):
        """A STOP by address opts the address out of that channel."""
        reply = post(served, "/c/fake", data={"stop": "1", "address": "+919812300000"})
        assert reply.json()["results"][0]["type"] == "opt_out"
        assert served.run(served.store.suppression("+919812300000", "fake")) == "opt_out"

    def test_a_channel_answers_in_its_own_format(self, served):
        """A channel implementing InboundResponder gets to answer its provider."""
        reply = post(served, "/c/replying/sms", data={"stop": "1", "address": "+919812300001"})
        assert reply.status_code == 200
        assert reply.text == "<Response>thanks</Response>"
        assert reply.headers["content-type"].startswith("text/xml")

    def test_a_bounce_posted_by_the_mail_server_suppresses_the_address(self, served):
        """The email channel reads the DSN; Intake records the bounce and suppresses the address."""
        served.invite(invitation_id="inv-0001", address="asha@example.in")
        dsn = (Path(__file__).parent / "email_fixtures" / "hard.eml").read_bytes()
        before = served.counts()
        headers = {"Content-Type": "message/rfc822"}
        forged = post(served, "/c/email/bounces", content=dsn, headers=headers)
        assert forged.status_code == 400  # else anyone could suppress anyone: refused
        assert served.counts() == before
        headers["Authorization"] = "Bearer bounce-secret"
        reply = post(served, "/c/email/bounces", content=dsn, headers=headers)
        assert reply.status_code == 200, reply.text
        (result,) = reply.json()["results"]
        assert result["type"] == "status"
        assert result["disposition"] == "bounced"
        assert served.run(served.store.suppression("asha@example.in", "email")) == "hard_bounce"

    def test_unknown_channels_and_unreadable_requests_are_client_errors(self, served):
        """404 for a channel not configured; 400 naming the channel for what it cannot read."""
        before = served.counts()
        assert post(served, "/c/nope", data={"a": "b"}).status_code == 404
        unreadable = post(served, "/c/fake", data={"token": "x"})
        assert unreadable.status_code == 400
        assert "fake" in unreadable.json()["error"]["message"]
        assert served.counts() == before

    def test_the_url_given_to_the_channel_is_the_public_one(self, served):
        """Signatures are computed over the configured public URL, never the request's Host."""
        seen: list[str] = []
        channel = served.collector.context.channels["fake"]
        original = channel.parse_inbound

        def spy(request: InboundRequest) -> Any:
            seen.append(request.url)
            return original(request)

        channel.parse_inbound = spy
        inv = served.invite(channel="fake")
        post(
            served,
            "/c/fake/hook?x=1",
            data={"token": inv.token, "q.ltr": "8"},
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
        assert seen == [f"{served.url}/c/fake/hook?x=1"]


class TestApis:
    def test_kiosk_answers_need_a_key_with_the_scope(self, served):
        """No key: 401; a key without the scope: 403; the right key: stored, anonymous."""
        body = {
            "survey": "store_exit",
            "answers": {"sat": 2},
            "key": "kiosk-1:0001",
            "context": {"store": "BLR-01", "touchpoint": "store_exit"},
        }
        assert post(served, "/api/answers", json=body).status_code == 401
        wrong = served.key("interactions")
        assert (
            post(
                served, "/api/answers", json=body, headers={"Authorization": f"Bearer {wrong}"}
            ).status_code
            == 403
        )
        key = served.key("answers")
        reply = post(served, "/api/answers", json=body, headers={"Authorization": f"Bearer {key}"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["results"][0]["outcome"] == "created"
        again = post(served, "/api/answers", json=body, headers={"X-Api-Key": key})
        assert again.json()["results"][0]["outcome"] == "repeated"
        (cell,) = served.run(served.store.score("csat", survey_id="store_exit", by=("touchpoint",)))
        assert cell.key == ("store_exit",)
        assert cell.n == 1

    def test_bad_requests_name_every_problem_and_write_nothing(self, served):
        """Unknown fields, a missing survey and a bad answer are all named at once."""
        key = served.key("answers")
        before = served.counts()
        reply = post(
            served,
            "/api/answers",
            json={"answers": {"sat": [1]}, "colour": "red"},
            headers={"X-Api-Key": key},
        )
        assert reply.status_code == 422
        paths = {p["path"] for p in reply.json()["error"]["problems"]}
        assert paths == {"colour", "answers.sat", "survey", "key"}
        not_json = post(served, "/api/answers", content=b"\xff{", headers={"X-Api-Key": key})
        assert not_json.status_code == 400
        invalid = post(
            served,
            "/api/answers",
            json={"survey": "store_exit", "answers": {"sat": 9}, "key": "k"},
            headers={"X-Api-Key": key},
        )
        assert invalid.status_code == 422
        assert invalid.json()["results"][0]["reason"] == "invalid_answers"
        assert served.counts() == before

    def test_agent_reports_are_marked_and_kept_apart(self, served):
        """The JSON API stores agent-reported answers with the agent's id."""
        key = served.key("agent")
        reply = post(
            served,
            "/api/agent-reports",
            json={
                "survey": "store_exit",
                "answers": {"sat": 1, "note": "Trolley broken"},
                "agent_id": "A-12",
                "key": "rep-1",
            },
            headers={"X-Api-Key": key},
        )
        assert reply.status_code == 200, reply.text
        (response,) = served.run(
            served.store.responses(survey_id="store_exit", respondents=[RespondentKind.AGENT])
        )
        assert response.agent_id == "A-12"

    def test_interactions_go_through_the_rules_into_the_outbox(self, served):
        """An interaction is decided by the rules; a repeat gets the same answer; bad items are named."""
        key = served.key("interactions")
        headers = {"X-Api-Key": key}
        item = {
            "interaction": {
                "id": "POS-1",
                "touchpoint": "support_call",
                "customer_id": "C-1",
                "occurred_at": "2026-12-07T10:00:00+05:30",
                "store": "BLR-01",
            },
            "customer": {
                "id": "C-1",
                "email": "c1@example.in",
                "timezone": "Asia/Kolkata",
                "country": "IN",
            },
        }
        first = post(served, "/api/interactions", json=item, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["outcome"] == "invite"
        assert first.json()["channel"] == "email"
        again = post(served, "/api/interactions", json=item, headers=headers)
        assert again.json() == first.json()
        outbox = served.run(served.store.outbox())
        assert [o.invitation_id for o in outbox] == [first.json()["invitation_id"]]
        batch = post(
            served,
            "/api/interactions/batch",
            json={
                "items": [
                    item | {"interaction": item["interaction"] | {"id": "POS-2"}},
                    {"interaction": {"id": "bad id"}},
                ]
            },
            headers=headers,
        )
        results = batch.json()["results"]
        assert results[0]["outcome"] == "skip"
        assert results[0]["reason"] == "recontact_window"
        assert results[1]["outcome"] == "invalid"
        assert {p["path"] for p in results[1]["problems"]} >= {"items[1].interaction.touchpoint"}

    def test_invitations_stored_elsewhere_count_within_a_second(self, served):
        """Fatigue follows the store: an invitation another process stored is seen here too."""
        first = ask(served, interaction_item("POS-F1", "C-1"))
        assert first["outcome"] == "invite"  # the state is loaded now
        served.invite(customer_id="C-9")  # as a dispatcher or `cxcore send` would, elsewhere
        served.clock.advance(seconds=2)
        later = ask(served, interaction_item("POS-F2", "C-9"))
        assert later["outcome"] == "skip", later
        assert later["reason"] == "recontact_window"

    def test_a_person_asked_by_another_process_within_the_second_is_not_asked_again(self, served):
        """The store refuses an invitation whose person was invited since this process's read.

        Another process (a second worker, a dispatcher) invites C-9 after this
        one's fatigue state was read, and before it reads again: the state
        cannot know, but the write's own check in the store does.
        """
        key = served.key("interactions")

        def interaction(n: int, customer: str) -> dict[str, object]:
            return interaction_item(f"POS-W{n}", customer)

        assert ask(served, interaction(1, "C-1"))["outcome"] == "invite"  # the state is read now
        elsewhere = served.invite(customer_id="C-9")  # by another process, no time later
        batch = post(
            served,
            "/api/interactions/batch",
            json={"items": [interaction(2, "C-9"), interaction(3, "C-9"), interaction(4, "C-4")]},
            headers={"X-Api-Key": key},
        )
        results = batch.json()["results"]
        assert [(r["outcome"], r.get("reason")) for r in results] == [
            ("skip", "recontact_window"),
            ("skip", "recontact_window"),  # and remembered for the next decision
            ("invite", None),
        ]
        assert results[0]["eligible_at"] > served.clock.now().isoformat()
        invited = served.run(served.store.recent_invitations(
            since=served.clock.now() - timedelta(days=1)))  # fmt: skip
        assert [i.id for i in invited if i.customer_id == "C-9"] == [elsewhere.id]  # only theirs
        assert ask(served, interaction(2, "C-9")) == results[0]  # a retry gets the same answer

    def test_an_account_asked_by_another_process_within_the_second_is_not_asked_again(
        self, tmp_path
    ):
        """The account window holds across processes, and across a restart of the collector.

        Another process invites C-9 of ACME after this one's fatigue state was
        read: the store refuses C-2 of ACME (an ``account_window`` skip, with
        when ACME may be asked again), and C-3 is skipped from the state. A
        collector started afterwards reads ACME's invitation from the store.
        """
        rules = bazaar_rules(account_days=7)

        def item(n: int, customer: str, account: str | None = "ACME") -> dict[str, Any]:
            body = interaction_item(f"POS-A{n}", customer)
            body["customer"]["account_id"] = account  # type: ignore[index]
            return body

        channels = {"fake": FakeChannel(name="fake")}
        with serve_collector(tmp_path, channels=channels, rules=rules) as served:
            assert ask(served, item(0, "C-0", None))["outcome"] == "invite"  # the state is read
            elsewhere = attrs.evolve(
                signed_invitation(
                    served.tokens,
                    invitation_id="inv-acme",
                    survey_id="after_support",
                    created_at=served.clock.now(),
                    customer_id="C-9",
                ),
                account_id="ACME",
            )
            served.run(served.store.add_invitation(elsewhere))  # by another process
            refused = ask(served, item(1, "C-2"))
            assert refused == {
                "outcome": "skip",
                "reason": "account_window",
                "eligible_at": (served.clock.now() + timedelta(days=7)).isoformat(),
            }
            assert ask(served, item(2, "C-3"))["reason"] == "account_window"  # from the state
            assert ask(served, item(3, "C-4", "BETA"))["outcome"] == "invite"
            invited = served.run(served.store.invited_since(since=served.clock.now()))
            assert {(i.customer_id, i.account_id) for i in invited} == {
                ("C-0", None),
                ("C-9", "ACME"),
                ("C-4", "BETA"),
            }
        with serve_collector(tmp_path, channels=channels, rules=rules) as restarted:
            assert ask(restarted, item(4, "C-5"))["reason"] == "account_window"
            assert ask(restarted, item(5, "C-6", "GAMMA"))["outcome"] == "invite"

    def test_a_store_s_daily_limit_holds_across_a_restart_of_the_collector(self, tmp_path):
        """The store counts each store's invitations of the day: a restarted collector keeps to it.

        The first collector makes BLR-01's two invitations of the day and skips
        the third from its own count. The next one starts from nothing: the
        store refuses its first try (``store_limit``, eligible at the next
        local midnight), and it skips the next from the count it learnt.
        """
        rules = bazaar_rules(store_daily_limit=2)

        def item(n: int, store: str = "BLR-01") -> dict[str, object]:
            return interaction_item(f"POS-S{n}", f"C-{n}", store)

        channels = {"fake": FakeChannel(name="fake")}
        with serve_collector(tmp_path, channels=channels, rules=rules) as served:
            assert [ask(served, item(n))["outcome"] for n in range(2)] == ["invite", "invite"]
            third = ask(served, item(2))
            assert (third["outcome"], third["reason"]) == ("skip", "store_limit")
        with serve_collector(tmp_path, channels=channels, rules=rules) as restarted:
            refused = ask(restarted, item(3))  # the store's count, read in the write
            assert refused == third
            assert ask(restarted, item(4))["reason"] == "store_limit"  # from the state
            assert ask(restarted, item(5, "BLR-02"))["outcome"] == "invite"
            invited = restarted.run(restarted.store.invited_since(since=restarted.clock.now()))
        assert len(invited) == 3

    def test_a_sampling_minimum_holds_across_a_restart_of_the_collector(self, tmp_path):
        """The store counts each stratum's invitations of the day: a restarted collector keeps to its minimum.

        With a rate of 0, support_ces takes only each store's first two
        invitations of the day. The first collector takes BLR-01's two and
        skips the third from its own count. The next one starts from nothing:
        the store refuses its first try (``not_sampled``, the stratum's
        minimum is met), and it skips the next from the count it learnt.
        """
        bazaar = bazaar_rules(recontact_days=0)
        sampling = Sampling(rate=0.0, by="store", min_per_day=2)
        rules = attrs.evolve(
            bazaar,
            rules=[
                attrs.evolve(r, sampling=sampling) if r.id == "support_ces" else r
                for r in bazaar.rules
            ],
        )

        def item(n: int, store: str = "BLR-01") -> dict[str, object]:
            return interaction_item(f"POS-B{n}", f"C-{n}", store)

        channels = {"fake": FakeChannel(name="fake")}
        with serve_collector(tmp_path, channels=channels, rules=rules) as served:
            assert [ask(served, item(n))["outcome"] for n in range(2)] == ["invite", "invite"]
            third = ask(served, item(2))
            assert third == {"outcome": "skip", "reason": "not_sampled"}
        with serve_collector(tmp_path, channels=channels, rules=rules) as restarted:
            refused = ask(restarted, item(3))  # the stratum's count, read in the write
            assert refused == third
            assert ask(restarted, item(4)) == third  # from the state
            assert ask(restarted, item(5, "BLR-02"))["outcome"] == "invite"
            invited = restarted.run(
                restarted.store.invited_since(since=restarted.clock.now() - timedelta(days=1))
            )
        assert len(invited) == 3

    @pytest.mark.parametrize("made_after", [0.5, 1.5])
    def test_an_invitation_stored_after_a_read_but_made_before_it_counts(self, served, made_after):
        """A late write (made before the follower's last read, stored after it) is still seen.

        The follower reads only what is new unless the store counts more
        invitations made before its last read than it read there: in the last
        second before it (1.5 s after the first read, 0.5 s before the second),
        or in the seconds before that (0.5 s after the first read).
        """

        def post_one(n: int, customer: str) -> dict[str, Any]:
            return ask(served, interaction_item(f"POS-L{n}", customer))

        assert post_one(1, "C-1")["outcome"] == "invite"  # the state is loaded now
        made = served.clock.now()
        served.clock.advance(seconds=2)
        assert post_one(2, "C-2")["outcome"] == "invite"  # a read after `made`
        late = signed_invitation(
            served.tokens,
            invitation_id="inv-late",
            survey_id="after_support",
            created_at=made + timedelta(seconds=made_after),
            customer_id="C-9",
        )
        served.run(served.store.add_invitation(late))  # stored after that read
        served.clock.advance(seconds=2)
        later = post_one(3, "C-9")
        assert later["outcome"] == "skip", later
        assert later["reason"] == "recontact_window"
        served.clock.advance(seconds=2)
        assert post_one(4, "C-4")["outcome"] == "invite"  # and nothing is read twice wrongly

    def test_a_batch_answers_each_item_in_order_and_stores_each_once(self, served):
        """Items are decided in order; each new customer's invitation is stored once."""
        key = served.key("interactions")
        items = [
            {
                "interaction": {
                    "id": f"POS-{i}",
                    "touchpoint": "support_call",
                    "customer_id": f"C-{i % 20}",  # the last 20 repeat the first 20 customers
                    "occurred_at": "2026-12-07T10:00:00+05:30",
                },
                "customer": {
                    "id": f"C-{i % 20}",
                    "email": f"c{i % 20}@example.in",
                    "timezone": "Asia/Kolkata",
                    "country": "IN",
                },
            }
            for i in range(40)
        ]
        items[7] = {"interaction": {"id": "bad id"}}
        reply = post(
            served, "/api/interactions/batch", json={"items": items}, headers={"X-Api-Key": key}
        )
        assert reply.status_code == 200, reply.text
        results = reply.json()["results"]
        outcomes = [r["outcome"] for r in results]
        # Items 20-39 are the same customers again: asked already, but for C-7 (item 7 was bad).
        assert outcomes == ["invite"] * 7 + ["invalid"] + ["invite"] * 12 + (
            ["skip"] * 7 + ["invite"] + ["skip"] * 12
        )
        assert invitation_id("POS-3", "support_ces") == results[3]["invitation_id"]
        stored = served.run(served.store.outbox())
        assert sorted(o.invitation_id for o in stored) == sorted(
            r["invitation_id"] for r in results if r["outcome"] == "invite"
        )

    def test_an_interaction_repeated_in_a_batch_gets_its_first_result(self, served):
        """One interaction id, one decision: a repeat within the batch answers as its first."""
        key = served.key("interactions")

        items = [
            interaction_item("POS-R1", "C-1"),
            {"interaction": {"id": "POS-R2"}},  # invalid: no touchpoint, no time
            interaction_item("POS-R1", "C-1"),  # the same interaction again
            interaction_item("POS-R2", "C-2"),  # valid this time: decided on its own
            interaction_item("POS-R3", "C-1"),  # another interaction of C-1: asked already
        ]
        reply = post(
            served, "/api/interactions/batch", json={"items": items}, headers={"X-Api-Key": key}
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        results = body["results"]
        assert [r["outcome"] for r in results] == ["invite", "invalid", "invite", "invite", "skip"]
        assert results[2] == results[0]
        assert results[4]["reason"] == "recontact_window"
        assert (body["ok"], body["failed"]) == (False, 1)
        stored = served.run(served.store.outbox())
        assert sorted(o.invitation_id for o in stored) == sorted(
            [results[0]["invitation_id"], results[3]["invitation_id"]]
        )


class TestRefusals:
    def test_guessing_keys_is_rate_limited_per_address(self, tmp_path):
        """Requests refused for their key count against their address."""
        limits = RateLimits(per_address=0.5, address_burst=3)
        with serve_collector(tmp_path, limits=limits) as s:
            statuses = [
                post(s, "/api/answers", json={}, headers={"X-Api-Key": f"cxk_guess{i}"}).status_code
                for i in range(5)
            ]
        assert statuses[:3] == [403, 403, 403]
        assert statuses[3:] == [429, 429]

    def test_agent_reports_only_on_the_staff_surveys(self, served):
        """The agent API refuses a survey that is not among agent_surveys, and writes nothing."""
        key = served.key("agent")
        before = served.counts()
        reply = post(
            served,
            "/api/agent-reports",
            json={"survey": "after_support", "answers": {"ltr": 1}, "agent_id": "A-1", "key": "r"},
            headers={"X-Api-Key": key},
        )
        assert reply.status_code == 422
        assert "after_support" in reply.json()["error"]["message"]
        assert served.counts() == before


class TestStaffPages:
    def test_a_form_posted_from_another_site_is_refused(self, served):
        """An Origin other than the collector's is refused before the key is even looked at."""
        key = served.key("agent")
        reply = post(
            served,
            "/staff/session",
            data={"key": key, "next": "agent"},
            headers={"Origin": "https://evil.example"},
        )
        assert reply.status_code == 403
        assert "set-cookie" not in reply.headers

    def test_staff_sign_in_record_a_report_and_need_the_csrf_token(self, served):
        """A staff key opens a session; the form stores agent-reported feedback; CSRF is checked."""
        key = served.key("agent")
        with httpx.Client(base_url=served.url, timeout=10, follow_redirects=True) as client:
            assert "Staff key" in client.get("/agent").text
            wrong = client.post("/staff/session", data={"key": "cxk_nope", "next": "agent"})
            assert "This key is not valid" in wrong.text
            page = client.post("/staff/session", data={"key": key, "next": "agent"})
            assert "Record customer feedback" in page.text
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            nonce = page.text.split('name="nonce" value="')[1].split('"')[0]
            fields = {
                "survey": "store_exit",
                "shown": "sat,note",
                "agent_id": "A-3",
                "store": "BLR-01",
                "q.sat": "2",
                "nonce": nonce,
            }
            forged = client.post("/agent", data=fields | {"csrf": "0" * 64})
            assert forged.status_code == 403
            saved = client.post("/agent", data=fields | {"csrf": csrf})
            assert "Saved. Thank you." in saved.text
            client.post("/agent", data=fields | {"csrf": csrf})  # a double submit
        (response,) = served.run(
            served.store.responses(survey_id="store_exit", respondents=[RespondentKind.AGENT])
        )
        assert response.agent_id == "A-3"
        assert response.context["store"] == "BLR-01"


class TestLiveScores:
    def test_an_answer_shows_on_an_open_stream_within_a_second(self, served):
        """The stream sends the scores now, then again after an answer arrives."""
        key = served.key("live")
        inv = served.invite(survey_id="store_exit")

        async def scenario() -> list[dict[str, Any]]:
            snapshots: list[dict[str, Any]] = []
            async with httpx.AsyncClient(timeout=10) as client:
                url = f"{served.url}/live/scores?survey=store_exit&metric=csat&by=store"
                async with client.stream("GET", url, headers={"X-Api-Key": key}) as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    lines = stream.aiter_lines()
                    async for line in lines:
                        if line.startswith("data:"):
                            snapshots.append(json.loads(line[5:]))
                            break
                    started = asyncio.get_running_loop().time()
                    await client.post(
                        f"{served.url}/s/{quote(inv.token)}",
                        data={"shown": "sat,note", "q.sat": "5"},
                    )
                    async for line in lines:
                        if line.startswith("data:"):
                            snapshots.append(json.loads(line[5:]))
                            break
                    assert asyncio.get_running_loop().time() - started < 1.0
            return snapshots

        before, after = asyncio.run(scenario())
        assert before["cells"] == []
        assert after["cells"][0]["key"] == ["BLR-01"]
        assert after["cells"][0]["n"] == 1

    def test_a_stream_needs_a_key_or_a_session_and_a_real_view(self, served):
        """No key: 401; an unknown metric or dimension: 422 naming it."""
        assert get(served, "/live/scores?survey=store_exit&metric=csat").status_code == 401
        key = served.key("live")
        bad = get(
            served,
            "/live/scores?survey=store_exit&metric=nope&by=colour",
            headers={"X-Api-Key": key},
        )
        assert bad.status_code == 422
        assert "nope" in bad.text
        assert "colour" in bad.text


class TestService:
    def test_health_and_readiness(self, served):
        """Liveness always; readiness when the store answers."""
        assert get(served, "/healthz").json() == {"ok": True}
        assert get(served, "/readyz").json()["ok"] is True

    def test_a_body_over_the_limit_is_refused_before_it_is_read(self, served):
        """413 for a body larger than the limit, nothing written."""
        inv = served.invite()
        before = served.counts()
        reply = post(served, f"/s/{quote(inv.token)}", content=b"q.why=" + b"x" * 70_000)
        assert reply.status_code == 413
        assert served.counts() == before

    def test_fifty_concurrent_submissions_of_one_answer_give_one_response(self, served):
        """The same form posted fifty times at once: one response."""
        inv = served.invite(survey_id="store_exit")

        async def scenario() -> list[int]:
            async with httpx.AsyncClient(timeout=20) as client:
                replies = await asyncio.gather(
                    *(
                        client.post(
                            f"{served.url}/s/{quote(inv.token)}",
                            data={"shown": "sat,note", "q.sat": "4"},
                        )
                        for _ in range(50)
                    )
                )
            return [r.status_code for r in replies]

        assert set(asyncio.run(scenario())) == {200}
        assert served.counts()["responses"] == 1

    def test_a_score_then_the_form_then_a_correction_give_one_complete_response(self, served):
        """One click, the full form, a corrected score: one response, complete, corrected."""
        inv = served.invite()
        token = quote(inv.token)
        get(served, f"/s/{token}?q.ltr=6", headers=HTML)
        post(
            served,
            f"/s/{token}",
            data={"shown": "ltr,issue,agent,why", "q.ltr": "6", "q.issue[]": "wait"},
        )
        post(served, f"/s/{token}", data={"shown": "ltr,agent,why", "q.ltr": "9"})
        responses = served.run(served.store.responses(survey_id="after_support"))
        assert len(responses) == 1
        assert responses[0].is_complete
        assert responses[0].answers["ltr"] == 9


class TestRateLimits:
    def test_an_address_over_its_rate_is_told_when_to_retry(self, tmp_path):
        """429 with Retry-After, once the burst is spent."""
        with serve_collector(tmp_path, limits=RateLimits(per_address=0.5, address_burst=2)) as s:
            statuses = [get(s, "/s/nope").status_code for _ in range(4)]
            assert statuses[:2] == [403, 403]
            assert statuses[2:] == [429, 429]
            assert int(get(s, "/s/nope").headers["retry-after"]) >= 1
