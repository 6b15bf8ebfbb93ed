"""The collector's pages in a real browser: Debian's Chromium, driven by Playwright.

One Chromium serves the whole test session (async API, on one event loop kept
by :class:`asyncio.Runner`); each test opens contexts of its own. The browser
is Debian's ``chromium`` package at ``/usr/bin/chromium``, never one that
``playwright install`` downloads. Without it (or without Playwright) the tests
skip with the reason, except in CI (``CI`` set), where they fail.

axe-core comes inside the ``axe-playwright-python`` wheel, so nothing is
fetched at run time.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
import pytest

from cxcore.collector import RateLimits
from tests.collector_support import Served, serve_collector

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

T = TypeVar("T")

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000
HTML = {"Accept": "text/html"}
DEVANAGARI = re.compile("[\u0900-\u097f]")
CONSONANTS = re.compile("[\u0915-\u0939]")  # क..ह: letters that stand alone


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for module, package in (
        ("playwright.async_api", "playwright"),
        ("axe_playwright_python.async_playwright", "axe-playwright-python"),
    ):
        try:
            __import__(module)
        except ModuleNotFoundError:
            return f"{package} is not installed (pip install {package}; never `playwright install`)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        where = f" (there is one at {found}, but the tests use Debian's)" if found else ""
        return (
            f"Debian's Chromium is not at {CHROMIUM}{where}: "
            "as root, run apt-get update && apt-get install -y chromium fonts-lohit-deva"
        )
    return None


class Chromium:
    """One Chromium for the session, on an event loop that outlives each test."""

    def __init__(self, runner: asyncio.Runner, playwright: Playwright, browser: Browser) -> None:
        self.runner = runner
        self.playwright = playwright
        self.browser = browser

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a test's scenario on the browser's loop."""
        return self.runner.run(coro)

    async def context(self, **options: Any) -> BrowserContext:
        """A fresh context (no cookies), every wait bounded."""
        context = await self.browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        return context


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    problem = _missing()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only if installed

    runner = asyncio.Runner()

    async def launch() -> tuple[Playwright, Browser]:
        playwright = await async_playwright().start()
        try:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=FLAGS, timeout=60_000
            )
        except BaseException:
            await playwright.stop()
            raise
        return playwright, browser

    try:
        playwright, browser = runner.run(launch())
    except BaseException:
        runner.close()
        raise

    async def close() -> None:
        try:
            await browser.close()
        finally:
            await playwright.stop()

    try:
        yield Chromium(runner, playwright, browser)
    finally:
        try:
            runner.run(close())
        finally:
            runner.close()


