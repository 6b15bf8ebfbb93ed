"""The store contract for kiosks (schema 6), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxcore import Kiosk, KioskHeartbeat, ManualClock, ValidationError
from cxcore.api_keys import check_api_key
from cxcore.kiosks import issue_kiosk
from cxcore.ports.store import ConflictError, StoreError

T0 = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)

Scenario = Callable[[Any, ManualClock], Awaitable[None]]


@pytest.fixture
def store_run(any_store: Callable[..., Any]) -> Callable[[Scenario], None]:
    def run(scenario: Scenario) -> None:
        async def main() -> None:
            clock = ManualClock(T0)
            async with any_store(clock=clock) as store:
                await scenario(store, clock)

        asyncio.run(main())

    return run


def _issue(kiosk_id: str = "blr-01-exit", **kw: Any) -> Any:
    kw.setdefault("store", "BLR-01")
    kw.setdefault("touchpoint", "store_exit")
    kw.setdefault("survey_id", "visit")
    return issue_kiosk(kiosk_id, at=T0, **kw)


class TestKiosks:
    def test_a_kiosk_is_stored_with_its_key_listed_and_found_by_key(self, store_run):
        """add_kiosk stores both; the key checks with scope kiosk; a second add is refused."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            issued = _issue(name="Indiranagar exit", locales=("hi", "en"), agent_mode=False)
            await store.add_kiosk(issued.kiosk, issued.key)
            assert await store.kiosk("blr-01-exit") == issued.kiosk
            assert await store.kiosk_by_key(issued.key.id) == issued.kiosk
            assert await store.api_key(issued.key.id) == issued.key
            assert await check_api_key(store, issued.secret, "kiosk") == issued.key
            assert await check_api_key(store, issued.secret, "answers") is None
            again = _issue()
            with pytest.raises(ConflictError, match="blr-01-exit"):
                await store.add_kiosk(again.kiosk, again.key)
            assert len(await store.api_keys()) == 1  # the refused add wrote no key
            other = _issue("blr-01-billing", touchpoint="billing_counter")
            await store.add_kiosk(other.kiosk, other.key)
            assert [k.id for k in await store.kiosks()] == ["blr-01-billing", "blr-01-exit"]
            assert await store.kiosk("nope") is None
            assert await store.kiosk_by_key("000000000000") is None
            entries = await store.audit("kiosk")
            assert [(e.entity_id, e.action) for e in entries] == [
                ("blr-01-exit", "added"),
                ("blr-01-billing", "added"),
            ]

        store_run(scenario)

    def test_a_refused_add_writes_nothing(self, store_run):
        """A kiosk whose key id is taken leaves neither the kiosk nor a second key."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            first = _issue()
            await store.add_kiosk(first.kiosk, first.key)
            clash = _issue("blr-02-exit")
            kiosk = Kiosk(
                id="blr-02-exit",
                name="x",
                store="BLR-02",
                touchpoint="store_exit",
                survey_id="visit",
                key_id=first.key.id,
                created_at=T0,
            )
            with pytest.raises(ConflictError):
                await store.add_kiosk(kiosk, first.key)
            with pytest.raises(StoreError, match="names key"):
                await store.add_kiosk(clash.kiosk, first.key)
            assert [k.id for k in await store.kiosks()] == ["blr-01-exit"]
            assert len(await store.api_keys()) == 1

        store_run(scenario)

    def test_revoking_a_kiosk_revokes_its_key_once(self, store_run):
        """The kiosk and its key are revoked together; a repeat keeps the first time."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            issued = _issue()
            await store.add_kiosk(issued.kiosk, issued.key)
            first = await store.revoke_kiosk("blr-01-exit", at=T0 + timedelta(hours=1))
            again = await store.revoke_kiosk("blr-01-exit", at=T0 + timedelta(hours=2))
            assert first.revoked_at == again.revoked_at == T0 + timedelta(hours=1)
            assert not first.active
            key = await store.api_key(issued.key.id)
            assert key is not None
            assert key.revoked_at == T0 + timedelta(hours=1)
            assert await check_api_key(store, issued.secret, "kiosk") is None
            with pytest.raises(StoreError, match="nope"):
                await store.revoke_kiosk("nope", at=T0)

        store_run(scenario)

    def test_heartbeats_keep_the_latest_answer_and_add_up_refusals(self, store_run):
        """seen_at and queue are the last beat's; dropped adds up; last_answer_at never goes back."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            issued = _issue()
            await store.add_kiosk(issued.kiosk, issued.key)
            assert (await store.kiosk("blr-01-exit")).seen_at is None
            at = T0 + timedelta(minutes=10)
            answered = T0 + timedelta(minutes=9)
            beat = KioskHeartbeat(at=at, queue_length=4, dropped=1, last_answer_at=answered)
            await store.kiosk_heartbeat("blr-01-exit", beat)
            later = KioskHeartbeat(
                at=at + timedelta(minutes=1), queue_length=0, dropped=2, last_answer_at=T0
            )
            kiosk = await store.kiosk_heartbeat("blr-01-exit", later)
            assert kiosk.seen_at == at + timedelta(minutes=1)
            assert kiosk.queue_length == 0
            assert kiosk.dropped == 3
            assert kiosk.last_answer_at == answered
            silent = KioskHeartbeat(at=at + timedelta(minutes=2), queue_length=1)
            kiosk = await store.kiosk_heartbeat("blr-01-exit", silent)
            assert kiosk.last_answer_at == answered
            assert kiosk == await store.kiosk("blr-01-exit")
            assert kiosk.alive(at + timedelta(minutes=3))
            assert not kiosk.alive(at + timedelta(hours=1))
            with pytest.raises(StoreError, match="nope"):
                await store.kiosk_heartbeat("nope", beat)

        store_run(scenario)


class TestKioskValues:
    def test_every_bad_field_is_named(self):
        """Kiosk names each field at fault at once."""
        with pytest.raises(ValidationError) as caught:
            Kiosk(
                id="bad id",
                name="",
                store="BLR-01",
                touchpoint="store_exit",
                survey_id="visit",
                key_id="k1",
                locales=("en", "en"),
                created_at=datetime(2026, 12, 7),  # noqa: DTZ001 - naive on purpose
                queue_length=-1,
            )
        text = str(caught.value)
        for field in ("id", "name", "locales", "created_at", "queue_length"):
            assert field in text

    def test_heartbeat_counts_are_bounded(self):
        """A negative or absurd queue length is refused, naming it."""
        with pytest.raises(ValidationError, match="queue_length"):
            KioskHeartbeat(at=T0, queue_length=-3)
        with pytest.raises(ValidationError, match="dropped"):
            KioskHeartbeat(at=T0, queue_length=0, dropped=10**9)
