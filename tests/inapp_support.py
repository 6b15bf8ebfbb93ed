"""A collector with the in-app widget's apps, served on loopback, for the in-app tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from cxcore import Invitation
from cxcore.collector import RateLimits
from cxcore.collector.widget import WidgetApp
from cxcore.distribution import FatiguePolicy, RuleSet, TriggerRule
from cxcore.testing import signed_invitation
from cxcore_channels.inapp import InAppChannel
from tests.collector_support import Served, serve_collector

APP_KEY = "pk_test_bazaar_web_0123456789"
SIGNED_KEY = "pk_test_bazaar_signed_0123456789"
USER_SECRET = "bazaar-user-secret-0123456789abcdef"

RULES = RuleSet(
    rules=[
        TriggerRule(
            id="chat-csat", touchpoint="chat_closed", survey="after_support", channels=["inapp"]
        ),
        TriggerRule(
            id="order-later",
            touchpoint="order_placed",
            survey="store_exit",
            channels=["inapp"],
            delay_minutes=60,
        ),
    ],
    fatigue=FatiguePolicy(recontact_days=30),
)


def apps(origin: str, *, extra: tuple[str, ...] = ()) -> list[WidgetApp]:
    """Two apps served from *origin*: one taking the browser's word, one with signed users."""
    return [
        WidgetApp(
            id="bazaar-web",
            key=APP_KEY,
            origins=(origin, *extra),
            name="Bazaar web",
            touchpoints={"chat.closed": "chat_closed"},
        ),
        WidgetApp(
            id="bazaar-signed",
            key=SIGNED_KEY,
            origins=(origin,),
            user_secret=USER_SECRET,
            anonymous=False,
        ),
    ]


class Recorder:
    """ASGI middleware: every request that reaches the server, as (method, path, origin)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str | None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            origin = headers.get(b"origin")
            self.seen.append(
                (scope["method"], scope["path"], origin.decode() if origin is not None else None)
            )
        await self.app(scope, receive, send)

    def requests(self, path: str) -> list[tuple[str, str | None]]:
        """The method and origin of every request to *path*, in order."""
        return [(m, o) for m, p, o in self.seen if p == path]


@contextlib.contextmanager
def serve_widget(
    tmp_path: Path, origin: str, *, recorder: list[Recorder] | None = None, **options: Any
) -> Iterator[Served]:
    """A collector with the widget's apps for *origin*, the rules above and an in-app channel.

    With *recorder*, the server's app is wrapped in a :class:`Recorder`, appended to it.
    """
    options.setdefault("limits", RateLimits(per_address=None, per_key=None))
    options.setdefault("rules", RULES)
    options.setdefault("apps", apps(origin))
    channels = {"inapp": InAppChannel()}

    def wrap(app: ASGIApp) -> ASGIApp:
        if recorder is None:
            return app
        recorder.append(Recorder(app))
        return recorder[-1]

    with serve_collector(tmp_path, channels=channels, wrap=wrap, **options) as served:
        yield served


def email_invitation(served: Served, customer_id: str, *, days_ago: float = 1.0) -> Invitation:
    """Store an email invitation to *customer_id* made *days_ago*, as another process would."""
    invitation = signed_invitation(
        served.tokens,
        invitation_id=f"email-{customer_id}-{days_ago}",
        survey_id="after_support",
        created_at=served.clock.now() - timedelta(days=days_ago),
        channel="email",
        address=f"{customer_id.lower()}@example.in",
        customer_id=customer_id,
    )
    served.run(served.store.add_invitation(invitation))
    return invitation