def _serve(tmp_path: Path) -> AbstractContextManager[Served]:
    return serve_collector(
        tmp_path,
        agent_surveys=("store_exit",),
        limits=RateLimits(per_address=None, per_key=None),
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with _serve(tmp_path) as s:
        yield s


def survey_url(served: Served, token: str) -> str:
    return f"{served.url}/s/{quote(token, safe='')}"


async def focused(page: Page) -> dict[str, Any]:
    """The focused element, and the focus ring a sighted keyboard user sees for it.

    A radio or checkbox of a choice list is visually hidden: its label (the
    next element) shows the focus instead.
    """
    result: dict[str, Any] = await page.evaluate(
        """() => {
            const el = document.activeElement;
            const shown = el.matches('.choices input') ? el.nextElementSibling : el;
            const style = getComputedStyle(shown);
            return {
                id: el.id, type: el.type || null,
                checked: el.checked === undefined ? null : el.checked,
                focusVisible: el.matches(':focus-visible'),
                outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
                ringOn: shown.outerHTML.slice(0, 80),
            };
        }"""
    )
    return result


async def tab_to(page: Page, selector: str, *, most: int = 12) -> dict[str, Any]:
    """Press Tab until the element matching *selector* has the focus; each stop shows a ring."""
    for _ in range(most):
        await page.keyboard.press("Tab")
        now = await focused(page)
        assert now["focusVisible"], f"the focus on {now['ringOn']} is not :focus-visible"
        assert now["outlineStyle"] != "none", f"no focus ring on {now['ringOn']}"
        assert now["outlineStyle"] == "auto" or now["outlineWidth"] >= 2, now
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return now
    msg = f"{selector} never had the focus after {most} presses of Tab"
    raise AssertionError(msg)


async def skip_to_questions(page: Page) -> None:
    """The skip link is the first stop, shows when focused, and Enter follows it."""
    await tab_to(page, "a.skip", most=1)
    box = await page.locator("a.skip").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    await page.keyboard.press("Enter")


async def choose(page: Page, first: str, steps: int) -> dict[str, Any]:
    """On the focused first choice of a scale: Space picks it, each arrow moves one up."""
    assert (await focused(page))["id"] == first
    await page.keyboard.press("Space")
    for _ in range(steps):
        await page.keyboard.press("ArrowRight")
    return await focused(page)


async def send(page: Page, key: str = "Enter") -> None:
    """Tab to the Send button and press it with *key*; wait for the next page."""
    await tab_to(page, "button[type=submit]")
    async with page.expect_navigation():
        await page.keyboard.press(key)


class TestKeyboardOnly:
    def test_answer_every_question_with_the_keyboard_only(self, chromium, served):
        """Tab, arrows, Space and Enter answer every question, errors included; no click."""
        inv = served.invite()

        async def scenario() -> list[str]:
            context = await chromium.context()
            titles = []
            try:
                page = await context.new_page()
                await page.goto(survey_url(served, inv.token))
                # Send with nothing chosen: the error summary takes the focus,
                # and its first link leads back to the question.
                await skip_to_questions(page)
                assert (await tab_to(page, "#in-ltr-0", most=1))["checked"] is False
                await send(page)
                titles.append(await page.title())
                assert (await focused(page))["id"] == "errors"
                await page.keyboard.press("Tab")
                assert await page.evaluate("document.activeElement.hash") == "#q-ltr"
                await page.keyboard.press("Enter")
                # NPS 3, three stars of five, a sentence typed.
                await tab_to(page, "#in-ltr-0", most=1)
                assert (await choose(page, "in-ltr-0", 3))["id"] == "in-ltr-3"
                await tab_to(page, "#in-agent-1", most=1)
                assert (await choose(page, "in-agent-1", 3))["id"] == "in-agent-4"
                await tab_to(page, "#in-why", most=1)
                await page.keyboard.type("The queue was long")
                await send(page)
                titles.append(await page.title())
                # A low score asks what went wrong; the answers so far are kept.
                await skip_to_questions(page)
                assert (await tab_to(page, "#in-ltr-3", most=1))["checked"] is True
                assert (await tab_to(page, "#in-issue-wait", most=1))["type"] == "checkbox"
                await page.keyboard.press("Space")
                assert (await focused(page))["checked"] is True
                assert (await tab_to(page, "#in-issue-rude", most=1))["checked"] is False
                assert (await tab_to(page, "#in-agent-4", most=1))["checked"] is True
                await send(page, "Space")  # Space presses a button too
                titles.append(await page.title())
                assert "Thank you for helping us improve." in await page.inner_text("main")
                return titles
            finally:
                await context.close()

        titles = chromium.run(scenario())
        assert titles == [
            "Please check your answers: Your call with Bazaar",
            "Your call with Bazaar",
            "Thank you!",
        ]
        response = served.run(served.store.invitation_response(inv.id))
        assert response is not None
        assert response.is_complete
        assert dict(response.answers) == {
            "ltr": 3,
            "issue": ("wait",),
            "agent": 4,
            "why": "The queue was long",
        }
        assert served.counts()["responses"] == 1


# -- axe-core on every kind of page ------------------------------------------------------

Opener = Callable[["Page", Served], Awaitable[None]]
PAGES: dict[str, Opener] = {}


def page_kind(name: str) -> Callable[[Opener], Opener]:
    """Register how to bring a page to the state axe checks."""

    def register(opener: Opener) -> Opener:
        PAGES[name] = opener
        return opener

    return register


async def sign_in(page: Page, served: Served, where: str, scope: str) -> None:
    """Sign in at the staff page *where* with a new key of *scope*."""
    await page.goto(f"{served.url}/{where}")
    await page.fill("#key", served.key(scope))
    async with page.expect_navigation():
        await page.press("#key", "Enter")


@page_kind("survey-en")
async def _survey_en(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite().token))


