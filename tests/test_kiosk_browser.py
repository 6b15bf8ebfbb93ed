"""The kiosk page in a real browser: offline, restarted, two tabs, refusals, idle, axe, agents.

Debian's Chromium driven by Playwright (see ``tests/test_collector_browser.py``).
Every answer the page sends is seen twice: by the browser (each request to
``/kiosk/api/answers``, from every tab) and by the store. "Exactly once" means
each answer's key is in one request that the server answered 200, and in one
stored response.

Screenshots for the docs: ``CXCORE_KIOSK_SCREENSHOTS=docs/images pytest -k screenshots``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cxcore import RespondentKind
from cxcore.collector import RateLimits
from tests.collector_support import Served, serve_collector
from tests.test_collector_browser import (
    CHROMIUM,
    FLAGS,
    TIMEOUT_MS,
    Chromium,
    _missing,
    axe_report,
    axe_violations,
)
from tests.test_kiosk import add_kiosk

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright, Request

pytestmark = pytest.mark.slow

# Short timers, so that idle resets and retries happen within a test.
FAST = "idle=3&thanks=1&flush=1&backoff=0.3&beat=3600"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One Chromium for this module's tests, as the collector's browser tests launch it."""
    problem = _missing()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only if installed

    runner = asyncio.Runner()

    async def launch() -> tuple[Playwright, Browser]:
        playwright = await async_playwright().start()
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, timeout=60_000
        )
        return playwright, browser

    playwright, browser = runner.run(launch())

    async def close() -> None:
        await browser.close()
        await playwright.stop()

    try:
        yield Chromium(runner, playwright, browser)
    finally:
        runner.run(close())
        runner.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_collector(tmp_path, limits=RateLimits(per_address=None, per_key=None)) as s:
        yield s


