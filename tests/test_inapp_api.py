"""The in-app widget's JSON API over real HTTP: keys, origins, eligibility, answers."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cxcore import Disposition, Purpose
from cxcore.collector.widget import WidgetApp, new_publishable_key, user_token
from cxcore.errors import ValidationError
from cxcore.model.customer import Consent
from cxcore.scoring.rates import AaporGroup, aapor_group
from cxcore.stores._feed_rows import progress
from tests.inapp_support import APP_KEY, SIGNED_KEY, USER_SECRET, email_invitation, serve_widget

ORIGIN = "http://127.0.0.1:5173"
HEADERS = {"Origin": ORIGIN, "X-Cx-App-Key": APP_KEY}


def _eligibility(url: str, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/w/v1/eligibility", json=body, headers={**HEADERS, **headers})


def _ask(url: str, user: str | None = "C-1", event: str = "chat_closed", **more: object):
    body: dict[str, object] = {"event": event, **more}
    if user is not None:
        body["user"] = {"id": user}
    return _eligibility(url, body)


class TestOrigins:
    def test_preflight_from_an_allowed_origin_gets_cors_headers(self, tmp_path: Path) -> None:
        """An allowed origin's preflight is answered with its origin, the method and headers."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = httpx.options(
                f"{s.url}/w/v1/eligibility",
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,x-cx-app-key",
                },
            )
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert "x-cx-app-key" in r.headers["access-control-allow-headers"]
        assert r.headers["access-control-allow-methods"] == "POST"

    def test_preflight_from_another_origin_gets_none(self, tmp_path: Path) -> None:
        """A foreign origin's preflight is refused without a single CORS header."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = httpx.options(
                f"{s.url}/w/v1/eligibility",
                headers={
                    "Origin": "http://127.0.0.1:6666",
                    "Access-Control-Request-Method": "POST",
                },
            )
        assert r.status_code == 403
        assert not [h for h in r.headers if h.startswith("access-control-")]

    def test_a_foreign_origin_is_refused_before_the_handler(self, tmp_path: Path) -> None:
        """A request that arrives with another origin is refused, and writes nothing."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = _eligibility(
                s.url, {"event": "chat_closed", "user": {"id": "C-1"}}, Origin="http://evil.test"
            )
            counts = s.counts()
        assert r.status_code == 403
        assert r.json()["error"]["reason"] == "forbidden_origin"
        assert "access-control-allow-origin" not in r.headers
        assert counts["invitations"] == 0

    def test_an_unknown_key_is_refused(self, tmp_path: Path) -> None:
        """An unknown publishable key gets a 401 that the allowed page can read."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = _eligibility(
                s.url, {"event": "chat_closed"}, **{"X-Cx-App-Key": "pk_nope_000000000000000"}
            )
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == ORIGIN

    def test_the_origin_of_one_app_does_not_open_another(self, tmp_path: Path) -> None:
        """An origin allowed for one app is refused with another app's key."""
        other = "http://127.0.0.1:7777"
        extra = WidgetApp(id="other", key="pk_other_app_000000000000", origins=(other,))
        with serve_widget(
            tmp_path,
            ORIGIN,
            apps=[*__import__("tests.inapp_support").inapp_support.apps(ORIGIN), extra],
        ) as s:
            r = _eligibility(s.url, {"event": "chat_closed"}, Origin=other)
        assert r.status_code == 403