@page_kind("survey-hi")
async def _survey_hi(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite(locale="hi").token))


@page_kind("survey-errors-en")
async def _survey_errors_en(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite().token))
    await page.click("label[for=in-agent-4]")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await page.wait_for_selector("#errors")


@page_kind("survey-errors-hi")
async def _survey_errors_hi(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite(locale="hi").token))
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await page.wait_for_selector("#errors")


@page_kind("one-click")
async def _one_click(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite().token) + "?q.ltr=4")
    await page.wait_for_selector(".notice")


@page_kind("one-click-hi")
async def _one_click_hi(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite(locale="hi").token) + "?q.ltr=9")
    await page.wait_for_selector(".notice")


@page_kind("thanks")
async def _thanks(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite(survey_id="store_exit").token))
    await page.click("label[for=in-sat-5]")
    async with page.expect_navigation():
        await page.click("button[type=submit]")


@page_kind("already-answered-hi")
async def _already(page: Page, served: Served) -> None:
    url = survey_url(served, served.invite(survey_id="store_exit", locale="hi").token)
    await page.goto(url + "?q.sat=4")
    await page.goto(url)


@page_kind("expired-hi")
async def _expired(page: Page, served: Served) -> None:
    inv = served.invite(locale="hi", days=1)
    served.clock.advance(days=2)
    await page.goto(survey_url(served, inv.token))


@page_kind("invalid-link")
async def _invalid(page: Page, served: Served) -> None:
    await page.goto(survey_url(served, served.invite().token[:-3] + "xyz"))


@page_kind("unsubscribe-question")
async def _unsubscribe(page: Page, served: Served) -> None:
    await page.goto(f"{served.url}/u/{quote(served.invite().unsubscribe_token or '', safe='')}")


@page_kind("unsubscribe-done-hi")
async def _unsubscribed(page: Page, served: Served) -> None:
    token = served.invite(locale="hi").unsubscribe_token or ""
    await page.goto(f"{served.url}/u/{quote(token, safe='')}")
    async with page.expect_navigation():
        await page.click("button[type=submit]")


@page_kind("staff-sign-in")
async def _staff_sign_in(page: Page, served: Served) -> None:
    await page.goto(f"{served.url}/agent")


@page_kind("staff-sign-in-wrong")
async def _staff_sign_in_wrong(page: Page, served: Served) -> None:
    await page.goto(f"{served.url}/agent")
    await page.fill("#key", "cxk_not_a_key")
    async with page.expect_navigation():
        await page.press("#key", "Enter")


@page_kind("agent-form")
async def _agent_form(page: Page, served: Served) -> None:
    await sign_in(page, served, "agent", "agent")


@page_kind("agent-form-errors")
async def _agent_form_errors(page: Page, served: Served) -> None:
    await sign_in(page, served, "agent", "agent")
    async with page.expect_navigation():
        await page.click("form[action=agent] button[type=submit]")
    await page.wait_for_selector("#errors")


@page_kind("agent-form-saved")
async def _agent_form_saved(page: Page, served: Served) -> None:
    await sign_in(page, served, "agent", "agent")
    await page.fill("#agent_id", "A-7")
    await page.click("label[for=in-sat-4]")
    async with page.expect_navigation():
        await page.click("form[action=agent] button[type=submit]")
    await page.wait_for_selector(".notice")


@page_kind("live-sign-in")
async def _live_sign_in(page: Page, served: Served) -> None:
    await page.goto(f"{served.url}/live?survey=store_exit&metric=csat&by=store")