class Sent:
    """Every answers request the browser makes, from any tab: the keys each carried, and its status."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.statuses: list[int] = []

    def watch(self, context: BrowserContext) -> None:
        def on_request(request: Request) -> None:
            if request.url.endswith("/kiosk/api/answers") and request.method == "POST":
                body = json.loads(request.post_data or "{}")
                self.requests.append([item["key"] for item in body["items"]])

        async def on_response(response: Any) -> None:
            if response.url.endswith("/kiosk/api/answers"):
                self.statuses.append(response.status)

        context.on("request", on_request)
        context.on("response", on_response)

    def keys(self) -> list[str]:
        return [key for keys in self.requests for key in keys]


def stored(served: Served) -> list[Any]:
    return served.run(served.store.responses(survey_id="store_exit"))


def kiosk_url(served: Served, key: str | None = None, query: str = FAST) -> str:
    return f"{served.url}/kiosk/?{query}" + (f"#key={key}" if key else "")


async def queue_is(page: Page, n: int) -> None:
    await page.wait_for_selector(f"body[data-queue='{n}']", state="attached")


async def screen_is(page: Page, name: str) -> None:
    await page.wait_for_selector(f"#{name}:not([hidden])")


async def answer(page: Page, score: int = 4, comment: str | None = None) -> None:
    """One visitor: start, tap a score, comment or skip; the thank-you screen shows."""
    await screen_is(page, "attract")
    await page.click("#start")
    await screen_is(page, "question")
    await page.click(f"#q-choices button[data-value='{score}']")
    await screen_is(page, "comment")
    if comment:
        await page.fill("#comment-text", comment)
        await page.click("#comment-send")
    else:
        await page.click("#comment-skip")
    await screen_is(page, "thanks")


async def stored_count(served: Served, n: int, page: Page) -> None:
    """Wait (up to 10 s) for *n* stored responses."""
    for _ in range(100):
        if len(stored(served)) >= n:
            return
        await page.wait_for_timeout(100)
    raise AssertionError(f"{len(stored(served))} responses stored, not {n}")


async def dropped_count(page: Page, n: int) -> list[dict[str, Any]]:
    """Wait (up to 10 s) for *n* answers refused and reported by the page."""
    for _ in range(100):
        dropped: list[dict[str, Any]] = await page.evaluate("window.cxKiosk.dropped()")
        if len(dropped) >= n:
            return dropped
        await page.wait_for_timeout(100)
    raise AssertionError(f"{len(dropped)} answers reported refused, not {n}")


class TestOffline:
    def test_answers_survive_offline_reload_and_restart_and_arrive_once(
        self, chromium: Chromium, served: Served, tmp_path: Path
    ) -> None:
        """Online, offline twice, reload offline, restart the browser, online: three answers, once each."""
        key = add_kiosk(served)
        profile = tmp_path / "profile"
        sent = Sent()

        async def launch() -> BrowserContext:
            context = await chromium.playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), args=FLAGS
            )
            context.set_default_timeout(TIMEOUT_MS)
            sent.watch(context)
            return context

        async def scenario() -> None:
            context = await launch()
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(kiosk_url(served, key))
            await answer(page, 5, "Friendly staff")
            await stored_count(served, 1, page)
            await queue_is(page, 0)
            await page.evaluate("navigator.serviceWorker.ready")

            await context.set_offline(True)
            await screen_is(page, "attract")
            await answer(page, 2)
            await screen_is(page, "attract")
            await answer(page, 3)
            await queue_is(page, 2)
            assert "Offline" in await page.inner_text("#status-net")

            await page.reload()  # offline: the service worker serves the shell
            await screen_is(page, "attract")
            await queue_is(page, 2)
            await context.close()

            context = await launch()  # the same profile: IndexedDB and the worker's cache
            await context.set_offline(True)
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(kiosk_url(served))
            await screen_is(page, "attract")
            await queue_is(page, 2)
            assert len(stored(served)) == 1
            await context.set_offline(False)
            await queue_is(page, 0)
            await context.close()

        chromium.run(scenario())
        responses = stored(served)
        assert len(responses) == 3
        assert sorted(r.answers["sat"] for r in responses) == [2, 3, 5]
        keys = sent.keys()
        assert len(set(keys)) == 3
        assert all(r.context["touchpoint"] == "store_exit" for r in responses)

    def test_a_503_keeps_answers_and_a_422_removes_and_reports_them(
        self, chromium: Chromium, served: Served
    ) -> None:
        """5xx: queued, retried with backoff, then delivered. 4xx: out of the queue, reported."""
        key = add_kiosk(served)
        sent = Sent()

        async def scenario() -> dict[str, Any]:
            context = await chromium.context(service_workers="block")  # so routes see every request
            sent.watch(context)
            page = await context.new_page()
            await page.goto(kiosk_url(served, key))
            await screen_is(page, "attract")

            async def unavailable(route: Any) -> None:
                await route.fulfill(status=503, json={"ok": False})

            await context.route("**/kiosk/api/answers", unavailable)
            await answer(page, 4)
            for _ in range(300):  # the first try, and a retry after backoff
                if sent.statuses.count(503) >= 2:
                    break
                await page.wait_for_timeout(100)
            assert sent.statuses.count(503) >= 2, sent.statuses
            await queue_is(page, 1)
            assert stored(served) == []
            await context.unroute("**/kiosk/api/answers")
            await queue_is(page, 0)
            await stored_count(served, 1, page)

            async def retired(route: Any) -> None:
                await route.fulfill(
                    status=422, json={"ok": False, "error": {"reason": "invalid_request"}}
                )

            await context.route("**/kiosk/api/answers", retired)
            await screen_is(page, "attract")
            await answer(page, 1)
            dropped = await dropped_count(page, 1)
            await queue_is(page, 0)
            status = await page.inner_text("#status-queue")
            await context.unroute("**/kiosk/api/answers")
            await page.evaluate("window.cxKiosk.heartbeat()")
            await context.close()
            return {"dropped": dropped, "status": status}

        seen = chromium.run(scenario())
        assert [r.answers["sat"] for r in stored(served)] == [4]
        (report,) = seen["dropped"]
        assert report["status"] == 422
        assert report["item"]["answers"] == {"sat": 1}
        assert "1 answer(s) refused" in seen["status"]
        kiosk = served.run(served.store.kiosk("blr-01-exit"))
        assert kiosk is not None
        assert kiosk.dropped == 1
        assert kiosk.queue_length == 0
        assert sent.statuses.count(503) >= 2

    def test_the_device_keeps_the_latest_200_refusal_reports(
        self, chromium: Chromium, served: Served
    ) -> None:
        """205 answers refused: all leave the queue, the oldest 5 reports are let go."""
        key = add_kiosk(served)

        async def scenario() -> list[dict[str, Any]]:
            context = await chromium.context(service_workers="block")  # so routes see every request
            page = await context.new_page()
            await page.goto(kiosk_url(served, key))
            await screen_is(page, "attract")
            await context.route(
                "**/kiosk/api/answers", lambda route: route.fulfill(status=422, json={})
            )
            await context.set_offline(True)
            await page.evaluate(
                "async () => { for (let i = 0; i < 205; i++) "
                "{ await window.cxKiosk.record({sat: 1 + (i % 5)}); } }"
            )
            await queue_is(page, 205)
            await context.set_offline(False)
            await queue_is(page, 0)
            reports = await dropped_count(page, 200)
            await context.close()
            return reports

        reports = chromium.run(scenario())
        assert len(reports) == 200
        assert stored(served) == []

    def test_idle_resets_to_the_attract_screen_keeping_what_was_answered(
        self, chromium: Chromium, served: Served
    ) -> None:
        """A visitor who walks away: the page returns to attract; a score given is kept, incomplete."""
        key = add_kiosk(served)

        async def scenario() -> None:
            context = await chromium.context()
            page = await context.new_page()
            await page.goto(kiosk_url(served, key))
            await screen_is(page, "attract")
            await page.click("#start")
            await screen_is(page, "question")
            await screen_is(page, "attract")  # idle: nothing answered, nothing sent
            assert stored(served) == []
            await page.click("#languages button[lang=hi]")
            await screen_is(page, "question")
            assert await page.get_attribute("html", "lang") == "hi"
            await page.click("#q-choices button[data-value='2']")
            await screen_is(page, "comment")
            await screen_is(page, "attract")  # walked away at the comment
            assert await page.get_attribute("html", "lang") == "en"
            await queue_is(page, 0)
            await stored_count(served, 1, page)
            await context.close()

        chromium.run(scenario())
        (response,) = stored(served)
        assert response.answers == {"sat": 2}
        assert not response.is_complete
        assert response.locale == "hi"

    def test_a_revoked_key_keeps_the_answers_and_says_so(
        self, chromium: Chromium, served: Served
    ) -> None:
        """Revoked, the kiosk is refused at once; answers stay queued (still visitors'); staff see why."""
        key = add_kiosk(served)

        async def scenario() -> tuple[str, int]:
            context = await chromium.context()
            page = await context.new_page()
            await page.goto(kiosk_url(served, key))
            await screen_is(page, "attract")
            served.run(served.store.revoke_kiosk("blr-01-exit", at=served.clock.now()))
            await answer(page, 3)
            await queue_is(page, 1)
            await page.wait_for_selector("#status-net:has-text('refused')")
            status = await page.inner_text("#status-net")
            dropped = len(await page.evaluate("window.cxKiosk.dropped()"))
            await context.close()
            return status, dropped

        status, dropped = chromium.run(scenario())
        assert status == "This key was refused. Check it and try again."
        assert dropped == 0
        assert stored(served) == []

    def test_the_next_tap_delivers_what_a_network_error_held_back(
        self, chromium: Chromium, served: Served
    ) -> None:
        """No timer, a long backoff: a failed send waits; the next visitor's tap sends it."""
        key = add_kiosk(served)

        async def scenario() -> None:
            context = await chromium.context(service_workers="block")  # so routes see every request
            page = await context.new_page()
            await page.goto(kiosk_url(served, key, "flush=3600&backoff=600&thanks=1"))
            await screen_is(page, "attract")
            await context.route("**/kiosk/api/answers", lambda route: route.abort())
            await answer(page, 5)
            await page.wait_for_selector("body[data-queue='1']", state="attached")
            await screen_is(page, "attract")
            await page.wait_for_timeout(500)  # the failed send is settled, under backoff
            await context.unroute("**/kiosk/api/answers")
            assert stored(served) == []
            await page.wait_for_timeout(3100)  # taps deliver at most every 3 s
            await page.click("#start")  # the next visitor
            await stored_count(served, 1, page)
            await context.close()

        chromium.run(scenario())
        assert [r.answers["sat"] for r in stored(served)] == [5]

    def test_a_queue_too_large_for_one_request_is_sent_in_smaller_ones(
        self, chromium: Chromium, tmp_path: Path
    ) -> None:
        """A 413 halves the request until it fits: long comments are delivered, none dropped."""
        with serve_collector(
            tmp_path, limits=RateLimits(per_address=None, per_key=None), max_body_bytes=3000
        ) as served:
            key = add_kiosk(served)
            sent = Sent()

            async def scenario() -> int:
                context = await chromium.context()
                sent.watch(context)
                page = await context.new_page()
                await page.goto(kiosk_url(served, key))
                await screen_is(page, "attract")
                await context.set_offline(True)
                for i in range(12):
                    note = f"{i}: " + "The trial rooms had a long queue. " * 8
                    await page.evaluate("a => window.cxKiosk.record(a)", {"sat": 3, "note": note})
                await queue_is(page, 12)
                await context.set_offline(False)
                await stored_count(served, 12, page)
                await queue_is(page, 0)
                dropped = len(await page.evaluate("window.cxKiosk.dropped()"))
                await context.close()
                return dropped

            assert chromium.run(scenario()) == 0
            assert len(stored(served)) == 12
        assert 413 in sent.statuses
        assert len(sent.requests) > 2


class TestUpdates:
    def test_a_new_survey_version_reaches_a_running_kiosk(
        self, chromium: Chromium, served: Served
    ) -> None:
        """With the next heartbeat the kiosk takes the new version; answers name it."""
        from cxcore import CsatQuestion, Survey  # noqa: PLC0415

        key = add_kiosk(served)
        newer = Survey(
            id="store_exit",
            version=2,
            title={"en": "Your visit today", "hi": "आज की आपकी यात्रा"},
            questions=[
                CsatQuestion(
                    id="sat",
                    required=True,
                    display="emoji",
                    text={"en": "How was the checkout?", "hi": "बिलिंग कैसी रही?"},
                )
            ],
        )

        async def scenario() -> str:
            context = await chromium.context()
            page = await context.new_page()
            await page.goto(kiosk_url(served, key, "beat=1&thanks=1"))
            await screen_is(page, "attract")
            served.run(served.store.put_survey(newer))
            await page.wait_for_timeout(2500)  # a heartbeat or two
            await page.click("#start")
            await screen_is(page, "question")
            text = await page.inner_text("#q-text")
            await page.click("#q-choices button[data-value='4']")
            await screen_is(page, "thanks")
            await stored_count(served, 1, page)
            await context.close()
            return text

        assert chromium.run(scenario()) == "How was the checkout?"
        (response,) = stored(served)
        assert response.survey_version == 2


class TestTwoTabs:
    def test_two_tabs_flushing_at_once_send_each_answer_once(
        self, chromium: Chromium, served: Served
    ) -> None:
        """Six answers queued in two tabs offline; both flush on reconnect; none is sent twice."""
        key = add_kiosk(served)
        sent = Sent()

        async def scenario() -> None:
            context = await chromium.context()
            sent.watch(context)
            first = await context.new_page()
            await first.goto(kiosk_url(served, key))
            await screen_is(first, "attract")
            second = await context.new_page()
            await second.goto(kiosk_url(served))
            await screen_is(second, "attract")
            await context.set_offline(True)
            for page, score in ((first, 1), (second, 2), (first, 3), (second, 4), (first, 5)):
                await screen_is(page, "attract")
                await answer(page, score)
            await screen_is(second, "attract")
            await answer(second, 5)
            await queue_is(second, 6)
            await context.set_offline(False)
            await first.evaluate("window.cxKiosk.flush()")
            await second.evaluate("window.cxKiosk.flush()")
            await queue_is(first, 0)
            await queue_is(second, 0)
            await stored_count(served, 6, first)
            await context.close()

        chromium.run(scenario())
        keys = sent.keys()
        assert len(keys) == len(set(keys)) == 6, sent.requests
        assert sorted(r.answers["sat"] for r in stored(served)) == [1, 2, 3, 4, 5, 5]


class TestAgentMode:
    def test_staff_record_what_a_customer_said_marked_agent_reported(
        self, chromium: Chromium, served: Served
    ) -> None:
        """The staff form needs an id and an answer; what it saves is agent-reported."""
        key = add_kiosk(served)

        async def scenario() -> None:
            context = await chromium.context()
            page = await context.new_page()
            await page.goto(kiosk_url(served, key, "thanks=1"))
            await screen_is(page, "attract")
            await page.click("#staff")
            await screen_is(page, "agent")
            await page.click("#agent-form button[type=submit]")
            assert await page.inner_text("#agent-error") != ""
            await page.fill("#agent-id", "E-1042")
            await page.check("#agent-questions input[name=sat][value='2']")
            await page.fill("#agent-questions textarea[name=note]", "Could not find sizes")
            await page.click("#agent-form button[type=submit]")
            await screen_is(page, "thanks")
            await queue_is(page, 0)
            await stored_count(served, 1, page)
            await context.close()

        chromium.run(scenario())
        (response,) = stored(served)
        assert response.respondent is RespondentKind.AGENT
        assert response.agent_id == "E-1042"
        assert response.answers == {"sat": 2, "note": "Could not find sizes"}


SCREENS = ["setup", "attract", "question-hi", "comment", "thanks", "agent"]


async def _bring(page: Page, served: Served, key: str, screen: str) -> None:
    if screen == "setup":
        await page.goto(kiosk_url(served))
        await screen_is(page, "setup")
        return
    await page.goto(kiosk_url(served, key, "idle=600&thanks=600"))
    await screen_is(page, "attract")
    if screen == "question-hi":
        await page.click("#languages button[lang=hi]")
        await screen_is(page, "question")
    elif screen in ("comment", "thanks"):
        await page.click("#start")
        await page.click("#q-choices button[data-value='5']")
        await screen_is(page, "comment")
        if screen == "thanks":
            await page.click("#comment-skip")
            await screen_is(page, "thanks")
    elif screen == "agent":
        await page.click("#staff")
        await screen_is(page, "agent")


class TestAccessibility:
    @pytest.mark.parametrize("screen", SCREENS)
    def test_no_serious_or_critical_axe_violation(
        self, chromium: Chromium, served: Served, screen: str
    ) -> None:
        """axe-core finds nothing serious or critical on each of the kiosk's screens."""
        key = add_kiosk(served)

        async def scenario() -> list[dict[str, Any]]:
            context = await chromium.context()
            page = await context.new_page()
            await _bring(page, served, key, screen)
            violations = await axe_violations(page)
            await context.close()
            return violations

        violations = chromium.run(scenario())
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not bad, axe_report(bad)


@pytest.mark.skipif(
    not os.environ.get("CXCORE_KIOSK_SCREENSHOTS"), reason="set CXCORE_KIOSK_SCREENSHOTS=DIR"
)
def test_screenshots(chromium: Chromium, served: Served) -> None:
    """Screenshots of the kiosk in English and Hindi, for the docs."""
    folder = Path(os.environ["CXCORE_KIOSK_SCREENSHOTS"])
    key = add_kiosk(served)

    async def scenario() -> None:
        context = await chromium.context(viewport={"width": 1024, "height": 640})
        page = await context.new_page()
        await page.goto(kiosk_url(served, key, "idle=600"))
        await screen_is(page, "attract")
        await page.screenshot(path=folder / "kiosk-attract.png")
        for locale in ("en", "hi"):
            await page.goto(kiosk_url(served, None, "idle=600"))
            await screen_is(page, "attract")
            await page.click(f"#languages button[lang={locale}]")
            await screen_is(page, "question")
            await page.screenshot(path=folder / f"kiosk-{locale}.png")
        await context.close()

    chromium.run(scenario())
