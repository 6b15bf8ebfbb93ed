"""The in-app widget in Debian's Chromium, on a page of another loopback origin.

The collector runs on one port; the host app's pages on another (another
origin), and a page that is not allowed on a third. Each test drives the
widget through its host API (``cx.identify``, ``cx.track``) and looks at
what the store and the server saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from cxcore import Disposition
from tests.collector_support import Served, free_port
from tests.inapp_support import APP_KEY, Recorder, serve_widget
from tests.test_collector_browser import (  # the session's one Chromium
    Chromium,
    axe_report,
    axe_violations,
    chromium,
)

if TYPE_CHECKING:
    from playwright._impl._api_structures import Clip
    from playwright.async_api import BrowserContext, Page
    from playwright.async_api import Route as Routed

pytestmark = pytest.mark.slow
__all__ = ["chromium"]  # the fixture, imported for this module's tests

DOCS = Path(__file__).resolve().parent.parent / "docs" / "channels"

HOSTILE = (
    "* { display: none !important; font: 40px/3 serif !important; color: red !important;"
    " background: yellow !important; box-sizing: content-box !important;"
    " visibility: hidden !important; } html, body { display: block !important;"
    " visibility: visible !important; }"
)

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Bazaar</title>
<style>{style}</style></head>
<body><main><h1>Bazaar</h1><p>Your chat with Ravi has ended.</p></main>
<script src="{script}" data-key="{key}"></script>
<script src="/events.js"></script>
</body></html>"""

EVENTS_JS = """window.seen = [];
['shown', 'answered', 'dismissed', 'error'].forEach(function (name) {
  cx.on(name, function (detail) { window.seen.push([name, detail]); });
});"""