@page_kind("live")
async def _live(page: Page, served: Served) -> None:
    await sign_in(page, served, "live", "live")
    async with httpx.AsyncClient(timeout=10) as client:
        answered = await client.post(
            survey_url(served, served.invite(survey_id="store_exit").token),
            data={"shown": "sat,note", "q.sat": "5"},
            headers=HTML,
        )
        answered.raise_for_status()
    await page.goto(f"{served.url}/live?survey=store_exit&metric=csat&by=store")
    await page.wait_for_selector("#scores tbody tr")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One collector for every page axe looks at."""
    with _serve(tmp_path_factory.mktemp("axe")) as s:
        yield s


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (every rule but the experimental ones) in *page*: its violations."""
    # The wheel has no type information; its one function returns axe's JSON.
    from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # noqa: PLC0415

    results = await Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def axe_report(violations: list[dict[str, Any]]) -> str:
    """Each rule broken, with its impact, help text and the nodes it names."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = node.get("failureSummary")
            if summary:
                lines.extend(f"        {line}" for line in summary.splitlines())
    return "\n".join(lines)


@pytest.mark.parametrize("kind", list(PAGES))
def test_axe_finds_no_serious_or_critical_violation(chromium, site, kind):
    """axe-core (every rule but the experimental ones) on each kind of page."""
    shot = site.path.parent / f"{kind}.png"  # to look at when a check fails

    async def scenario() -> tuple[str, int, list[dict[str, Any]]]:
        context = await chromium.context(
            locale="hi-IN" if kind.endswith("-hi") else "en-GB",
            viewport={"width": 320, "height": 640},  # 1280 px at 400% zoom (WCAG 1.4.10)
        )
        try:
            page = await context.new_page()
            await PAGES[kind](page, site)
            await page.screenshot(path=shot, full_page=True)
            wide = await page.evaluate("document.documentElement.scrollWidth")
            return page.url, wide, await axe_violations(page)
        finally:
            await context.close()

    url, wide, violations = chromium.run(scenario())
    assert wide <= 320, f"{kind} scrolls sideways at 320 px: {wide} px wide; see {shot}"
    if violations:
        print(f"axe on {kind} ({url}):\n{axe_report(violations)}")  # noqa: T201 - the report
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {kind} (see {shot}):\n{axe_report(bad)}"


def test_axe_does_find_a_page_made_bad_on_purpose(chromium, site):
    """The check itself works: a label taken away and grey on grey are caught."""

    async def scenario() -> list[dict[str, Any]]:
        context = await chromium.context()
        try:
            page = await context.new_page()
            await page.goto(survey_url(site, site.invite().token))
            await page.eval_on_selector("label[for=in-why]", "(label) => label.remove()")
            await page.eval_on_selector("h1", "(h1) => { h1.style.color = '#bbbbbb'; }")
            return await axe_violations(page)
        finally:
            await context.close()

    found = {v["id"]: v["impact"] for v in chromium.run(scenario())}
    assert found.get("label") == "critical", found
    assert found.get("color-contrast") == "serious", found


# -- Hindi in Devanagari ----------------------------------------------------------------

NOTDEF = "\u0378"  # an unassigned code point: no font has a glyph for it

GLYPHS_JS = """([selector, letters, missing]) => {
    // Draw each letter alone in the element's own font; hash the pixels it inks.
    const font = getComputedStyle(document.querySelector(selector)).font;
    const canvas = document.createElement('canvas');
    canvas.width = 96; canvas.height = 96;
    const g = canvas.getContext('2d', {willReadFrequently: true});
    const draw = (text) => {
        g.clearRect(0, 0, 96, 96);
        g.font = font.replace(/\\d+(\\.\\d+)?px/, '48px');
        g.fillText(text, 16, 64);
        const alpha = g.getImageData(0, 0, 96, 96).data;
        let hash = 2166136261, ink = 0;
        for (let i = 3; i < alpha.length; i += 4) {
            if (alpha[i]) { ink++; }
            hash = Math.imul(hash ^ alpha[i], 16777619) >>> 0;
        }
        return {hash, ink, width: g.measureText(text).width};
    };
    const drawn = {};
    for (const letter of letters) { drawn[letter] = draw(letter); }
    return {font, drawn, missing: draw(missing)};
}"""


async def platform_fonts(page: Page, selector: str) -> dict[str, int]:
    """The fonts Chromium drew the element's text with, and how many glyphs each (DevTools)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("DOM.enable")
        await cdp.send("CSS.enable")
        root = await cdp.send("DOM.getDocument", {"depth": -1})
        node = await cdp.send(
            "DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector}
        )
        found = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    finally:
        await cdp.detach()
    return {f["familyName"]: f["glyphCount"] for f in found["fonts"]}