class TestEligibility:
    def test_an_eligible_user_gets_the_prompt_in_their_language(self, tmp_path: Path) -> None:
        """The rules invite: the prompt comes back in Hindi, and the ask is stored as sent."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = _ask(s.url, "C-1", locale="hi")
            body = r.json()
            prompt = body["prompt"]
            stored = s.run(s.store.invitation(prompt["invitation"]))
            dispositions = [d for d, _ in s.run(s.store.dispositions(stored.id))]
        assert r.status_code == 200
        assert body["show"] is True
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert prompt["locale"] == "hi"
        assert prompt["questions"][0]["text"].startswith("आप बाज़ार")
        assert prompt["strings"]["send"] == "भेजें"
        assert body["recontact_days"] == 30
        assert (stored.channel, stored.address, stored.customer_id) == ("inapp", "C-1", "C-1")
        assert dispositions == [Disposition.SENT]

    def test_an_email_yesterday_keeps_the_app_from_asking_today(self, tmp_path: Path) -> None:
        """A customer invited by email yesterday is inside the recontact window: no prompt."""
        with serve_widget(tmp_path, ORIGIN) as s:
            email_invitation(s, "C-2", days_ago=1)
            r = _ask(s.url, "C-2")
            counts = s.counts()
        assert r.json()["show"] is False
        assert r.json()["reason"] == "recontact_window"
        eligible = datetime.fromisoformat(r.json()["eligible_at"])
        assert eligible == s.clock.now() - timedelta(days=1) + timedelta(days=30)
        assert counts["invitations"] == 1

    def test_an_email_sent_after_the_first_call_counts_too(self, tmp_path: Path) -> None:
        """Invitations made elsewhere after the state was loaded are read at the next refresh."""
        with serve_widget(tmp_path, ORIGIN) as s:
            assert _ask(s.url, "C-0").json()["show"] is True  # loads the state
            email_invitation(s, "C-3", days_ago=0)
            s.clock.advance(timedelta(seconds=2))
            r = _ask(s.url, "C-3")
        assert (r.json()["show"], r.json()["reason"]) == (False, "recontact_window")

    def test_an_email_sent_before_the_next_refresh_is_refused_by_the_store(
        self, tmp_path: Path
    ) -> None:
        """Another process's invitation, not read yet, still keeps the app from asking."""
        with serve_widget(tmp_path, ORIGIN) as s:
            assert _ask(s.url, "C-0").json()["show"] is True  # loads the state
            email_invitation(s, "C-3", days_ago=0)  # no time later: the state cannot know
            r = _ask(s.url, "C-3")
            again = _ask(s.url, "C-3", event="chat.closed")
            counts = s.counts()
        assert r.json() == {
            "show": False,
            "reason": "recontact_window",
            "eligible_at": (s.clock.now() + timedelta(days=30)).isoformat(),
        }
        assert again.json()["reason"] == "recontact_window"  # remembered as asked
        assert counts["invitations"] == 2  # C-0's and the email: none made for C-3 here

    def test_one_ask_per_window_across_events(self, tmp_path: Path) -> None:
        """Asked once in the app, the user is not asked again by the next event."""
        with serve_widget(tmp_path, ORIGIN) as s:
            first = _ask(s.url, "C-4").json()
            shown = {"token": first["prompt"]["token"]}
            httpx.post(f"{s.url}/w/v1/shown", json=shown, headers=HEADERS)
            second = _ask(s.url, "C-4").json()
        assert first["show"] is True
        assert second == {
            "show": False,
            "reason": "recontact_window",
            "eligible_at": second["eligible_at"],
        }

    def test_two_calls_at_once_for_one_user_ask_once(self, tmp_path: Path) -> None:
        """Ten events of one user at the same moment (two tabs, say): one prompt, one invitation."""
        with serve_widget(tmp_path, ORIGIN) as s:

            async def burst() -> list[dict[str, object]]:
                async with httpx.AsyncClient(headers=HEADERS) as client:
                    answers = await asyncio.gather(
                        *(
                            client.post(
                                f"{s.url}/w/v1/eligibility",
                                json={"event": "chat_closed", "user": {"id": "C-50"}},
                            )
                            for _ in range(10)
                        )
                    )
                return [a.json() for a in answers]

            results = asyncio.run(burst())
            counts = s.counts()
        prompts = {r["prompt"]["invitation"] for r in results if r["show"]}  # type: ignore[index]
        assert len(prompts) == 1
        assert counts["invitations"] == 1

    def test_a_prompt_not_shown_yet_is_offered_again(self, tmp_path: Path) -> None:
        """A prompt handed out but never shown (the page closed) is the next event's prompt."""
        with serve_widget(tmp_path, ORIGIN) as s:
            first = _ask(s.url, "C-5").json()["prompt"]
            again = _ask(s.url, "C-5").json()
            httpx.post(f"{s.url}/w/v1/shown", json={"token": first["token"]}, headers=HEADERS)
            after = _ask(s.url, "C-5").json()
        assert again["show"] is True
        assert again["prompt"]["invitation"] == first["invitation"]
        assert (after["show"], after["reason"]) == (False, "recontact_window")

    def test_a_retry_of_the_same_event_gets_the_same_answer(self, tmp_path: Path) -> None:
        """The same event id twice: one invitation, the same prompt."""
        with serve_widget(tmp_path, ORIGIN) as s:
            a = _ask(s.url, "C-6", event_id="e-1").json()
            b = _ask(s.url, "C-6", event_id="e-1").json()
            counts = s.counts()
        assert a == b
        assert counts["invitations"] == 1

    def test_another_user_naming_the_same_event_gets_nothing_of_the_first(
        self, tmp_path: Path
    ) -> None:
        """Event ids are the browser's: the same id from another user is another interaction."""
        with serve_widget(tmp_path, ORIGIN) as s:
            a = _ask(s.url, "C-60", event_id="same").json()
            b = _ask(s.url, "C-61", event_id="same").json()
            counts = s.counts()
        assert a["prompt"]["invitation"] != b["prompt"]["invitation"]
        assert a["prompt"]["token"] != b["prompt"]["token"]
        assert counts["invitations"] == 2

    def test_events_map_to_touchpoints_and_unknown_ones_are_skipped(self, tmp_path: Path) -> None:
        """The app's event names map to touchpoints; an event no rule knows asks nothing."""
        with serve_widget(tmp_path, ORIGIN) as s:
            mapped = _ask(s.url, "C-7", event="chat.closed").json()
            unknown = _ask(s.url, "C-8", event="page_view").json()
        assert mapped["show"] is True
        assert unknown == {"show": False, "reason": "no_rule"}

    def test_a_delayed_rule_schedules_and_the_next_visit_shows_it(self, tmp_path: Path) -> None:
        """A rule with a delay goes through the outbox; once sent, the widget shows it."""
        with serve_widget(tmp_path, ORIGIN) as s:
            later = _ask(s.url, "C-9", event="order_placed").json()
            item = s.run(s.store.outbox())[0]
            s.clock.advance(timedelta(minutes=61))
            s.run(s.store.record_disposition(later["invitation"], Disposition.SENT, s.clock.now()))
            shown = _ask(s.url, "C-9", event="something_else").json()
            dispositions = [d for d, _ in s.run(s.store.dispositions(later["invitation"]))]
        assert later["reason"] == "scheduled"
        assert item.channel == "inapp"
        assert shown["show"] is True
        assert shown["prompt"]["survey"] == "store_exit"
        assert Disposition.DELIVERED in dispositions

    def test_an_opt_out_in_the_ledger_is_kept(self, tmp_path: Path) -> None:
        """A customer who withdrew consent to in-app surveys is not asked."""
        with serve_widget(tmp_path, ORIGIN) as s:
            consent = Consent(
                "inapp", Purpose.SURVEY, granted=False, source="settings", recorded_at=s.clock.now()
            )
            s.run(s.store.record_consent("C-10", consent))
            r = _ask(s.url, "C-10").json()
        assert r == {"show": False, "reason": "no_channel"}

    def test_anonymous_visitors_are_asked_by_rules_for_them(self, tmp_path: Path) -> None:
        """Without identify, the rules decide for an anonymous visitor."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = _ask(s.url, None).json()
        assert r["show"] is True

    def test_bad_input_names_every_field_and_writes_nothing(self, tmp_path: Path) -> None:
        """Every problem is named; nothing is stored."""
        with serve_widget(tmp_path, ORIGIN) as s:
            r = _eligibility(
                s.url,
                {
                    "event": "",
                    "user": {"id": 7, "nick": "x"},
                    "properties": {"store": ["a"]},
                    "colour": 1,
                },
            )
            wrong_type = _eligibility(
                s.url, {"event": "chat_closed", "properties": {"store": ["BLR-01"]}}
            )
            spaced = _eligibility(s.url, {"event": "Chat closed"})
            broken = _eligibility(s.url, {"event": "chat_closed", "event_id": "a\nb"})
            counts = s.counts()
        assert r.status_code == 422
        paths = [p["path"] for p in r.json()["error"]["problems"]]
        assert paths == ["colour", "event", "user.nick", "user.id"]
        assert wrong_type.status_code == 422
        assert spaced.status_code == 422
        assert spaced.json()["error"]["problems"][0]["path"] == "event"
        assert broken.json()["error"]["problems"][0]["path"] == "event_id"
        assert wrong_type.json()["error"]["problems"][0]["path"].startswith("properties.store")
        assert counts["invitations"] == 0


class TestSignedUsers:
    def test_a_valid_token_proves_the_user(self, tmp_path: Path) -> None:
        """With the app's user secret, a user id comes with its token, or is refused."""
        with serve_widget(tmp_path, ORIGIN) as s:
            token = user_token(
                USER_SECRET, "bazaar-signed", "C-20", s.clock.now() + timedelta(hours=1)
            )
            headers = {"X-Cx-App-Key": SIGNED_KEY}
            good = _eligibility(
                s.url, {"event": "chat_closed", "user": {"id": "C-20", "token": token}}, **headers
            )
            spoofed = _eligibility(
                s.url, {"event": "chat_closed", "user": {"id": "C-21", "token": token}}, **headers
            )
            bare = _eligibility(s.url, {"event": "chat_closed", "user": {"id": "C-21"}}, **headers)
            anonymous = _eligibility(s.url, {"event": "chat_closed"}, **headers)
            s.clock.advance(timedelta(hours=2))
            expired = _eligibility(
                s.url, {"event": "chat_closed", "user": {"id": "C-20", "token": token}}, **headers
            )
        assert good.json()["show"] is True
        assert spoofed.status_code == 403
        assert "does not match" in spoofed.json()["error"]["message"]
        assert bare.status_code == 403
        assert anonymous.json() == {"show": False, "reason": "anonymous"}
        assert "expired" in expired.json()["error"]["message"]