@contextlib.contextmanager
def serve_host(script: str, *, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """The host app's pages, on an origin of their own (*host* and *port*)."""

    async def page(request: Request) -> HTMLResponse:
        hostile = request.query_params.get("hostile") == "1"
        lang = request.query_params.get("lang", "en")
        html = PAGE.format(
            lang=escape(lang), style=HOSTILE if hostile else "", script=script, key=APP_KEY
        )
        return HTMLResponse(html)

    async def events(request: Request) -> HTMLResponse:
        del request
        return HTMLResponse(EVENTS_JS, media_type="text/javascript")

    app = Starlette(routes=[Route("/", page), Route("/events.js", events)])
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@contextlib.contextmanager
def widget_site(tmp_path: Path) -> Iterator[tuple[Served, str, str, Recorder]]:
    """The collector, the allowed host origin, a disallowed one, and what reached the collector."""
    port = free_port()
    allowed = f"http://127.0.0.1:{port}"
    recorder: list[Recorder] = []
    with serve_widget(tmp_path, allowed, recorder=recorder) as served:
        script = served.collector.widget_url
        assert script is not None
        with (
            serve_host(script, port=port) as host,
            serve_host(script, host="localhost") as other,
        ):
            assert host == allowed
            yield served, host, other, recorder[0]


async def _open(chromium: Chromium, url: str, **options: Any) -> tuple[BrowserContext, Page]:
    context = await chromium.context(reduced_motion="reduce", **options)
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_function("window.cx && window.seen")
    return context, page


_STYLES = """() => {
  const root = document.querySelector('[data-cx-widget]').shadowRoot;
  const names = ['display', 'visibility', 'font-family', 'font-size', 'line-height', 'color',
                 'background-color', 'width', 'height', 'box-sizing', 'margin', 'padding'];
  return [...root.querySelectorAll('*')].filter(e => e.tagName !== 'STYLE').map(e => {
    const style = getComputedStyle(e);
    return e.tagName + ' ' + names.map(n => style.getPropertyValue(n)).join('|');
  });
}"""


async def _styles(page: Page) -> list[str]:
    """The computed style of every element of the widget, as text."""
    styles: list[str] = await page.evaluate(_STYLES)
    return styles


async def _drained(page: Page) -> None:
    """Wait (up to the test timeout) until the widget's queue of answers is empty."""
    for _ in range(100):
        if int(await page.evaluate("cx.pending()")) == 0:
            return
        await page.wait_for_timeout(100)
    pytest.fail("the widget's queue of answers did not empty in 10 s")


async def _track(page: Page, user: str, event: str = "chat_closed") -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(
        "([user, event]) => { cx.identify({id: user}); return cx.track(event, {agent: 'A-7'}); }",
        [user, event],
    )
    return result


def test_an_allowed_origin_shows_the_survey_and_the_answer_arrives(chromium, tmp_path):
    """On the allowed origin: shown, answered by clicks and text, stored once, events fired."""
    with widget_site(tmp_path) as (served, host, _other, recorder):

        async def scenario() -> list[Any]:
            context, page = await _open(chromium, f"{host}/?lang=en")
            try:
                assert (await _track(page, "C-100"))["show"] is True
                dialog = page.get_by_role("dialog", name="Your call with Bazaar")
                await dialog.wait_for()
                await dialog.locator("button[data-value='9']").click()
                await dialog.locator("button[data-value='4']").click()
                await dialog.get_by_role("textbox").fill("Quick and kind")
                await dialog.get_by_role("button", name="Send").click()
                await dialog.get_by_role("status").wait_for()
                await _drained(page)
                await page.wait_for_function("window.seen.length >= 2")
                seen: list[Any] = await page.evaluate("window.seen.map(e => e[0])")
                return seen
            finally:
                await context.close()

        seen = chromium.run(scenario())
        responses = served.run(served.store.responses(survey_id="after_support"))
        posts = recorder.requests("/r/w/v1/answers")
    assert seen == ["shown", "answered"]
    (response,) = responses
    assert dict(response.answers) == {"ltr": 9, "agent": 4, "why": "Quick and kind"}
    assert response.is_complete
    assert (response.channel, response.customer_id) == ("inapp", "C-100")
    assert [m for m, _ in posts if m == "POST"] == ["POST"]


def test_a_disallowed_origin_is_blocked_by_the_browser(chromium, tmp_path):
    """On another origin, the preflight fails: the eligibility POST never reaches the server."""
    with widget_site(tmp_path) as (served, _host, other, recorder):

        async def scenario() -> str:
            context, page = await _open(chromium, f"{other}/")
            try:
                return str(
                    await page.evaluate(
                        "cx.identify({id: 'C-200'}); "
                        "cx.track('chat_closed').then(() => 'answered', e => e.name)"
                    )
                )
            finally:
                await context.close()

        outcome = chromium.run(scenario())
        seen = recorder.requests("/r/w/v1/eligibility")
        counts = served.counts()
    assert outcome == "TypeError"  # fetch's network error: CORS refused
    assert seen == [("OPTIONS", other)]
    assert counts["invitations"] == 0


def test_hostile_css_does_not_change_the_widget(chromium, tmp_path):
    """A page hiding and restyling every element of its own shows the same widget, pixel for pixel."""
    with widget_site(tmp_path) as (_served, host, _other, _recorder):

        async def shot(*, hostile: bool, user: str) -> tuple[bytes, dict[str, object]]:
            context, page = await _open(
                chromium, f"{host}/?hostile={int(hostile)}", viewport={"width": 800, "height": 600}
            )
            try:
                await _track(page, user)
                dialog = page.get_by_role("dialog")
                await dialog.wait_for()
                box = await dialog.bounding_box()
                assert box is not None
                # Inside the rounded corners, where the page behind cannot show.
                inner: Clip = {
                    "x": box["x"] + 12,
                    "y": box["y"] + 12,
                    "width": box["width"] - 24,
                    "height": box["height"] - 24,
                }
                where: dict[str, object] = {**box, "styles": await _styles(page)}
                return await page.screenshot(clip=inner), where
            finally:
                await context.close()

        async def scenario() -> tuple[tuple[bytes, Any], tuple[bytes, Any]]:
            return await shot(hostile=False, user="C-300"), await shot(hostile=True, user="C-301")

        (plain, plain_box), (hostile, hostile_box) = chromium.run(scenario())
    assert hostile_box == plain_box
    assert hostile == plain


def test_an_email_invitation_keeps_the_widget_quiet(chromium, tmp_path):
    """A customer inside the recontact window of an email invitation sees nothing."""
    from tests.inapp_support import email_invitation  # noqa: PLC0415

    with widget_site(tmp_path) as (served, host, _other, _recorder):
        email_invitation(served, "C-400", days_ago=1)

        async def scenario() -> tuple[dict[str, Any], int]:
            context, page = await _open(chromium, f"{host}/")
            try:
                result = await _track(page, "C-400")
                hosts = await page.locator("[data-cx-widget]").count()
                return result, hosts
            finally:
                await context.close()

        result, hosts = chromium.run(scenario())
    assert (result["show"], result["reason"]) == (False, "recontact_window")
    assert hosts == 0


def test_an_anonymous_visitor_is_asked_once_per_window_by_this_browser(chromium, tmp_path):
    """Without identify, the browser keeps the recontact window: the second track asks no one."""
    with widget_site(tmp_path) as (_served, host, _other, recorder):

        async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
            context, page = await _open(chromium, f"{host}/")
            try:
                first: dict[str, Any] = await page.evaluate("cx.track('chat_closed')")
                await page.get_by_role("dialog").wait_for()
                await page.keyboard.press("Tab")
                await page.keyboard.press("Escape")
                await page.reload()
                await page.wait_for_function("window.cx && window.seen")
                second: dict[str, Any] = await page.evaluate("cx.track('chat_closed')")
                return first, second
            finally:
                await context.close()

        first, second = chromium.run(scenario())
        posts = [m for m, _ in recorder.requests("/r/w/v1/eligibility") if m == "POST"]
    assert first["show"] is True
    assert (second["show"], second["reason"]) == (False, "recontact_window")
    assert posts == ["POST"]


def test_answers_wait_offline_and_go_out_once_back_online(chromium, tmp_path):
    """Offline, the answer waits in IndexedDB; back online it is sent, and stored once."""
    with widget_site(tmp_path) as (served, host, _other, recorder):

        async def scenario() -> tuple[int, int]:
            context, page = await _open(chromium, f"{host}/")
            try:
                await _track(page, "C-500")
                dialog = page.get_by_role("dialog")
                await dialog.locator("button[data-value='10']").click()
                await dialog.locator("button[data-value='5']").click()
                await context.set_offline(True)
                await dialog.get_by_role("button", name="Send").click()
                await dialog.get_by_role("status").wait_for()
                offline = int(await page.evaluate("cx.pending()"))
                await context.set_offline(False)  # the page's "online" event sends the queue
                await _drained(page)
                await page.evaluate("cx.flush()")  # a second flush finds nothing to send
                return offline, int(await page.evaluate("cx.pending()"))
            finally:
                await context.close()

        offline, after = chromium.run(scenario())
        responses = served.run(served.store.responses(survey_id="after_support"))
    assert (offline, after) == (1, 0)
    (response,) = responses
    assert dict(response.answers) == {"ltr": 10, "agent": 5}
    assert recorder.requests("/r/w/v1/answers").count(("POST", host)) == 1


def test_a_5xx_keeps_the_answer_and_a_4xx_drops_it_and_says_so(chromium, tmp_path):
    """A 503 keeps the answer queued; a 422 takes it out of the queue and fires "error"."""
    with widget_site(tmp_path) as (_served, host, _other, _recorder):

        async def scenario() -> tuple[int, int, list[Any]]:
            context, page = await _open(chromium, f"{host}/")
            try:
                await _track(page, "C-800")
                dialog = page.get_by_role("dialog")
                status = {"code": 503}

                async def refuse(route: Routed) -> None:
                    await route.fulfill(
                        status=status["code"],
                        headers={"Access-Control-Allow-Origin": host},
                        content_type="application/json",
                        body='{"ok": false}',
                    )

                await page.route("**/w/v1/answers", refuse)
                await dialog.locator("button[data-value='9']").click()
                await dialog.locator("button[data-value='2']").click()
                await dialog.get_by_role("button", name="Send").click()
                await dialog.get_by_role("status").wait_for()
                kept = int(await page.evaluate("cx.flush().then(() => cx.pending())"))
                status["code"] = 422
                await page.evaluate("cx.flush()")
                left = int(await page.evaluate("cx.pending()"))
                errors: list[Any] = await page.evaluate(
                    "window.seen.filter(e => e[0] === 'error').map(e => e[1].status)"
                )
                return kept, left, errors
            finally:
                await context.close()

        kept, left, errors = chromium.run(scenario())
    assert (kept, left) == (1, 0)
    assert errors == [422]


def test_the_keyboard_alone_answers_and_escape_dismisses(chromium, tmp_path):
    """Tab reaches the scale, Enter answers; Escape closes the prompt, says so, and records it."""
    with widget_site(tmp_path) as (served, host, _other, _recorder):

        async def scenario() -> list[Any]:
            context, page = await _open(chromium, f"{host}/")
            try:
                dialog = page.get_by_role("dialog")
                async with page.expect_response(lambda r: r.url.endswith("/w/v1/shown")):
                    await _track(page, "C-600")
                    await dialog.wait_for()
                for _ in range(40):
                    await page.keyboard.press("Tab")
                    label = await page.evaluate(
                        "(document.activeElement.shadowRoot || document).activeElement"
                        "?.getAttribute('aria-label') || ''"
                    )
                    if label.startswith("8"):
                        break
                await page.keyboard.press("Enter")
                await dialog.get_by_role("group", name="Rate the agent").wait_for()
                # The partial answer and the dismissal are posted as the prompt closes: the
                # browser context is closed only once the collector has answered both.
                async with (
                    page.expect_response(lambda r: r.url.endswith("/w/v1/dismissed")),
                    page.expect_response(lambda r: r.url.endswith("/w/v1/answers")),
                ):
                    await page.keyboard.press("Escape")
                await page.wait_for_function("window.seen.length >= 2")
                events: list[Any] = await page.evaluate("window.seen.map(e => e[0])")
                invitation = await page.evaluate("window.seen[1][1].invitation")
                count = await page.locator("[data-cx-widget]").count()
                return [*events, count, invitation]
            finally:
                await context.close()

        *seen, invitation = chromium.run(scenario())
        reached: list[Disposition] = []
        for _ in range(100):  # the dismissal and the partial answer are sent as the prompt closes
            reached = [d for d, _ in served.run(served.store.dispositions(invitation))]
            if {Disposition.DISMISSED, Disposition.STARTED} <= set(reached):
                break
            time.sleep(0.1)
    assert seen == ["shown", "dismissed", 0]
    assert {Disposition.OPENED, Disposition.DISMISSED, Disposition.STARTED} <= set(reached)


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_axe_finds_no_serious_violation_and_the_screenshot_is_kept(chromium, tmp_path, lang):
    """axe-core on a page showing the widget, in English and Hindi; the screenshot goes to docs."""
    with widget_site(tmp_path) as (_served, host, _other, _recorder):

        async def scenario() -> tuple[list[dict[str, Any]], bytes]:
            context, page = await _open(
                chromium,
                f"{host}/?lang={lang}",
                viewport={"width": 420, "height": 560},
                locale="hi-IN" if lang == "hi" else "en-IN",
            )
            try:
                await _track(page, f"C-7{lang}")
                dialog = page.get_by_role("dialog")
                await dialog.wait_for()
                violations = await axe_violations(page)
                return violations, await dialog.screenshot()
            finally:
                await context.close()

        violations, png = chromium.run(scenario())
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, axe_report(bad)
    if os.environ.get("CXCORE_WRITE_SCREENSHOTS"):
        (DOCS / f"inapp-{lang}.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(violations)  # the report is plain data