class TestHindi:
    def test_the_hindi_page_is_drawn_in_devanagari_not_boxes(self, chromium, served, tmp_path):
        """Its words are Devanagari, and a font that has the glyphs draws them (no tofu)."""
        inv = served.invite(locale="hi")
        shot = tmp_path / "survey-hi.png"

        async def scenario() -> dict[str, Any]:
            context = await chromium.context(locale="hi-IN")
            try:
                page = await context.new_page()
                await page.goto(survey_url(served, inv.token))
                await page.evaluate("document.fonts.ready.then(() => true)")
                texts = {
                    selector: await page.locator(selector).first.inner_text()
                    for selector in ("h1", "legend", ".note", "button[type=submit]")
                }
                letters = sorted(set(CONSONANTS.findall("".join(texts.values()))))
                await page.evaluate(
                    """(missing) => {
                        const probe = document.createElement('p');
                        probe.id = 'notdef-probe'; probe.textContent = missing;
                        document.body.append(probe);
                    }""",
                    NOTDEF * 3,
                )
                fonts = {
                    "h1": await platform_fonts(page, "h1"),
                    "button": await platform_fonts(page, "button[type=submit]"),
                    "notdef": await platform_fonts(page, "#notdef-probe"),
                }
                await page.evaluate("document.getElementById('notdef-probe').remove()")
                glyphs = await page.evaluate(GLYPHS_JS, ["h1", letters, NOTDEF])
                await page.screenshot(path=shot, full_page=True)
                return {
                    "lang": await page.evaluate("document.documentElement.lang"),
                    "texts": texts,
                    "letters": letters,
                    "fonts": fonts,
                    "glyphs": glyphs,
                }
            finally:
                await context.close()

        seen = chromium.run(scenario())
        assert seen["lang"] == "hi"
        for selector, text in seen["texts"].items():
            assert DEVANAGARI.search(text), (selector, text)
            assert not re.search("[A-Za-z]", text), (selector, text)
        assert len(seen["letters"]) >= 10, seen["letters"]
        # Drawn by a font that has them: each letter inks a shape of its own, unlike
        # the empty box drawn for a code point that no font has.
        drawn, missing = seen["glyphs"]["drawn"], seen["glyphs"]["missing"]
        boxes = [letter for letter, g in drawn.items() if g["hash"] == missing["hash"]]
        assert not boxes, f"drawn as the missing-glyph box: {boxes} ({seen['fonts']})"
        assert all(g["ink"] > 0 for g in drawn.values()), drawn
        assert len({g["hash"] for g in drawn.values()}) == len(drawn), (
            f"letters look alike: {drawn}"
        )
        assert len({round(g["width"], 1) for g in drawn.values()}) > 1, drawn
        # And DevTools names a font for the heading that is not the one drawing boxes.
        for element in ("h1", "button"):
            devanagari_fonts = set(seen["fonts"][element]) - set(seen["fonts"]["notdef"])
            assert devanagari_fonts, (
                f"the {element} is drawn only with {seen['fonts'][element]}, the font that "
                f"draws missing glyphs; install a Devanagari font (fonts-lohit-deva); see {shot}"
            )
        assert shot.stat().st_size > 0


# -- live scores over Server-Sent Events ------------------------------------------------

LIVE_VIEW = "live?survey=store_exit&metric=csat&by=store"

ROW_N_JS = """(name) => {
    const row = [...document.querySelectorAll('#scores tbody tr')]
        .find((tr) => tr.querySelector('th').textContent === name);
    return row ? Number(row.dataset.n) : 0;
}"""


