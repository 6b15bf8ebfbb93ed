"""A collector served by a real uvicorn on a loopback port, with its store, for the collector tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from cxcore import (
    ChoiceQuestion,
    Condition,
    CsatQuestion,
    Invitation,
    ManualClock,
    NpsQuestion,
    Option,
    RatingQuestion,
    RepeatPolicy,
    Survey,
    TextQuestion,
)
from cxcore.api_keys import issue_api_key
from cxcore.collector import Collector
from cxcore.distribution import TokenService
from cxcore.stores import SQLiteStore
from cxcore.testing import signed_invitation

T = TypeVar("T")

T0 = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)
KEYS = ["collector-test-key-0123456789abcdefghij"]
EMAIL = "priya.nair@example.in"

SURVEYS = (
    Survey(
        id="after_support",
        title={"en": "Your call with Bazaar", "hi": "बाज़ार से आपकी बातचीत"},
        on_repeat=RepeatPolicy.LAST_WINS,
        thanks={"en": "Thank you for helping us improve.", "hi": "सुधार में मदद के लिए धन्यवाद।"},
        questions=[
            NpsQuestion(
                id="ltr",
                required=True,
                text={
                    "en": "How likely are you to recommend Bazaar to a friend?",
                    "hi": "आप बाज़ार की सिफ़ारिश किसी दोस्त से करने की कितनी संभावना रखते हैं?",
                },
            ),
            ChoiceQuestion(
                id="issue",
                multiple=True,
                show_if=[Condition("ltr", "le", 6)],
                text={"en": "What went wrong?", "hi": "क्या ग़लत हुआ?"},
                options=[
                    Option("wait", {"en": "Long wait", "hi": "लंबा इंतज़ार"}),
                    Option("rude", {"en": "Unhelpful agent", "hi": "मदद न करने वाला एजेंट"}),
                ],
            ),
            RatingQuestion(
                id="agent",
                display="stars",
                text={"en": "Rate the agent", "hi": "एजेंट को रेटिंग दें"},
            ),
            TextQuestion(id="why", text={"en": "Anything else?", "hi": "और कुछ?"}),
        ],
    ),
    Survey(
        id="store_exit",
        title={"en": "Your visit today", "hi": "आज की आपकी यात्रा"},
        questions=[
            CsatQuestion(
                id="sat",
                required=True,
                display="stars",
                text={"en": "How satisfied are you?", "hi": "आप कितने संतुष्ट हैं?"},
            ),
            TextQuestion(id="note", text={"en": "Tell us more", "hi": "और बताइए"}),
        ],
    ),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.define
class Served:
    """A running collector: its URL, store, tokens, clock, and the server's event loop."""

    url: str
    path: Path
    store: SQLiteStore
    tokens: TokenService
    clock: ManualClock
    collector: Collector
    loop: asyncio.AbstractEventLoop
    count: int = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run *coro* on the server's loop (where the store was opened) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def invite(
        self,
        *,
        survey_id: str = "after_support",
        channel: str = "email",
        address: str | None = EMAIL,
        customer_id: str | None = "C-9",
        locale: str = "en",
        days: int = 7,
        invitation_id: str | None = None,
    ) -> Invitation:
        """Store an invitation with real tokens, as the outbox would."""
        self.count += 1
        invitation = signed_invitation(
            self.tokens,
            invitation_id=invitation_id or f"inv-{self.count}",
            survey_id=survey_id,
            created_at=self.clock.now(),
            channel=channel,
            address=address,
            customer_id=customer_id,
            locale=locale,
            days=days,
        )
        self.run(self.store.add_invitation(invitation))
        return invitation

    def key(self, *scopes: str, name: str = "test") -> str:
        """A new API key with *scopes*, stored; returns the key to present."""
        issued = issue_api_key(name, scopes, at=self.clock.now())
        self.run(self.store.add_api_key(issued.key))
        return issued.secret

    def counts(self) -> dict[str, int]:
        """Rows in every table of the store's file (read apart, as another process would)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {
                t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
                for t in tables
                if t not in ("meta", "sqlite_sequence")
            }


@contextlib.contextmanager
def serve_collector(
    tmp_path: Path, *, wrap: Callable[[ASGIApp], ASGIApp] | None = None, **options: Any
) -> Iterator[Served]:
    """Serve a Collector mounted at ``/r`` by uvicorn on a free loopback port.

    The store is opened (and the surveys stored) on the server's own loop, in
    the app's lifespan; tests reach the store through :meth:`Served.run`.
    *wrap*, if given, wraps the served app (in an ASGI middleware of a test's own).
    """
    port = options.pop("port", None) or free_port()
    url = f"http://127.0.0.1:{port}/r"
    public_url = options.pop("public_url", url)  # behind a proxy, the URL the world sees
    clock = ManualClock(T0)
    path = tmp_path / "collector.db"
    store = SQLiteStore(path, clock=clock)
    tokens = TokenService(KEYS, clock=clock)
    options.setdefault("amp_senders", ("surveys@bazaar.example.in",))
    collector = Collector(store=store, tokens=tokens, public_url=public_url, clock=clock, **options)
    ready: dict[str, asyncio.AbstractEventLoop] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        for survey in SURVEYS:
            await store.put_survey(survey)
        ready["loop"] = asyncio.get_running_loop()
        try:
            yield
        finally:
            await collector.aclose()
            await store.aclose()

    app = Starlette(routes=[Mount("/r", collector)], lifespan=lifespan)
    served: ASGIApp = app if wrap is None else wrap(app)
    server = uvicorn.Server(
        uvicorn.Config(served, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not (server.started and "loop" in ready):
        if time.monotonic() > deadline or not thread.is_alive():
            msg = "the collector did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    try:
        yield Served(url, path, store, tokens, clock, collector, ready["loop"])
    finally:
        server.should_exit = True
        thread.join(10)