class TestAnswers:
    def test_answers_are_stored_once_per_idempotency_key(self, tmp_path: Path) -> None:
        """The same answer posted twice (a retry from the queue) is stored once."""
        with serve_widget(tmp_path, ORIGIN) as s:
            prompt = _ask(s.url, "C-30").json()["prompt"]
            body = {"token": prompt["token"], "answers": {"ltr": 9}, "complete": True, "key": "k-1"}
            first = httpx.post(f"{s.url}/w/v1/answers", json=body, headers=HEADERS)
            second = httpx.post(f"{s.url}/w/v1/answers", json=body, headers=HEADERS)
            conflict = httpx.post(
                f"{s.url}/w/v1/answers", json={**body, "answers": {"ltr": 3}}, headers=HEADERS
            )
            responses = s.run(s.store.responses(survey_id="after_support"))
        assert first.status_code == 200
        assert first.json()["results"][0]["outcome"] == "created"
        assert second.json()["results"][0]["outcome"] == "repeated"
        assert conflict.status_code == 409
        assert len(responses) == 1
        assert responses[0].channel == "inapp"
        assert responses[0].customer_id == "C-30"

    def test_answers_without_a_key_or_with_a_forged_token_are_refused(self, tmp_path: Path) -> None:
        """No key is a 422 naming it; a forged token is a 403; neither writes."""
        with serve_widget(tmp_path, ORIGIN) as s:
            prompt = _ask(s.url, "C-31").json()["prompt"]
            nokey = httpx.post(
                f"{s.url}/w/v1/answers",
                json={"token": prompt["token"], "answers": {"ltr": 9}},
                headers=HEADERS,
            )
            forged = httpx.post(
                f"{s.url}/w/v1/answers",
                json={"token": prompt["token"][:-2] + "xx", "answers": {"ltr": 9}, "key": "k"},
                headers=HEADERS,
            )
            counts = s.counts()
        assert nokey.status_code == 422
        assert nokey.json()["error"]["problems"][0]["path"] == "key"
        assert forged.status_code == 403
        assert counts["responses"] == 0

    def test_shown_records_opened(self, tmp_path: Path) -> None:
        """The widget's "shown" is the invitation's ``opened``; a forged token is refused."""
        with serve_widget(tmp_path, ORIGIN) as s:
            prompt = _ask(s.url, "C-32").json()["prompt"]
            ok = httpx.post(f"{s.url}/w/v1/shown", json={"token": prompt["token"]}, headers=HEADERS)
            bad = httpx.post(f"{s.url}/w/v1/shown", json={"token": "x.y"}, headers=HEADERS)
            dispositions = [d for d, _ in s.run(s.store.dispositions(prompt["invitation"]))]
        assert ok.json() == {"ok": True}
        assert bad.status_code == 403
        assert Disposition.OPENED in dispositions

    def test_dismissed_records_a_refusal_that_an_answer_outranks(self, tmp_path: Path) -> None:
        """Closing the prompt is ``dismissed`` (AAPOR: a refusal); answering later outranks it."""
        with serve_widget(tmp_path, ORIGIN) as s:
            first = _ask(s.url, "C-33").json()["prompt"]
            second = _ask(s.url, "C-34").json()["prompt"]
            marks = [
                httpx.post(f"{s.url}/w/v1/{path}", json={"token": p["token"]}, headers=HEADERS)
                for path, p in (("shown", first), ("dismissed", first), ("dismissed", second))
            ]
            answered = httpx.post(
                f"{s.url}/w/v1/answers",
                json={"token": second["token"], "answers": {"ltr": 9}, "key": "k-34"},
                headers=HEADERS,
            )
            bad = httpx.post(f"{s.url}/w/v1/dismissed", json={"token": "x.y"}, headers=HEADERS)
            extra = httpx.post(
                f"{s.url}/w/v1/dismissed", json={"token": first["token"], "x": 1}, headers=HEADERS
            )
            reached = {
                p["invitation"]: [d for d, _ in s.run(s.store.dispositions(p["invitation"]))]
                for p in (first, second)
            }
        assert [m.json() for m in marks] == [{"ok": True}] * 3
        assert answered.status_code == 200
        assert (bad.status_code, extra.status_code) == (403, 422)
        assert progress(reached[first["invitation"]]) is Disposition.DISMISSED
        assert aapor_group(Disposition.DISMISSED) is AaporGroup.REFUSAL
        assert Disposition.DISMISSED in reached[second["invitation"]]
        assert progress(reached[second["invitation"]]) in (
            Disposition.STARTED,
            Disposition.COMPLETED,
        )