class TestLiveScores:
    def test_the_live_table_updates_after_an_answer_without_a_reload(self, chromium, served):
        """A staff member's open /live page shows a customer's answer within seconds."""
        first = served.invite(survey_id="store_exit")
        httpx.post(
            survey_url(served, first.token),
            data={"shown": "sat,note", "q.sat": "4"},
            headers=HTML,
            timeout=10,
        ).raise_for_status()
        second = served.invite(survey_id="store_exit")

        async def scenario() -> dict[str, Any]:
            staff = await chromium.context()
            customer = await chromium.context()
            try:
                live = await staff.new_page()
                await sign_in(live, served, LIVE_VIEW, "live")  # back to the view, signed in
                assert live.url == f"{served.url}/{LIVE_VIEW}"
                await live.wait_for_function(ROW_N_JS, arg="BLR-01")
                before = await live.evaluate(ROW_N_JS, "BLR-01")
                await live.evaluate("window.stillThisPage = true")
                loads: list[str] = []
                live.on("load", lambda p: loads.append(p.url))
                # The customer answers on a page of their own.
                page = await customer.new_page()
                await page.goto(survey_url(served, second.token))
                await page.click("label[for=in-sat-5]")
                async with page.expect_navigation():
                    await page.click("button[type=submit]")
                answered = asyncio.get_running_loop().time()
                await live.wait_for_function(
                    f"([name, n]) => ({ROW_N_JS})(name) === n",
                    arg=["BLR-01", before + 1],
                    timeout=5_000,
                )
                waited = asyncio.get_running_loop().time() - answered
                return {
                    "before": before,
                    "after": await live.evaluate(ROW_N_JS, "BLR-01"),
                    "waited": waited,
                    "same page": await live.evaluate("window.stillThisPage === true"),
                    "loads": loads,
                    "status": await live.inner_text("#status"),
                    "thanks": await page.inner_text("h1"),
                }
            finally:
                await customer.close()
                await staff.close()

        seen = chromium.run(scenario())
        assert seen["thanks"] == "Thank you!"
        assert (seen["before"], seen["after"]) == (1, 2)
        assert seen["waited"] < 5
        assert seen["same page"]
        assert seen["loads"] == []
        assert seen["status"].startswith("Updated ")


# -- what the eye sees ------------------------------------------------------------------


class TestForcedColours:
    def test_a_chosen_answer_stays_visible_in_forced_colours(self, chromium, served):
        """With forced colours (Windows contrast themes) a chosen answer still looks chosen."""
        inv = served.invite()

        async def scenario() -> tuple[dict[str, str], dict[str, str]]:
            context = await chromium.context(forced_colors="active")
            try:
                page = await context.new_page()
                await page.goto(survey_url(served, inv.token))
                await page.click("label[for=in-ltr-7]")
                look = """(label) => {
                    const s = getComputedStyle(label);
                    return {background: s.backgroundColor, color: s.color, border: s.borderTopColor};
                }"""
                chosen = await page.eval_on_selector("label[for=in-ltr-7]", look)
                other = await page.eval_on_selector("label[for=in-ltr-8]", look)
                return chosen, other
            finally:
                await context.close()

        chosen, other = chromium.run(scenario())
        assert chosen["background"] != other["background"], (chosen, other)
        assert chosen["color"] != other["color"], (chosen, other)

    def test_the_edges_of_controls_stand_out_from_the_page(self, chromium, served):
        """Answer buttons, text boxes and the send button show at 3:1 or more (WCAG 1.4.11)."""
        inv = served.invite()

        async def scenario() -> dict[str, tuple[str, str]]:
            context = await chromium.context()
            try:
                page = await context.new_page()
                await page.goto(survey_url(served, inv.token))
                pairs: dict[str, tuple[str, str]] = {}
                for selector, edge in (
                    ("label[for=in-ltr-0]", "borderTopColor"),
                    ("label[for=in-agent-1]", "borderTopColor"),
                    ("#in-why", "borderTopColor"),
                    ("button[type=submit]", "backgroundColor"),
                ):
                    colour = await page.eval_on_selector(
                        selector, f"(el) => getComputedStyle(el).{edge}"
                    )
                    pairs[selector] = (colour, await page.evaluate(PAGE_COLOUR_JS))
                return pairs
            finally:
                await context.close()

        for selector, (edge, paper) in chromium.run(scenario()).items():
            assert contrast(edge, paper) >= 3, (selector, edge, paper, contrast(edge, paper))


PAGE_COLOUR_JS = "() => getComputedStyle(document.documentElement).backgroundColor"


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two CSS ``rgb(...)`` colours."""

    def luminance(colour: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"\d+", colour)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