class TestScript:
    def test_the_script_is_immutable_under_its_hash(self, tmp_path: Path) -> None:
        """The hashed URL is cached for a year; the plain one redirects to it."""
        with serve_widget(tmp_path, ORIGIN) as s:
            url = s.collector.widget_url
            assert url is not None
            plain = httpx.get(f"{s.url}/w/cx-widget.js")
            script = httpx.get(url, headers={"Accept-Encoding": "gzip"})
            raw = httpx.get(url, headers={"Accept-Encoding": "identity"})
            stale = httpx.get(f"{s.url}/w/cx-widget.0000000000000000.js")
        assert plain.status_code == 307
        assert plain.headers["location"] == url.removeprefix(s.url.removesuffix("/r"))
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert script.headers["content-encoding"] == "gzip"
        assert script.content == raw.content
        assert len(gzip.compress(raw.content)) <= 15 * 1024
        assert stale.status_code == 404


class TestConfiguration:
    def test_apps_are_checked(self) -> None:
        """Every field of an app is checked, and named."""
        with pytest.raises(ValidationError) as caught:
            WidgetApp(
                id="a b", key="sk_secret", origins=("https://x.example/path",), user_secret="short"
            )
        text = str(caught.value)
        for name in ("id", "key", "origins[0]", "user_secret"):
            assert name in text

    def test_new_keys_are_valid(self) -> None:
        """A new publishable key is accepted by an app."""
        assert WidgetApp(id="a", key=new_publishable_key(), origins=("https://a.example",)).key

    def test_user_tokens_expire(self) -> None:
        """A token says its expiry, and is refused after it."""
        app = WidgetApp(
            id="a",
            key=new_publishable_key(),
            origins=("https://a.example",),
            user_secret=USER_SECRET,
        )
        at = datetime(2027, 1, 1, tzinfo=UTC)
        token = user_token(USER_SECRET, "a", "u", at)
        assert app.verify_user("u", token, at - timedelta(seconds=1)) is None
        assert app.verify_user("u", token, at) == "user.token has expired"


class TestOnPostgres:
    def test_the_email_window_and_an_answer_on_postgresql(self, postgres_dsn: str) -> None:
        """The same eligibility and answers over a PostgreSQL store (the collector in-process)."""
        from cxcore import ManualClock  # noqa: PLC0415
        from cxcore.collector import Collector  # noqa: PLC0415
        from cxcore.distribution import TokenService  # noqa: PLC0415
        from cxcore.stores import PostgresStore  # noqa: PLC0415
        from cxcore.testing import signed_invitation  # noqa: PLC0415
        from cxcore_channels.inapp import InAppChannel  # noqa: PLC0415
        from tests.collector_support import KEYS, SURVEYS, T0  # noqa: PLC0415
        from tests.inapp_support import RULES, apps  # noqa: PLC0415

        async def scenario() -> tuple[dict[str, object], dict[str, object], int, int]:
            clock = ManualClock(T0)
            tokens = TokenService(KEYS, clock=clock)
            async with PostgresStore(postgres_dsn, clock=clock) as store:
                for survey in SURVEYS:
                    await store.put_survey(survey)
                email = signed_invitation(
                    tokens,
                    invitation_id="email-pg",
                    survey_id="after_support",
                    created_at=T0 - timedelta(days=1),
                    address="c-70@example.in",
                    customer_id="C-70",
                )
                await store.add_invitation(email)
                collector = Collector(
                    store=store,
                    tokens=tokens,
                    public_url="https://cx.example.in/r",
                    channels={"inapp": InAppChannel()},
                    rules=RULES,
                    apps=apps(ORIGIN),
                    clock=clock,
                )
                transport = httpx.ASGITransport(app=collector)
                async with httpx.AsyncClient(
                    transport=transport, base_url="https://cx.example.in", headers=HEADERS
                ) as client:
                    ask = {"event": "chat_closed", "timezone": "Asia/Kolkata"}
                    quiet = await client.post(
                        "/w/v1/eligibility", json={**ask, "user": {"id": "C-70"}}
                    )
                    shown = await client.post(
                        "/w/v1/eligibility", json={**ask, "user": {"id": "C-71"}}
                    )
                    token = shown.json()["prompt"]["token"]
                    body = {"token": token, "answers": {"ltr": 8}, "key": "pg-1"}
                    statuses = [
                        (await client.post("/w/v1/answers", json=body)).status_code
                        for _ in range(2)
                    ]
                await collector.aclose()
                stored = await store.count_responses("after_support")
            assert statuses == [200, 200]
            return quiet.json(), shown.json(), stored, len(statuses)

        quiet, shown, stored, _ = asyncio.run(scenario())
        assert (quiet["show"], quiet["reason"]) == (False, "recontact_window")
        assert shown["show"] is True
        assert stored == 1
