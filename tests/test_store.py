"""The store contract: every backend passes these tests."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
import pytest

from cxcore import (
    Case,
    CaseStatus,
    CesQuestion,
    ChoiceQuestion,
    Condition,
    Consent,
    Direction,
    Disposition,
    Invitation,
    ManualClock,
    NpsQuestion,
    Option,
    Purpose,
    RepeatPolicy,
    RespondentKind,
    Response,
    ResponseStatus,
    Survey,
    TextQuestion,
    ValidationError,
)
from cxcore.ports.store import (
    AddedInvitation,
    AlreadyInvitedError,
    ClaimedSend,
    ClaimLostError,
    ConflictError,
    Enqueued,
    Finish,
    Invited,
    InviteGuard,
    InviteRefusedError,
    OutboxItem,
    OutboxState,
    PayloadTooLargeError,
    StoreError,
    StoreLimitError,
    StratumFullError,
    Submission,
    SubmitOutcome,
    SubmitResult,
    UnknownSurveyError,
)
from cxcore.ports.store import Store as StorePort
from cxcore.stores import SQLiteStore

if TYPE_CHECKING:
    from cxcore.stores.postgres import PostgresStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EMAIL = "asha.rao@example.in"
PHONE = "+919812345678"
CUSTOMER = "C-4242"


def survey(
    policy: RepeatPolicy = RepeatPolicy.FIRST_WINS, *, survey_id: str = "nps", **kw: Any
) -> Survey:
    return Survey(
        id=survey_id,
        title={"en": "How are we doing?"},
        on_repeat=policy,
        questions=[
            NpsQuestion(id="ltr", text={"en": "Recommend?"}, required=True),
            TextQuestion(id="why", text={"en": "Why?"}, show_if=[Condition("ltr", "le", 6)]),
            ChoiceQuestion(
                id="topics",
                multiple=True,
                text={"en": "Topics"},
                options=[Option("price", {"en": "Price"}), Option("staff", {"en": "Staff"})],
            ),
        ],
        **kw,
    )


def submission(
    key: str, answers: dict[str, Any], *, complete: bool = False, at: datetime = T0, **kw: Any
) -> Submission:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "survey_id": "nps",
        "survey_version": 1,
        "answers": answers,
        "complete": complete,
        "channel": "email",
        "respondent": "customer",
        "customer_id": CUSTOMER,
        "invitation_id": "inv-1",
        "received_at": at,
        "context": {"store": "BLR-01", "touchpoint": "billing_counter", "order": "ORD-991"},
    }
    fields.update(kw)
    return Submission(**fields)


def invitation(inv_id: str = "inv-1", **kw: Any) -> Invitation:
    fields: dict[str, Any] = {
        "id": inv_id,
        "survey_id": "nps",
        "survey_version": 1,
        "channel": "email",
        "address": EMAIL,
        "customer_id": CUSTOMER,
        "token": f"tok-{inv_id}",
        "created_at": T0,
        "context": {"store": "BLR-01"},
    }
    fields.update(kw)
    return Invitation(**fields)


Store: TypeAlias = "SQLiteStore | PostgresStore"
Scenario = Callable[[Store], Awaitable[None]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Opens a fresh store of the backend under test, with the NPS survey stored.

    A PostgreSQL store gets a fresh schema on the server of CXCORE_TEST_POSTGRES
    (see conftest.py: skipped without a server, failed in CI). When it closes,
    every table of that schema is copied to ``tmp_path / "cx.db"``, so the
    tests that search every table of the SQLite file search PostgreSQL's.
    """
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")
        snapshot: Callable[[str, Path], None] = request.getfixturevalue("postgres_snapshot")
        from cxcore.stores import PostgresStore  # noqa: PLC0415 - psycopg only when the server is there

        @asynccontextmanager
        async def open_postgres(
            *, policy: RepeatPolicy = RepeatPolicy.FIRST_WINS, **kw: Any
        ) -> AsyncIterator[Store]:
            try:
                async with PostgresStore(dsn, **kw) as store:
                    await store.put_survey(survey(policy))
                    yield store
            finally:
                await asyncio.to_thread(snapshot, dsn, tmp_path / "cx.db")

        return open_postgres

    @asynccontextmanager
    async def open_store(
        *, policy: RepeatPolicy = RepeatPolicy.FIRST_WINS, **kw: Any
    ) -> AsyncIterator[Store]:
        async with SQLiteStore(tmp_path / "cx.db", **kw) as store:
            await store.put_survey(survey(policy))
            yield store

    return open_store


def run(backend: Callable[..., Any], scenario: Scenario, **kw: Any) -> None:
    async def main() -> None:
        async with backend(**kw) as store:
            await scenario(store)

    asyncio.run(main())


class TestSubmit:
    def test_a_later_answer_completes_the_same_response(self, backend):
        """A one-click score makes a partial response; the full form completes it."""

        async def scenario(store: Store) -> None:
            first = await store.submit(submission("k1", {"ltr": 4}))
            assert first.outcome is SubmitOutcome.CREATED
            assert first.response.status is ResponseStatus.PARTIAL
            later = T0 + timedelta(minutes=3)
            second = await store.submit(
                submission("k2", {"why": "Long queue"}, complete=True, at=later)
            )
            assert second.outcome is SubmitOutcome.UPDATED
            assert second.response.id == first.response.id
            assert second.response.answers == {"ltr": 4, "why": "Long queue"}
            assert second.response.completed_at == later
            assert await store.count_responses() == 1
            assert await store.response(first.response.id) == second.response

        run(backend, scenario)

    def test_same_key_same_payload_is_harmless(self, backend):
        """A retried request returns what was stored and writes nothing new."""

        async def scenario(store: Store) -> None:
            first = await store.submit(submission("k1", {"ltr": 9}))
            again = await store.submit(submission("k1", {"ltr": 9}, at=T0 + timedelta(seconds=30)))
            assert again.outcome is SubmitOutcome.REPEATED
            assert again.response == first.response
            assert await store.count_responses() == 1

        run(backend, scenario)

    def test_same_key_other_payload_is_a_conflict(self, backend):
        """Reusing a key for different answers is refused, and nothing changes."""

        async def scenario(store: Store) -> None:
            first = await store.submit(submission("k1", {"ltr": 9}))
            with pytest.raises(
                ConflictError, match="'k1' was used before with a different payload"
            ):
                await store.submit(submission("k1", {"ltr": 3}))
            assert await store.response(first.response.id) == first.response

        run(backend, scenario)

    def test_fifty_concurrent_submissions_with_one_key_make_one_row(self, backend):
        """Fifty racing copies of one request store exactly one response."""

        async def scenario(store: Store) -> None:
            results = await asyncio.gather(
                *(store.submit(submission("k1", {"ltr": 10})) for _ in range(50))
            )
            assert {r.response.id for r in results} == {results[0].response.id}
            assert sorted(r.outcome.value for r in results).count("created") == 1
            assert await store.count_responses() == 1

        run(backend, scenario)

    @pytest.mark.parametrize(
        ("policy", "outcome", "answers", "rows"),
        [
            (RepeatPolicy.FIRST_WINS, SubmitOutcome.IGNORED, {"ltr": 9, "topics": ("price",)}, 1),
            (RepeatPolicy.LAST_WINS, SubmitOutcome.UPDATED, {"ltr": 3, "topics": ("price",)}, 1),
            (RepeatPolicy.KEEP_ALL, SubmitOutcome.CREATED, {"ltr": 3}, 2),
        ],
    )
    def test_answering_a_complete_response_again_follows_the_policy(
        self, backend, policy, outcome, answers, rows
    ):
        """first_wins ignores, last_wins merges over, keep_all stores another response."""

        async def scenario(store: Store) -> None:
            await store.submit(submission("k1", {"ltr": 9, "topics": ["price"]}, complete=True))
            again = await store.submit(
                submission("k2", {"ltr": 3}, complete=True, at=T0 + timedelta(hours=1))
            )
            assert again.outcome is outcome
            if policy is RepeatPolicy.LAST_WINS:
                assert again.response.answers == {"ltr": 3, "topics": ("price",)}
            else:
                assert again.response.answers == answers
            assert await store.count_responses() == rows

        run(backend, scenario, policy=policy)

    @pytest.mark.parametrize(
        ("bad", "error", "message"),
        [
            (
                {"survey_id": "csat"},
                UnknownSurveyError,
                r"no survey csat v1 is stored \(stored: nps v1\)",
            ),
            ({"survey_version": 2}, UnknownSurveyError, "no survey nps v2"),
            (
                {"answers": {"ltr": 11}},
                ValidationError,
                "answers.ltr: 11 is not a whole number from 0 to 10",
            ),
            (
                {
                    "answers": {"ltr": 9},
                    "complete": True,
                    "invitation_id": None,
                    "customer_id": None,
                },
                ValidationError,
                "customer_id: is missing",
            ),
            (
                {"answers": {"ltr": 2, "why": "x" * 70_000}},
                PayloadTooLargeError,
                "at most 65536 accepted",
            ),
            (  # what json.loads makes of "\\udc80": not text any store can keep
                {"answers": {"ltr": 2, "why": "bad \udc80 text"}},
                ValidationError,
                r"answers.why: contains a lone surrogate \('\\udc80'\)",
            ),
        ],
    )
    def test_bad_input_is_refused_and_writes_nothing(self, backend, bad, error, message):
        """Unknown survey, out-of-scale answer, wrong respondent fields, oversized payload: nothing is stored."""

        async def scenario(store: Store) -> None:
            fields: dict[str, Any] = {"key": "k1", "answers": {"ltr": 9}}
            fields.update(bad)
            with pytest.raises(error, match=message):
                await store.submit(submission(fields.pop("key"), fields.pop("answers"), **fields))
            assert await store.count_responses() == 0
            assert [e for e in await store.audit() if e.entity == "response"] == []
            await store.submit(submission("k1", {"ltr": 9}))  # the key is still free

        run(backend, scenario)

    def test_a_one_click_option_for_a_multiple_choice_is_a_list_of_one(self, backend):
        """A link carrying one option id answers a multiple-choice question."""

        async def scenario(store: Store) -> None:
            result = await store.submit(submission("k1", {"ltr": 9, "topics": "staff"}))
            assert result.response.answers["topics"] == ("staff",)

        run(backend, scenario)

    def test_one_failing_write_does_not_undo_the_others(self, backend):
        """Writes committed in one group are isolated from each other's failures."""

        async def scenario(store: Store) -> None:
            good = [
                store.submit(submission(f"k{i}", {"ltr": 9}, invitation_id=f"inv-{i}"))
                for i in range(10)
            ]
            bad = store.submit(submission("k1", {"ltr": 1}, invitation_id="inv-1"))
            results = await asyncio.gather(*good, bad, return_exceptions=True)
            assert isinstance(results[-1], ConflictError)
            assert await store.count_responses() == 10

        run(backend, scenario)


class TestNewResponses:
    """Answers without an invitation are planned before the write and stored together."""

    def test_each_of_many_at_once_gets_its_own_outcome_rows_and_event(self, backend):
        """New, repeated, conflicting and invalid answers at once: each as if it came alone."""

        async def scenario(store: Store) -> None:
            await store.submit(submission("used", {"ltr": 5}, invitation_id=None))
            results = await asyncio.gather(
                *(
                    store.submit(submission(f"n{i}", {"ltr": i % 11}, invitation_id=None))
                    for i in range(20)
                ),
                *(
                    store.submit(submission("same", {"ltr": 9}, invitation_id=None))
                    for _ in range(5)
                ),
                store.submit(submission("used", {"ltr": 6}, invitation_id=None)),
                store.submit(submission("bad", {"ltr": 11}, invitation_id=None)),
                return_exceptions=True,
            )
            conflict, invalid = results[25:]
            fresh = [r for r in results[:20] if isinstance(r, SubmitResult)]
            same = [r for r in results[20:25] if isinstance(r, SubmitResult)]
            assert (len(fresh), len(same)) == (20, 5)
            assert [r.outcome for r in fresh] == [SubmitOutcome.CREATED] * 20
            assert sorted(r.outcome.value for r in same) == ["created"] + ["repeated"] * 4
            assert len({r.response.id for r in same}) == 1
            assert isinstance(conflict, ConflictError)
            assert isinstance(invalid, ValidationError)
            created = [r.response for r in [*fresh, same[0]]]
            assert await store.count_responses() == 22
            for response in created:
                assert await store.response(response.id) == response
            events = await store.feed()
            assert len(events) == 22
            assert {e.subject for e in events} >= {r.id for r in created}
            audited = [e.entity_id for e in await store.audit("response")]
            assert len(audited) == len(set(audited)) == 22
            (cell,) = await store.score("nps", survey_id="nps")
            assert cell.n == 22
            await store.submit(submission("bad", {"ltr": 10}, invitation_id=None))  # still free

        run(backend, scenario)

    def test_one_failing_row_fails_only_its_own_answer(self, tmp_path):
        """A row refused by the database (here, a trigger) fails its answer alone, not its batch."""

        async def main() -> None:
            async with SQLiteStore(tmp_path / "cx.db") as store:
                await store.put_survey(survey())
                with sqlite3.connect(tmp_path / "cx.db") as raw:
                    raw.execute(
                        "CREATE TRIGGER poison BEFORE INSERT ON responses "
                        "WHEN NEW.idempotency_key = 'poison' "
                        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
                    )
                keys = [f"k{i}" for i in range(9)] + ["poison"]
                results = await asyncio.gather(
                    *(store.submit(submission(k, {"ltr": 9}, invitation_id=None)) for k in keys),
                    return_exceptions=True,
                )
                assert all(isinstance(r, SubmitResult) for r in results[:9])
                assert isinstance(results[9], StoreError)
                assert "refused by a trigger" in str(results[9])
                assert await store.count_responses() == 9
                assert len(await store.feed()) == 9

        asyncio.run(main())

    def test_new_ids_sort_in_the_order_they_were_made(self, backend):
        """Responses get time-ordered ids (UUIDv7), so the primary key grows at its end."""

        async def scenario(store: Store) -> None:
            ids = []
            for i in range(3):
                result = await store.submit(submission(f"k{i}", {"ltr": 9}, invitation_id=None))
                ids.append(result.response.id)
                await asyncio.sleep(0.002)
            assert ids == sorted(ids)
            assert {i[12] for i in ids} == {"7"}

        run(backend, scenario)


class TestAppend:
    def test_batch_reports_every_bad_response_and_writes_nothing(self, backend):
        """A batch with bad responses raises one group naming each; no row is written."""

        async def scenario(store: Store) -> None:
            ok = (await store.submit(submission("seed", {"ltr": 9}))).response
            batch = [
                attrs.evolve(ok, id=f"r{i}", idempotency_key=f"imp-{i}", invitation_id=None)
                for i in range(3)
            ]
            batch[1] = attrs.evolve(batch[1], answers={"ltr": 12})
            batch[2] = attrs.evolve(batch[2], survey_id="gone")
            with pytest.raises(ExceptionGroup) as exc:
                await store.append(batch)
            assert len(exc.value.exceptions) == 2
            assert "response 1 ('r1')" in exc.value.exceptions[0].__notes__
            assert await store.count_responses() == 1
            results = await store.append(batch[:1] * 2)
            assert [r.outcome for r in results] == [SubmitOutcome.CREATED, SubmitOutcome.REPEATED]
            same_id = attrs.evolve(batch[0], idempotency_key="imp-other")
            with pytest.raises(ExceptionGroup) as clash:
                await store.append([same_id])
            assert "response id 'r0' is already stored" in str(clash.value.exceptions[0])

        run(backend, scenario)


class TestQueries:
    def test_by_survey_time_dimension_and_respondent(self, backend):
        """Responses filter by survey, updated_at range, context values and respondent kind."""

        async def scenario(store: Store) -> None:
            for i, (store_id, who) in enumerate(
                [("BLR-01", "customer"), ("DEL-02", "customer"), ("BLR-01", "agent")]
            ):
                await store.submit(
                    submission(
                        f"k{i}",
                        {"ltr": 9},
                        invitation_id=f"inv-{i}",
                        at=T0 + timedelta(days=i),
                        context={"store": store_id},
                        respondent=who,
                        agent_id="A-7" if who == "agent" else None,
                    )
                )
            blr = await store.responses(survey_id="nps", where={"store": "BLR-01"})
            assert [r.idempotency_key for r in blr] == ["k0", "k2"]
            window = await store.responses(
                since=T0 + timedelta(days=1), until=T0 + timedelta(days=2)
            )
            assert [r.idempotency_key for r in window] == ["k1"]
            own = await store.responses(respondents=[RespondentKind.CUSTOMER])
            assert [r.idempotency_key for r in own] == ["k0", "k1"]
            with pytest.raises(StoreError, match="not a context key"):
                await store.responses(where={"store') OR 1=1 --": "x"})

        run(backend, scenario)


class TestInvitations:
    def test_dispositions_and_counts_per_segment(self, backend):
        """Dispositions are kept once each, and counted per channel or context key."""

        async def scenario(store: Store) -> None:
            await store.add_invitation(invitation("inv-1"))
            await store.add_invitation(invitation("inv-1"))  # idempotent
            await store.add_invitation(
                invitation("inv-2", channel="sms", address=PHONE, context={"store": "DEL-02"})
            )
            with pytest.raises(ConflictError):
                await store.add_invitation(invitation("inv-2"))
            for inv, disp in [
                ("inv-1", "sent"),
                ("inv-1", "delivered"),
                ("inv-1", "sent"),
                ("inv-2", "sent"),
            ]:
                await store.record_disposition(inv, Disposition(disp), T0)
            assert [d for d, _ in await store.dispositions("inv-1")] == [
                Disposition.DELIVERED,
                Disposition.SENT,
            ]
            assert await store.disposition_counts() == {
                ("email",): {Disposition.SENT: 1, Disposition.DELIVERED: 1},
                ("sms",): {Disposition.SENT: 1},
            }
            assert (await store.disposition_counts(by=("store",)))[("DEL-02",)] == {
                Disposition.SENT: 1
            }
            assert (await store.invitation("inv-2")).address == PHONE
            with pytest.raises(StoreError, match="no invitation 'inv-9'"):
                await store.record_disposition("inv-9", Disposition.SENT, T0)

        run(backend, scenario)


class TestConsentAndSuppression:
    def test_consent_ledger_keeps_history_and_latest_wins(self, backend):
        """The newest entry for a channel (or '*') and purpose decides."""

        async def scenario(store: Store) -> None:
            await store.record_consent(
                CUSTOMER,
                Consent("sms", Purpose.SURVEY, granted=True, source="signup_form", recorded_at=T0),
            )
            await store.record_consent(
                CUSTOMER,
                Consent(
                    "sms",
                    Purpose.SURVEY,
                    granted=False,
                    source="sms_stop",
                    recorded_at=T0 + timedelta(days=1),
                ),
            )
            latest = await store.consent(CUSTOMER, "sms", Purpose.SURVEY)
            assert latest is not None
            assert (latest.granted, latest.source) == (False, "sms_stop")
            assert await store.consent(CUSTOMER, "email", Purpose.SURVEY) is None
            await store.record_consent(
                CUSTOMER,
                Consent(
                    "*",
                    Purpose.SURVEY,
                    granted=True,
                    source="kiosk_opt_in",
                    recorded_at=T0 + timedelta(days=2),
                ),
            )
            assert (await store.consent(CUSTOMER, "email", Purpose.SURVEY)).source == "kiosk_opt_in"  # type: ignore[union-attr]
            assert [e.action for e in await store.audit("consent")] == [
                "granted",
                "withdrawn",
                "granted",
            ]

        run(backend, scenario)

    def test_suppression_keeps_only_a_digest(self, backend, tmp_path):
        """Suppressed addresses are matched case-insensitively and never stored in the clear."""

        async def scenario(store: Store) -> None:
            await store.suppress(EMAIL, "email", "hard_bounce")
            assert await store.suppression("  Asha.Rao@Example.IN ", "email") == "hard_bounce"
            assert await store.suppression(EMAIL, "sms") is None
            await store.suppress(PHONE, "*", "complaint")
            assert await store.suppression(PHONE, "sms") == "complaint"
            await store.unsuppress(EMAIL, "email")
            assert await store.suppression(EMAIL, "email") is None

        run(backend, scenario)
        assert b"asha" not in (tmp_path / "cx.db").read_bytes().lower()


class TestOutbox:
    def test_claims_never_overlap_and_expired_claims_become_unknown(self, backend):
        """Two workers claiming at once get disjoint sends; a dead worker's claims are reconciled."""

        async def scenario(store: Store) -> None:
            await store.enqueue(
                pending(f"o{i}", f"inv-{i}", at=T0 + timedelta(minutes=i)) for i in range(10)
            )
            now = T0 + timedelta(minutes=5)
            a, b = await asyncio.gather(
                store.claim("worker-a", now=now, limit=4, lease=timedelta(minutes=1)),
                store.claim("worker-b", now=now, limit=4, lease=timedelta(minutes=1)),
            )
            claimed = [i.id for i in a] + [i.id for i in b]
            assert sorted(claimed) == ["o0", "o1", "o2", "o3", "o4", "o5"]  # only what is due
            assert len(set(claimed)) == 6
            sent = await store.finish(a[0].id, OutboxState.SENT, at=now, provider_id="SM123")
            assert (sent.state, sent.provider_id, sent.attempts) == (OutboxState.SENT, "SM123", 1)
            retry = await store.finish(
                a[1].id,
                OutboxState.PENDING,
                at=now,
                error="421 busy",
                retry_at=now + timedelta(minutes=2),
            )
            assert retry.state is OutboxState.PENDING
            released = await store.release_expired(now=now + timedelta(minutes=2))
            assert sorted(i.id for i in released) == sorted(claimed[2:])
            assert {i.state for i in released} == {OutboxState.UNKNOWN}
            again = await store.claim(
                "worker-c", now=now + timedelta(minutes=3), limit=10, lease=timedelta(minutes=1)
            )
            # o1 is due again at +7 min, after o6; o2-o5 wait for reconciliation.
            assert [i.id for i in again] == ["o6", a[1].id, "o7", "o8"]
            assert again[1].attempts == 2

        run(backend, scenario)

    def test_invitation_and_its_sends_are_written_together(self, backend):
        """An invitation and its outbox items go in one transaction; repeats change nothing."""

        async def scenario(store: Store) -> None:
            item = OutboxItem(
                id="inv-1",
                invitation_id="inv-1",
                channel="email",
                state=OutboxState.PENDING,
                due_at=T0,
            )
            await store.add_invitation(invitation("inv-1"), outbox=[item])
            await store.add_invitation(
                invitation("inv-1"), outbox=[attrs.evolve(item, due_at=T0 + timedelta(days=1))]
            )
            assert [(i.id, i.due_at) for i in await store.outbox()] == [("inv-1", T0)]
            other = OutboxItem(
                id="inv-x",
                invitation_id="inv-1",
                channel="sms",
                state=OutboxState.PENDING,
                due_at=T0,
            )
            with pytest.raises(ConflictError):
                await store.add_invitation(invitation("inv-1", channel="sms"), outbox=[other])
            assert [i.id for i in await store.outbox()] == ["inv-1"]  # nothing of the refused write

        run(backend, scenario)

    def test_many_invitations_in_one_write_with_a_result_each(self, backend):
        """add_invitations stores the good entries, refuses the bad ones alone, and repeats once.

        Among the entries: an outbox item of another invitation (refused before
        writing), a survey version the database cannot hold (refused by the
        database, the others still stored), an id stored before and an id
        repeated within the call (each the stored invitation, its sends not queued).
        """

        async def scenario(store: Store) -> None:
            await store.add_invitation(invitation("inv-0"), outbox=[pending("inv-0", "inv-0")])
            entries = [
                (invitation("inv-1"), [pending("inv-1", "inv-1")]),
                (
                    invitation("inv-2", channel="sms", address=PHONE),
                    [pending("inv-2", "inv-2", channel="sms")],
                ),
                (invitation("inv-3"), [pending("inv-3", "inv-9")]),  # another invitation's send
                (invitation("inv-1", channel="sms"), [pending("inv-1.x", "inv-1")]),  # repeat
                (invitation("inv-4", survey_version=2**63), [pending("inv-4", "inv-4")]),
                (invitation("inv-0", created_at=T0 + timedelta(days=1)), [pending("x", "inv-0")]),
            ]
            results = await store.add_invitations(entries)
            assert [r.created if isinstance(r, AddedInvitation) else None for r in results] == [
                True,
                True,
                None,
                False,
                None,
                False,
            ]
            first, second, stray, repeat, huge, before = results
            assert isinstance(first, AddedInvitation)
            assert first.invitation == entries[0][0]
            assert isinstance(second, AddedInvitation)
            assert second.invitation.channel == "sms"
            assert isinstance(stray, StoreError)
            assert (
                str(stray)
                == "entries[2]: outbox item 'inv-3' sends invitation 'inv-9', not 'inv-3'"
            )
            assert isinstance(repeat, AddedInvitation)
            assert repeat.invitation == entries[0][0]  # the first entry with the id stands
            assert isinstance(huge, StoreError)
            assert str(huge).startswith("invitation 'inv-4': ")
            assert isinstance(before, AddedInvitation)
            assert before.invitation == invitation("inv-0")  # stored before: that one stands
            assert [(i.id, i.channel) for i in await store.outbox()] == [
                ("inv-0", "email"),
                ("inv-1", "email"),
                ("inv-2", "sms"),
            ]
            for refused in ("inv-3", "inv-4"):
                with pytest.raises(StoreError, match=f"no invitation '{refused}'"):
                    await store.invitation(refused)
            created = [
                a.entity_id for a in await store.audit("invitation") if a.action == "created"
            ]
            assert created == ["inv-0", "inv-1", "inv-2"]
            again = await store.add_invitations(entries[:2])
            assert [
                (r.invitation.id, r.created) for r in again if isinstance(r, AddedInvitation)
            ] == [
                ("inv-1", False),
                ("inv-2", False),
            ]
            assert len(await store.outbox()) == 3
            assert await store.add_invitations([]) == []

        run(backend, scenario)

    def test_an_invitation_is_found_by_its_short_code(self, backend):
        """The short code finds its invitation; an unknown one nothing; a taken one is left out.

        Another invitation holding the code (a digest collision) does not fail
        the write: the invitation is stored without a code, and its channels
        send the long link.
        """

        async def scenario(store: Store) -> None:
            await store.add_invitation(invitation("inv-1", short_code="Ab3dE9xK2mQ7"))
            [added] = await store.add_invitations(
                [(invitation("inv-2", short_code="Zz9yX8wV7uT6"), [])]
            )
            assert isinstance(added, AddedInvitation)
            found = await store.invitation_by_short_code("Ab3dE9xK2mQ7")
            assert found is not None
            assert (found.id, found.short_code) == ("inv-1", "Ab3dE9xK2mQ7")
            again = await store.invitation_by_short_code("Zz9yX8wV7uT6")
            assert again is not None
            assert again.id == "inv-2"
            assert await store.invitation_by_short_code("Zz9yX8wV7uT7") is None
            taken, fine = await store.add_invitations(
                [
                    (invitation("inv-3", short_code="Ab3dE9xK2mQ7"), [pending("inv-3", "inv-3")]),
                    (invitation("inv-4", short_code="Qq1wE2rT3yU4"), []),
                ]
            )
            assert isinstance(taken, AddedInvitation)
            assert taken.created
            assert taken.invitation.short_code is None
            assert (await store.invitation("inv-3")).short_code is None
            assert [i.id for i in await store.outbox()] == ["inv-3"]  # its send is queued
            assert isinstance(fine, AddedInvitation)
            assert fine.invitation.short_code == "Qq1wE2rT3yU4"
            still = await store.invitation_by_short_code("Ab3dE9xK2mQ7")
            assert still is not None
            assert still.id == "inv-1"
            with pytest.raises(ValidationError, match="short_code: 'short' is not 12 letters"):
                invitation("inv-5", short_code="short")

        run(backend, scenario)

    def test_an_invitation_is_refused_when_its_person_was_invited_since(self, backend):
        """A guard's person_after: a new invitation is stored only if its person has none newer.

        Stored invitations count, and so do those written earlier in the same
        call; an entry without a time or without a customer is not checked,
        and a repeat of a stored invitation is a repeat, not a refusal.
        """

        async def scenario(store: Store) -> None:
            await store.add_invitation(invitation("inv-0"))  # CUSTOMER, made at T0
            hour = timedelta(hours=1)
            entries = [
                (invitation("inv-1", created_at=T0 + hour), []),  # inv-0 is newer than T0 - 1h
                (invitation("inv-2", created_at=T0 + hour), [pending("inv-2", "inv-2")]),
                (invitation("inv-3", created_at=T0 + 2 * hour), []),  # inv-2 is newer
                (invitation("inv-4", customer_id="C-0", created_at=T0 + hour), []),
                (invitation("inv-5", customer_id=None, created_at=T0 + hour), []),
                (invitation("inv-0"), []),  # a repeat
                (invitation("inv-6", created_at=T0 + 3 * hour), []),  # not checked
            ]
            times = [T0 - hour, T0, T0 + hour / 2, T0 + hour, T0 + hour, T0 - 9 * hour, None]
            results = await store.add_invitations(
                entries, guards=[None if t is None else InviteGuard(person_after=t) for t in times]
            )
            refused = [r for r in results if isinstance(r, AlreadyInvitedError)]
            assert [(r.customer_id, r.invitation_id, r.invited_at, r.window) for r in refused] == [
                (CUSTOMER, "inv-0", T0, "recontact_window"),
                (CUSTOMER, "inv-2", T0 + hour, "recontact_window"),
            ]
            assert str(refused[0]) == (
                f"customer {CUSTOMER!r} was invited at {T0.isoformat()} (invitation 'inv-0'), "
                "inside the recontact window"
            )
            assert [
                (r.invitation.id, r.created) for r in results if isinstance(r, AddedInvitation)
            ] == [
                ("inv-2", True),
                ("inv-4", True),
                ("inv-5", True),
                ("inv-0", False),
                ("inv-6", True),
            ]
            assert [results.index(r) for r in refused] == [0, 2]
            assert [i.id for i in await store.outbox()] == ["inv-2"]
            for gone in ("inv-1", "inv-3"):
                with pytest.raises(StoreError, match=f"no invitation '{gone}'"):
                    await store.invitation(gone)
            with pytest.raises(ValueError, match=r"guards: 1 guards for 2 entries \(expected"):
                await store.add_invitations(entries[:2], guards=[None])

        run(backend, scenario)

    def test_an_invitation_is_refused_inside_its_survey_or_account_window(self, backend):
        """A guard's survey_after counts the person's invitations to that survey; account_after anyone's of the account.

        Invitations to another survey leave the survey window alone; an
        invitation without an account leaves the account window alone; the
        account's invitations are read back with it by invited_since.
        """
        hour = timedelta(hours=1)

        async def scenario(store: Store) -> None:
            await store.add_invitations(
                [
                    (invitation("a-0", survey_id="csat", customer_id="C-1"), []),
                    (invitation("a-1", customer_id="C-2", account_id="ACME"), []),
                ]
            )
            survey = InviteGuard(survey_after=T0 - hour)
            account = InviteGuard(account_after=T0 - hour)
            entries: list[tuple[Invitation, list[OutboxItem], InviteGuard]] = [
                # C-1 was asked "csat" at T0, not "nps": stored.
                (invitation("b-0", customer_id="C-1", created_at=T0 + hour), [], survey),
                # ...and now C-1 has an "nps" invitation: refused.
                (invitation("b-1", customer_id="C-1", created_at=T0 + hour), [], survey),
                (invitation("b-2", survey_id="csat", customer_id="C-1"), [], survey),
                # C-3 is of ACME, whose C-2 was asked at T0: refused.
                (invitation("b-3", customer_id="C-3", account_id="ACME"), [], account),
                # BETA was never asked: stored; then its next one is refused.
                (invitation("b-4", customer_id="C-4", account_id="BETA"), [], account),
                (invitation("b-5", customer_id="C-5", account_id="BETA"), [], account),
                # No account on the invitation: nothing to check.
                (invitation("b-6", customer_id="C-6"), [], account),
            ]
            results = await store.add_invitations(
                [(i, items) for i, items, _ in entries], guards=[g for *_, g in entries]
            )
            outcome = [
                r.window if isinstance(r, AlreadyInvitedError) else r.invitation.id
                for r in results
                if isinstance(r, AlreadyInvitedError | AddedInvitation)
            ]
            assert outcome == [
                "b-0", "survey_window", "survey_window", "account_window",
                "b-4", "account_window", "b-6",
            ]  # fmt: skip
            refused = results[3]
            assert isinstance(refused, AlreadyInvitedError)
            assert (refused.customer_id, refused.account_id, refused.invitation_id) == (
                "C-3",
                "ACME",
                "a-1",
            )
            assert str(refused) == (
                "someone of account 'ACME' (asking customer 'C-3') was invited at "
                f"{T0.isoformat()} (invitation 'a-1'), inside the account window"
            )
            assert str(results[2]).endswith("(invitation 'a-0'), inside the survey window")
            invited = {i.customer_id: i.account_id for i in await store.invited_since(since=T0)}
            assert invited == {"C-1": None, "C-2": "ACME", "C-4": "BETA", "C-6": None}
            assert (await store.invitation("b-4")).account_id == "BETA"

        run(backend, scenario)

    def test_an_invitation_is_refused_once_its_store_made_its_daily_limit(self, backend):
        """A guard's store limit counts the store's guarded invitations of the day, anonymous too.

        Counted in the write: earlier calls, and earlier entries of the call;
        another day or another store has its own count; a refused or repeated
        entry counts nothing.
        """
        day = T0.date().toordinal()

        def limited(store: str = "BLR-01", on: int = day) -> InviteGuard:
            return InviteGuard(store=store, store_day=on, store_limit=2)

        async def scenario(store: Store) -> None:
            [first] = await store.add_invitations(
                [(invitation("s-0", customer_id=None), [])], guards=[limited()]
            )
            assert isinstance(first, AddedInvitation)
            entries: list[tuple[Invitation, list[OutboxItem], InviteGuard]] = [
                (invitation("s-0", customer_id=None), [], limited()),  # a repeat: not counted
                (invitation("s-1", customer_id="C-1"), [], limited()),  # the second of the day
                (invitation("s-2", customer_id="C-2"), [], limited()),  # one too many
                (invitation("s-3", customer_id=None), [], limited()),
                (invitation("s-4", customer_id="C-4"), [], limited(on=day + 1)),
                (invitation("s-5", customer_id="C-5"), [], limited("BLR-02")),
                (invitation("s-6", customer_id="C-6"), [], InviteGuard()),  # not counted
            ]
            results = await store.add_invitations(
                [(i, items) for i, items, _ in entries], guards=[g for *_, g in entries]
            )
            outcome = [
                r.window if isinstance(r, InviteRefusedError) else r.invitation.id
                for r in results
                if isinstance(r, InviteRefusedError | AddedInvitation)
            ]
            assert outcome == ["s-0", "s-1", "store_limit", "store_limit", "s-4", "s-5", "s-6"]
            refused = results[2]
            assert isinstance(refused, StoreLimitError)
            assert (refused.store, refused.day, refused.limit) == ("BLR-01", day, 2)
            assert str(refused) == (
                f"store 'BLR-01' made its 2 invitations of {T0.date().isoformat()} "
                "(the store's daily limit)"
            )
            [later] = await store.add_invitations(
                [(invitation("s-7", customer_id="C-7"), [])], guards=[limited()]
            )
            assert isinstance(later, StoreLimitError)  # from the stored count
            [other_day] = await store.add_invitations(
                [(invitation("s-8", customer_id="C-8"), [])], guards=[limited(on=day + 1)]
            )
            assert isinstance(other_day, AddedInvitation)
            [full] = await store.add_invitations(
                [(invitation("s-9", customer_id="C-9"), [])], guards=[limited(on=day + 1)]
            )
            assert isinstance(full, StoreLimitError)

        run(backend, scenario)

    def test_of_two_writers_asking_one_person_at_once_one_wins(self, backend):
        """Two stores on one database (two processes) race to invite the same people: one each."""
        results, stored = race(
            backend,
            lambda p, n: invitation(
                f"inv-{p}-{n}", customer_id=f"C-{p}", created_at=T0 + timedelta(seconds=n)
            ),
            InviteGuard(person_after=T0),
        )
        won = [r for r in results if isinstance(r, AddedInvitation)]
        assert all(r.created for r in won)
        assert sorted(r.invitation.customer_id or "" for r in won) == sorted(
            f"C-{p}" for p in range(20)
        )
        assert all(isinstance(r, AlreadyInvitedError | AddedInvitation) for r in results)
        assert stored == 20

    def test_of_two_writers_asking_one_account_at_once_one_wins(self, backend):
        """Two stores race to invite two people of each account: one invitation an account."""
        results, stored = race(
            backend,
            lambda a, n: invitation(
                f"inv-{a}-{n}",
                customer_id=f"C-{a}-{n}",
                account_id=f"A-{a}",
                created_at=T0 + timedelta(seconds=n),
            ),
            InviteGuard(account_after=T0),
        )
        won = [r for r in results if isinstance(r, AddedInvitation)]
        assert sorted(r.invitation.account_id or "" for r in won) == sorted(
            f"A-{a}" for a in range(20)
        )
        lost = [r for r in results if isinstance(r, AlreadyInvitedError)]
        assert len(lost) == 20
        assert {r.window for r in lost} == {"account_window"}
        assert stored == 20

    def test_of_two_writers_filling_one_store_at_once_the_limit_holds(self, backend):
        """Two stores race to make 20 invitations each for a store whose limit is 7: 7 in all."""
        results, stored = race(
            backend,
            lambda k, n: invitation(f"inv-{k}-{n}", customer_id=f"C-{k}-{n}"),
            InviteGuard(store="BLR-01", store_day=T0.date().toordinal(), store_limit=7),
        )
        assert sum(isinstance(r, AddedInvitation) for r in results) == 7
        assert sum(isinstance(r, StoreLimitError) for r in results) == 33
        assert stored == 7

    def test_an_invitation_taken_for_a_stratum_minimum_is_refused_once_it_is_met(self, backend):
        """A stratum's count of the day holds every invitation that names it; the minimum caps the rest.

        An invitation the sampling draw took (its guard names the stratum,
        without stratum_min) is counted and never refused; one taken to fill
        the minimum (stratum_min) is written only while the count is under it,
        counting earlier calls and earlier entries of the call. Another
        stratum, rule or day has its own count; a refused entry writes and
        counts nothing, nor does a repeat or an entry without a stratum.
        """
        day = T0.date().toordinal()

        def counted(
            stratum: str = "BLR-01", *, rule: str = "billing_csat", on: int = day
        ) -> InviteGuard:
            return InviteGuard(stratum_rule=rule, stratum=stratum, stratum_day=on)

        def forced(minimum: int = 3, **kw: Any) -> InviteGuard:
            return attrs.evolve(counted(**kw), stratum_min=minimum)

        async def write(
            store: Store, entries: list[tuple[str, str | None, InviteGuard | None]]
        ) -> list[str]:
            """Each entry's id if written, or the window of its refusal."""
            results = await store.add_invitations(
                [(invitation(i, customer_id=who), [pending(i, i)]) for i, who, _ in entries],
                guards=[g for *_, g in entries],
            )
            return [
                r.window if isinstance(r, InviteRefusedError) else r.invitation.id
                for r in results
                if isinstance(r, InviteRefusedError | AddedInvitation)
            ]

        async def scenario(store: Store) -> None:
            assert await write(store, [("s-0", "C-0", counted()), ("s-1", None, forced())]) == [
                "s-0",
                "s-1",
            ]  # 2 of 3, the anonymous one too
            assert await write(
                store,
                [
                    ("s-1", None, forced()),  # a repeat: neither refused nor counted
                    ("s-2", "C-2", forced()),  # 3 of 3
                    ("s-3", "C-3", forced()),  # the minimum is met
                    ("s-4", "C-4", counted()),  # the draw took it: counted, 4
                    ("s-5", "C-5", forced(stratum="BLR-02")),
                    ("s-6", "C-6", forced(rule="nps_relationship")),
                    ("s-7", "C-7", forced(on=day + 1)),
                    ("s-8", "C-8", InviteGuard(person_after=T0 - timedelta(days=30))),
                ],
            ) == ["s-1", "s-2", "not_sampled", "s-4", "s-5", "s-6", "s-7", "s-8"]
            [refused] = await store.add_invitations(
                [(invitation("s-3", customer_id="C-3"), [])], guards=[forced()]
            )
            assert isinstance(refused, StratumFullError)
            assert (refused.rule, refused.stratum, refused.day, refused.minimum) == (
                "billing_csat",
                "BLR-01",
                day,
                3,
            )
            assert str(refused) == (
                f"stratum 'BLR-01' of rule 'billing_csat' made its 3 invitations of "
                f"{T0.date().isoformat()} (the sampling's min_per_day), and the sampling "
                "draw did not take this one"
            )
            stored = {i.id for i in await store.recent_invitations(since=T0)}
            assert "s-3" not in stored
            assert {i.id for i in await store.outbox()} == stored  # s-3 queued nothing
            # The stored counts: BLR-01 has 4 (s-3 not in it), BLR-02 1, the next day 1.
            assert await write(
                store,
                [
                    ("s-10", "C-10", forced(5)),
                    ("s-11", "C-11", forced(5)),
                    ("s-12", "C-12", forced(1, stratum="BLR-02")),
                    ("s-13", "C-13", forced(2, on=day + 1)),
                    ("s-14", "C-14", forced(2, on=day + 1)),
                    ("s-15", "C-15", forced(1, stratum="")),  # no value of the dimension
                    ("s-16", "C-16", forced(1, stratum="")),
                ],
            ) == [
                "s-10",
                "not_sampled",
                "not_sampled",
                "s-13",
                "not_sampled",
                "s-15",
                "not_sampled",
            ]

        run(backend, scenario)

    def test_a_stratum_minimum_refuses_before_a_store_limit(self, backend):
        """An invitation over both its stratum's minimum and its store's limit: the stratum's refusal.

        The sampling comes before the caps, so the skip it stands for is not_sampled.
        """
        day = T0.date().toordinal()
        both = InviteGuard(
            store="BLR-01",
            store_day=day,
            store_limit=1,
            stratum_rule="billing_csat",
            stratum="BLR-01",
            stratum_day=day,
            stratum_min=1,
        )

        async def scenario(store: Store) -> None:
            results = await store.add_invitations(
                [(invitation(f"s-{k}", customer_id=f"C-{k}"), []) for k in range(2)],
                guards=[both, both],
            )
            assert isinstance(results[0], AddedInvitation)
            assert isinstance(results[1], StratumFullError)

        run(backend, scenario)

    def test_of_two_writers_filling_one_stratum_minimum_at_once_it_holds(self, backend):
        """Two stores race to make 20 invitations each to fill a stratum's minimum of 7: 7 in all."""
        results, stored = race(
            backend,
            lambda k, n: invitation(f"inv-{k}-{n}", customer_id=f"C-{k}-{n}"),
            InviteGuard(
                stratum_rule="billing_csat",
                stratum="BLR-01",
                stratum_day=T0.date().toordinal(),
                stratum_min=7,
            ),
        )
        assert sum(isinstance(r, AddedInvitation) for r in results) == 7
        assert sum(isinstance(r, StratumFullError) for r in results) == 33
        assert stored == 7

    def test_a_reminder_counts_in_its_store_day_and_is_refused_at_the_limit(self, backend):
        """enqueue's guards: a reminder counts in its store's day with the first invitations.

        At the limit it is refused, names the store, day and limit, and writes
        nothing; a first invitation after it sees its count. A repeat (queued
        before, or earlier in the call) is neither refused nor counted; an item
        without a guard is not counted; another day has its own count.
        """
        day = T0.date().toordinal()

        def limited(on: int = day) -> InviteGuard:
            return InviteGuard(store="BLR-01", store_day=on, store_limit=3)

        async def scenario(store: Store) -> None:
            await store.add_invitations(
                [(invitation(f"inv-{k}", customer_id=f"C-{k}"), []) for k in range(5)]
            )  # not guarded: not counted
            [first] = await store.add_invitations(
                [(invitation("inv-9", customer_id="C-9"), [pending("inv-9", "inv-9")])],
                guards=[limited()],
            )
            assert isinstance(first, AddedInvitation)  # 1 of 3
            sends = [
                (pending("inv-1.r1", "inv-1"), limited()),  # 2 of 3
                (pending("inv-1.r1", "inv-1"), limited()),  # a repeat in the call
                (pending("inv-9", "inv-9"), limited()),  # queued before
                (pending("inv-2.r1", "inv-2"), None),  # not counted
                (pending("inv-3.r1", "inv-3"), limited()),  # 3 of 3
                (pending("inv-4.r1", "inv-4"), limited()),  # one too many
                (pending("inv-4.r2", "inv-4"), limited(on=day + 1)),  # 1 of 3, the next day
            ]
            results = await store.enqueue(
                [item for item, _ in sends], guards=[guard for _, guard in sends]
            )
            assert [
                r.created if isinstance(r, Enqueued) else type(r).__name__ for r in results
            ] == [True, False, False, True, True, "StoreLimitError", True]
            assert [r.item for r in results if isinstance(r, Enqueued)] == [
                item for n, (item, _) in enumerate(sends) if n != 5
            ]
            refused = results[5]
            assert isinstance(refused, StoreLimitError)
            assert (refused.store, refused.day, refused.limit) == ("BLR-01", day, 3)
            assert str(refused) == (
                f"store 'BLR-01' made its 3 invitations of {T0.date().isoformat()} "
                "(the store's daily limit)"
            )
            queued = ["inv-1.r1", "inv-2.r1", "inv-3.r1", "inv-4.r2", "inv-9"]
            assert sorted(i.id for i in await store.outbox()) == queued  # no inv-4.r1
            # The reminders counted: a first invitation that day is refused, the next day's not.
            [later, next_day] = await store.add_invitations(
                [
                    (invitation("inv-10", customer_id="C-10"), [pending("inv-10", "inv-10")]),
                    (invitation("inv-11", customer_id="C-11"), []),
                ],
                guards=[limited(), limited(on=day + 1)],
            )
            assert isinstance(later, StoreLimitError)
            assert isinstance(next_day, AddedInvitation)
            assert next_day.created  # 2 of 3 the next day
            # A repeat of a queued reminder is no new send, even when the day is full.
            again = await store.enqueue([pending("inv-3.r1", "inv-3")], guards=[limited()])
            assert again == [Enqueued(pending("inv-3.r1", "inv-3"), created=False)]
            [last, over] = await store.enqueue(
                [pending("inv-5.r1", "inv-5"), pending("inv-6.r1", "inv-6")],
                guards=[limited(on=day + 1), limited(on=day + 1)],
            )
            assert isinstance(last, Enqueued)
            assert last.created  # 3 of 3 the next day
            assert isinstance(over, StoreLimitError)
            assert over.day == day + 1
            assert sorted(i.id for i in await store.outbox()) == sorted([*queued, "inv-5.r1"])

        run(backend, scenario)

    def test_a_reminder_guard_holds_only_a_store_limit(self, backend):
        """enqueue refuses a guard with a recontact window, and guards that do not match the items."""

        async def scenario(store: Store) -> None:
            item = pending("inv-1.r1", "inv-1")
            with pytest.raises(
                ValueError,
                match=(
                    r"guards\[0\]: person_after is 2026-11-20T09:00:00\+00:00 for outbox item "
                    r"'inv-1.r1' \(expected None: a send of a stored invitation is held to its "
                    r"store's daily limit only"
                ),
            ):
                await store.enqueue([item], guards=[InviteGuard(person_after=T0)])
            stratum = InviteGuard(stratum_rule="billing_csat", stratum="BLR-01", stratum_day=1)
            with pytest.raises(
                ValueError,
                match=(
                    r"guards\[0\]: stratum_rule is 'billing_csat' for outbox item 'inv-1.r1' "
                    r"\(expected None: a send of a stored invitation is no new invitation of "
                    r"its rule's sampling stratum\)"
                ),
            ):
                await store.enqueue([item], guards=[stratum])
            with pytest.raises(ValueError, match=r"guards: 2 guards for 1 items \(expected one"):
                await store.enqueue([item], guards=[None, None])
            assert await store.outbox() == []
            assert await store.enqueue([]) == []

        run(backend, scenario)

    def test_of_two_writers_sending_reminders_for_one_store_at_once_the_limit_holds(self, backend):
        """Two stores race to queue 20 reminders each for a store whose limit is 7: 7 in all.

        The invitations they remind of were stored without a guard, so only
        the reminders count; the count the store keeps refuses a first
        invitation after them.
        """
        day = T0.date().toordinal()
        guard = InviteGuard(store="BLR-01", store_day=day, store_limit=7)

        async def invite(store: Store) -> None:
            await store.add_invitations(
                [(invitation(f"inv-{k}", customer_id=f"C-{k}"), []) for k in range(20)]
            )

        async def remind(store: Store, k: int, n: int) -> Written:
            [result] = await store.enqueue([pending(f"inv-{k}.r{n}", f"inv-{k}")], guards=[guard])
            return result

        async def queued(store: Store) -> int:
            [after] = await store.add_invitations(
                [(invitation("inv-late", customer_id="C-late"), [])], guards=[guard]
            )
            assert isinstance(after, StoreLimitError)
            return len(await store.outbox())

        results, stored = race_writes(backend, remind, queued, before=invite)
        assert sum(isinstance(r, Enqueued) and r.created for r in results) == 7
        assert sum(isinstance(r, StoreLimitError) for r in results) == 33
        assert stored == 7

    def test_who_was_invited_since_a_time(self, backend):
        """invited_since reads who was invited when, oldest first; count_invited counts a span."""

        async def scenario(store: Store) -> None:
            await store.add_invitations(
                [
                    (invitation("inv-3", created_at=T0 + timedelta(hours=3)), []),
                    (invitation("inv-1", created_at=T0 + timedelta(hours=1)), []),
                    (invitation("inv-0", customer_id="C-0", created_at=T0), []),
                    (invitation("inv-2", customer_id=None, created_at=T0 + timedelta(hours=2)), []),
                ]
            )
            since = await store.invited_since(since=T0 + timedelta(hours=1))
            assert since == [
                Invited(CUSTOMER, "nps", T0 + timedelta(hours=1)),
                Invited(CUSTOMER, "nps", T0 + timedelta(hours=3)),
            ]
            assert since[0].created_at.tzinfo is not None
            every = await store.invited_since(since=T0)
            assert [i.customer_id for i in every] == ["C-0", CUSTOMER, CUSTOMER]
            hours = [T0 + timedelta(hours=h) for h in range(5)]
            assert await store.count_invited(since=hours[0], until=hours[4]) == 3
            assert await store.count_invited(since=hours[1], until=hours[3]) == 1  # not inv-2's
            assert await store.count_invited(since=hours[0], until=hours[0]) == 0

        run(backend, scenario)

    def test_a_late_finish_never_overwrites_what_happened_since(self, backend):
        """A worker whose claim was released cannot record its outcome; an operator can."""

        async def scenario(store: Store) -> None:
            await store.enqueue(
                pending(f"o{i}", f"inv-{i}", channel=ch)
                for i, ch in enumerate(["email", "sms", "email", "sms"])
            )
            with pytest.raises(ValueError, match="limit: -1 is not 0 or more"):
                await store.claim("a", now=T0, limit=-1, lease=timedelta(minutes=1))
            mine = await store.claim(
                "a", now=T0, limit=10, lease=timedelta(minutes=1), channels=["sms"]
            )
            assert [i.id for i in mine] == ["o1", "o3"]
            theirs = await store.claim("b", now=T0, limit=1, lease=timedelta(minutes=1))
            assert [i.id for i in theirs] == ["o0"]
            released = await store.release_claims("a", now=T0)
            assert [(i.id, i.state) for i in released] == [
                ("o1", OutboxState.UNKNOWN),
                ("o3", OutboxState.UNKNOWN),
            ]
            with pytest.raises(ClaimLostError, match="'o1' is no longer claimed by 'a'"):
                await store.finish("o1", OutboxState.SENT, at=T0, provider_id="SM1", worker="a")
            assert {i.id: i.state for i in await store.outbox()}["o1"] is OutboxState.UNKNOWN
            done = await store.finish(
                "o1", OutboxState.SENT, at=T0, provider_id="SM1"
            )  # an operator's decision
            assert done.state is OutboxState.SENT
            ok = await store.finish("o0", OutboxState.SENT, at=T0, provider_id="SM0", worker="b")
            assert ok.state is OutboxState.SENT

        run(backend, scenario)


def pending(
    item_id: str, invitation_id: str, *, channel: str = "email", at: datetime = T0
) -> OutboxItem:
    return OutboxItem(
        id=item_id,
        invitation_id=invitation_id,
        channel=channel,
        state=OutboxState.PENDING,
        due_at=at,
    )


def consent(
    channel: str, *, granted: bool, at: datetime, purpose: Purpose = Purpose.SURVEY
) -> Consent:
    return Consent(channel, purpose, granted=granted, source="email_link", recorded_at=at)


Written: TypeAlias = "AddedInvitation | Enqueued | StoreError"


def race(
    backend: Callable[..., Any],
    make: Callable[[int, int], Invitation],
    guard: InviteGuard,
) -> tuple[list[Written], int]:
    """Two stores on one database (two processes) write make(k, 1) and make(k, 2), k < 20, at once.

    Each invitation alone, with *guard*; every result, and how many invitations were stored.
    """

    async def invite(store: Store, k: int, n: int) -> Written:
        [result] = await store.add_invitations([(make(k, n), [])], guards=[guard])
        return result

    async def invited(store: Store) -> int:
        return len(await store.recent_invitations(since=T0))

    return race_writes(backend, invite, invited)


def race_writes(
    backend: Callable[..., Any],
    write: Callable[[Store, int, int], Awaitable[Written]],
    count: Callable[[Store], Awaitable[int]],
    *,
    before: Scenario | None = None,
) -> tuple[list[Written], int]:
    """Two stores on one database (two processes) run write(one, k, 1) and write(two, k, 2), k < 20, at once.

    After *before* (run on the first store); every result, and what *count* counts then.
    """

    async def main() -> tuple[list[Written], int]:
        async with backend() as one, backend() as two:
            if before is not None:
                await before(one)
            results = await asyncio.gather(
                *(write(store, k, n) for k in range(20) for n, store in ((1, one), (2, two)))
            )
            return list(results), await count(one)

    return asyncio.run(main())


class TestClaimSends:
    def test_each_send_comes_with_its_invitation_and_facts(self, backend):
        """A claim of sends gives each its invitation, and the facts the one-at-a-time reads give."""

        async def scenario(store: Store) -> None:
            people = {
                "inv-1": ("C-1", "one@example.com"),  # nothing against
                "inv-2": ("C-2", "two@example.com"),  # suppressed on email
                "inv-3": ("C-3", "Three@Example.com"),  # suppressed everywhere, another case
                "inv-4": ("C-4", "four@example.com"),  # withdrew, then granted email again
                "inv-5": ("C-5", "five@example.com"),  # withdrew email for marketing only
                "inv-6": ("C-6", "six@example.com"),  # address withdrew everything, same instant
                "inv-7": (None, "+919812345678"),  # no customer; withdrew sms only
            }
            for inv_id, (customer, address) in people.items():
                channel = "sms" if address.startswith("+") else "email"
                await store.add_invitation(
                    invitation(inv_id, customer_id=customer, address=address, channel=channel),
                    outbox=[pending(inv_id, inv_id, channel=channel)],
                )
            await store.enqueue([pending("inv-1.r1", "inv-1", at=T0 + timedelta(minutes=1))])
            await store.enqueue([pending("orphan", "inv-gone", at=T0 + timedelta(minutes=2))])
            await store.enqueue([pending("later", "inv-1", at=T0 + timedelta(days=1))])
            await store.suppress("two@example.com", "email", "hard_bounce")
            await store.suppress("two@example.com", "*", "complaint")  # the channel's own wins
            await store.suppress("three@example.com", "*", "complaint")
            await store.suppress("one@example.com", "sms", "hard_bounce")  # another channel
            await store.record_consent(
                "C-4", consent("*", granted=False, at=T0 - timedelta(days=2))
            )
            await store.record_consent(
                "C-4", consent("email", granted=True, at=T0 - timedelta(days=1))
            )
            await store.record_consent(
                "C-5", consent("email", granted=False, at=T0, purpose=Purpose.MARKETING)
            )
            await store.record_consent("six@example.com", consent("email", granted=True, at=T0))
            await store.record_consent(
                "six@example.com", consent("*", granted=False, at=T0)
            )  # later row
            await store.record_consent("+919812345678", consent("sms", granted=False, at=T0))

            now = T0 + timedelta(minutes=5)
            sends = await store.claim_sends("w", now=now, limit=20, lease=timedelta(minutes=1))
            assert all(isinstance(s, ClaimedSend) for s in sends)
            assert [s.item.id for s in sends] == [
                "inv-1",
                "inv-2",
                "inv-3",
                "inv-4",
                "inv-5",
                "inv-6",
                "inv-7",
                "inv-1.r1",
                "orphan",
            ]  # by due time, then id; not what is due later
            assert {(s.item.state, s.item.claimed_by, s.item.attempts) for s in sends} == {
                (OutboxState.SENDING, "w", 1)
            }
            assert {s.item.claimed_until for s in sends} == {now + timedelta(minutes=1)}
            by_id = {s.item.id: s for s in sends}
            assert by_id["inv-1"].invitation == invitation(
                "inv-1", customer_id="C-1", address="one@example.com"
            )
            assert by_id["inv-1.r1"].invitation == by_id["inv-1"].invitation
            assert (by_id["orphan"].invitation, by_id["orphan"].problem) == (
                None,
                "no invitation 'inv-gone' is stored",
            )
            facts = {
                s.item.id: (
                    s.suppression,
                    s.customer_consent and s.customer_consent.granted,
                    s.address_consent and s.address_consent.granted,
                )
                for s in sends
            }
            assert facts == {
                "inv-1": (None, None, None),
                "inv-2": ("hard_bounce", None, None),
                "inv-3": ("complaint", None, None),
                "inv-4": (None, True, None),
                "inv-5": (None, None, None),
                "inv-6": (None, None, False),
                "inv-7": (None, None, False),
                "inv-1.r1": (None, None, None),
                "orphan": (None, None, None),
            }
            # The very answers of the one-at-a-time reads.
            for s in sends:
                if s.invitation is None:
                    continue
                to, who = s.invitation.address, s.invitation.customer_id
                assert to is not None
                ch = s.item.channel
                assert s.suppression == await store.suppression(to, ch)
                assert s.address_consent == await store.consent(to, ch, Purpose.SURVEY)
                assert s.customer_consent == (
                    None if who is None else await store.consent(who, ch, Purpose.SURVEY)
                )
            marketing = await store.claim_sends(
                "w", now=now, limit=20, lease=timedelta(minutes=1), purpose=Purpose.MARKETING
            )
            assert marketing == []  # everything due is claimed already

        run(backend, scenario)

    def test_claims_never_overlap_and_honour_limit_and_channels(self, backend):
        """Two workers claiming sends at once get disjoint items, only on the channels asked for."""

        async def scenario(store: Store) -> None:
            for i in range(12):
                channel = "sms" if i % 4 == 3 else "email"
                await store.add_invitation(
                    invitation(f"inv-{i}", channel=channel),
                    outbox=[pending(f"o{i:02}", f"inv-{i}", channel=channel)],
                )
            with pytest.raises(ValueError, match="limit: -1 is not 0 or more"):
                await store.claim_sends("a", now=T0, limit=-1, lease=timedelta(minutes=1))
            a, b = await asyncio.gather(
                store.claim_sends(
                    "a", now=T0, limit=4, lease=timedelta(minutes=1), channels=["email"]
                ),
                store.claim_sends(
                    "b", now=T0, limit=4, lease=timedelta(minutes=1), channels=["email"]
                ),
            )
            ids = [s.item.id for s in a] + [s.item.id for s in b]
            assert len(ids) == len(set(ids)) == 8
            assert {s.item.channel for s in [*a, *b]} == {"email"}
            assert {s.item.claimed_by for s in a} == {"a"}
            rest = await store.claim_sends("c", now=T0, limit=10, lease=timedelta(minutes=1))
            everything = {f"o{i:02}" for i in range(12)}
            assert sorted(s.item.id for s in rest) == sorted(everything - set(ids))
            assert {s.item.channel for s in rest} == {"email", "sms"}
            assert await store.claim_sends("c", now=T0, limit=10, lease=timedelta(minutes=1)) == []

        run(backend, scenario)


class TestFinishMany:
    def test_each_item_is_compared_and_set_on_its_own(self, backend):
        """Finishes of held claims are recorded; a lost claim or a missing item is reported, alone."""

        async def scenario(store: Store) -> None:
            for i in range(4):
                await store.add_invitation(
                    invitation(f"inv-{i}"), outbox=[pending(f"o{i}", f"inv-{i}")]
                )
            mine = await store.claim("a", now=T0, limit=3, lease=timedelta(minutes=1))
            theirs = await store.claim("b", now=T0, limit=1, lease=timedelta(minutes=1))
            assert ([i.id for i in mine], [i.id for i in theirs]) == (["o0", "o1", "o2"], ["o3"])
            await store.finish("o2", OutboxState.UNKNOWN, at=T0)  # an operator got there first
            at = T0 + timedelta(seconds=30)
            results = await store.finish_many(
                [
                    Finish(
                        item_id="o0",
                        state=OutboxState.SENT,
                        at=at,
                        provider_id="SM0",
                        disposition=Disposition.SENT,
                        disposition_detail="SM0",
                    ),
                    Finish(
                        item_id="o2", state="sent", at=at, provider_id="SM2", disposition="sent"
                    ),
                    Finish(item_id="o3", state=OutboxState.FAILED, at=at, error="550"),
                    Finish(item_id="nowhere", state=OutboxState.FAILED, at=at),
                    Finish(
                        item_id="o1",
                        state=OutboxState.PENDING,
                        at=at,
                        error="421 busy",
                        retry_at=at + timedelta(minutes=2),
                    ),
                ],
                worker="a",
            )
            sent, lost, theirs_lost, missing, retry = results
            assert isinstance(sent, OutboxItem)
            assert (sent.state, sent.provider_id, sent.claimed_by, sent.attempts) == (
                OutboxState.SENT,
                "SM0",
                None,
                1,
            )
            assert isinstance(lost, ClaimLostError)
            assert "'o2' is no longer claimed by 'a' (it is unknown" in str(lost)
            assert isinstance(theirs_lost, ClaimLostError)
            assert "claimed by 'b'" in str(theirs_lost)
            assert isinstance(missing, StoreError)
            assert not isinstance(missing, ClaimLostError)
            assert str(missing) == "no outbox item 'nowhere' is stored"
            assert isinstance(retry, OutboxItem)
            assert (retry.state, retry.due_at, retry.last_error, retry.claimed_until) == (
                OutboxState.PENDING,
                at + timedelta(minutes=2),
                "421 busy",
                None,
            )
            stored = {i.id: i for i in await store.outbox()}
            assert stored["o0"] == sent
            assert stored["o1"] == retry
            assert stored["o2"].state is OutboxState.UNKNOWN  # what happened since stands
            assert (stored["o3"].state, stored["o3"].claimed_by) == (OutboxState.SENDING, "b")
            assert await store.dispositions("inv-0") == [(Disposition.SENT, at)]
            assert await store.dispositions("inv-2") == []  # nothing of a lost claim
            actions = [(e.entity_id, e.action) for e in await store.audit()]
            assert ("o0", "sent") in actions
            assert ("inv-0", "sent") in actions
            assert ("o2", "sent") not in actions
            assert ("o1", "pending") in actions
            # An operator (no worker) decides whatever the state; the disposition goes with it.
            (decided,) = await store.finish_many(
                [Finish(item_id="o2", state="failed", at=at, disposition="failed", error="bounced")]
            )
            assert isinstance(decided, OutboxItem)
            assert decided.state is OutboxState.FAILED
            assert await store.dispositions("inv-2") == [(Disposition.FAILED, at)]
            assert await store.finish_many([], worker="a") == []

        run(backend, scenario)

    def test_one_disposition_per_invitation_and_none_without_it(self, backend):
        """Two sends of one invitation record its disposition once; a missing invitation refuses its item."""

        async def scenario(store: Store) -> None:
            await store.add_invitation(
                invitation("inv-1"),
                outbox=[pending("inv-1", "inv-1"), pending("inv-1.r1", "inv-1")],
            )
            await store.enqueue([pending("orphan", "inv-gone")])
            await store.claim("a", now=T0, limit=10, lease=timedelta(minutes=1))
            first, second = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
            results = await store.finish_many(
                [
                    Finish(item_id="inv-1", state="sent", at=first, disposition="sent"),
                    Finish(item_id="orphan", state="sent", at=first, disposition="sent"),
                    Finish(item_id="inv-1.r1", state="sent", at=second, disposition="sent"),
                ],
                worker="a",
            )
            assert [type(r).__name__ for r in results] == ["OutboxItem", "StoreError", "OutboxItem"]
            assert "no invitation 'inv-gone' is stored" in str(results[1])
            assert await store.dispositions("inv-1") == [(Disposition.SENT, first)]
            assert {i.id: i.state for i in await store.outbox()}["orphan"] is OutboxState.SENDING
            audited = [e for e in await store.audit("invitation") if e.action == "sent"]
            assert len(audited) == 1

        run(backend, scenario)

    def test_a_bad_batch_writes_nothing(self, backend):
        """One item finished twice in a call refuses the whole call; a Finish checks its fields."""

        async def scenario(store: Store) -> None:
            await store.enqueue([pending("o0", "inv-0")])
            await store.claim("a", now=T0, limit=1, lease=timedelta(minutes=1))
            with pytest.raises(StoreError, match="'o0' is finished twice; nothing was written"):
                await store.finish_many(
                    [
                        Finish(item_id="o0", state="sent", at=T0),
                        Finish(item_id="o0", state="failed", at=T0),
                    ],
                    worker="a",
                )
            assert [i.state for i in await store.outbox()] == [OutboxState.SENDING]

        run(backend, scenario)
        with pytest.raises(ValidationError) as info:
            Finish(item_id="o0", state="pending", at=datetime(2026, 11, 20, 9, 0))  # noqa: DTZ001
        text = str(info.value)
        assert "retry_at: is required to put a send back to pending" in text
        assert "at:" in text
        with pytest.raises(ValidationError, match="state"):
            Finish(item_id="o0", state="lost", at=T0)


class TestCases:
    def test_open_update_and_list(self, backend):
        """Cases are opened once, move through statuses, and list by deadline."""

        async def scenario(store: Store) -> None:
            case = Case(
                id="case-1",
                owner="store_manager",
                status="open",
                reason="NPS detractor (3)",
                opened_at=T0,
                updated_at=T0,
                due_at=T0 + timedelta(hours=24),
                customer_id=CUSTOMER,
            )
            await store.open_case(case)
            await store.open_case(attrs.evolve(case, id="case-2", due_at=T0 + timedelta(hours=4)))
            with pytest.raises(ConflictError):
                await store.open_case(case)
            moved = await store.update_case(
                "case-1", CaseStatus.RESOLVED, at=T0 + timedelta(hours=2), owner="support_lead"
            )
            assert (moved.status, moved.owner) == (CaseStatus.RESOLVED, "support_lead")
            assert [c.id for c in await store.cases()] == ["case-2", "case-1"]
            assert [c.id for c in await store.cases(CaseStatus.OPEN)] == ["case-2"]
            assert [e.action for e in await store.audit("case")] == ["opened", "opened", "resolved"]

        run(backend, scenario)


def all_text(db: Path) -> str:
    """Every value of every column of every table, as text."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(
            str(v) for t in tables for row in conn.execute(f"SELECT * FROM {t}") for v in row
        )
    finally:
        conn.close()


class TestPrivacy:
    def test_erasure_leaves_no_trace_of_the_person(self, backend, tmp_path):
        """After erasure no table holds the person's id, email or phone; the erasure itself is audited."""

        async def scenario(store: Store) -> None:
            await store.add_invitation(invitation("inv-1"))
            await store.add_invitation(
                invitation("inv-2", channel="sms", address=PHONE, customer_id=None)
            )
            await store.record_disposition("inv-1", Disposition.SENT, T0)
            await store.enqueue(
                [
                    OutboxItem(
                        id="o1",
                        invitation_id="inv-2",
                        channel="sms",
                        state=OutboxState.PENDING,
                        due_at=T0,
                    )
                ]
            )
            done = await store.submit(
                submission("k1", {"ltr": 2, "why": f"Call me on {PHONE}"}, complete=True)
            )
            await store.submit(
                submission(
                    "k2",
                    {"ltr": 9},
                    invitation_id="inv-2",
                    customer_id=None,
                    respondent="anonymous",
                )
            )
            await store.record_consent(
                CUSTOMER,
                Consent("email", "survey", granted=True, source="signup_form", recorded_at=T0),
            )
            await store.record_consent(
                PHONE, Consent("sms", "survey", granted=False, source="sms_stop", recorded_at=T0)
            )
            await store.open_case(
                Case(
                    id="case-1",
                    owner="store_manager",
                    status="open",
                    reason="detractor",
                    opened_at=T0,
                    updated_at=T0,
                    response_id=done.response.id,
                )
            )
            await store.suppress(PHONE, "sms", "sms_stop")
            await store.submit(
                submission(
                    "other",
                    {"ltr": 10},
                    invitation_id="inv-3",
                    customer_id="C-7",
                    context={"store": "DEL-02"},
                )
            )
            counts = await store.erase_person(customer_id=CUSTOMER, addresses=[EMAIL, PHONE])
            assert counts["responses"] == 2
            assert counts["invitations"] == 2
            assert counts["consent"] == 2
            assert counts["cases"] == 1
            assert counts["outbox"] == 1
            assert await store.count_responses() == 1
            assert await store.suppression(PHONE, "sms") == "sms_stop"  # still honoured
            erasures = await store.audit("person")
            assert [e.action for e in erasures] == ["erased"]
            assert erasures[0].detail["responses"] == 2

        run(backend, scenario)
        text = all_text(tmp_path / "cx.db")
        for identifier in (CUSTOMER, EMAIL, PHONE, "ORD-991"):
            assert identifier not in text, identifier
        assert "C-7" in text

    def test_retention_purges_personal_data_and_keeps_answers(self, backend, tmp_path):
        """Past the survey's retention, links, text answers and non-dimension context go; scores stay."""
        clock = ManualClock(T0)

        async def scenario(store: Store) -> None:
            await store.put_survey(survey(survey_id="short", retention_days=30))
            old = await store.submit(
                submission(
                    "k1",
                    {"ltr": 3, "why": "Rude staff"},
                    survey_id="short",
                    complete=True,
                    context={"store": "BLR-01", "order": "ORD-1", "amount": 1200},
                )
            )
            await store.submit(
                submission("k2", {"ltr": 9}, invitation_id="inv-2")
            )  # no retention policy
            clock.advance(days=31)
            recent = await store.submit(
                submission(
                    "k3", {"ltr": 3}, survey_id="short", invitation_id="inv-3", at=clock.now()
                )
            )
            assert await store.apply_retention() == 1
            purged = await store.response(old.response.id)
            assert purged.answers == {"ltr": 3}
            assert purged.customer_id is None
            assert purged.invitation_id is None
            assert purged.respondent is RespondentKind.ANONYMOUS
            assert purged.context == {"store": "BLR-01"}
            assert (await store.response(recent.response.id)).customer_id == CUSTOMER
            assert await store.apply_retention() == 0

        run(backend, scenario, clock=clock)


class TestExport:
    def test_csv_escapes_formulas(self, backend):
        """Cells a spreadsheet would execute start with an apostrophe; numbers stay numbers."""

        async def scenario(store: Store) -> None:
            await store.submit(
                submission(
                    "k1",
                    {"ltr": 2, "why": '=HYPERLINK("http://evil")', "topics": ["price", "staff"]},
                    complete=True,
                    context={"store": "+BLR", "note": "@admin"},
                )
            )
            out = io.StringIO()
            assert await store.export_csv(out, survey_id="nps") == 1
            header, row = out.getvalue().splitlines()
            assert header.endswith(",ltr,why,topics,note,store")
            assert ',2,"\'=HYPERLINK(""http://evil"")",price;staff,\'@admin,\'+BLR' in row

        run(backend, scenario)


def _both_backends_fit_the_port(
    sqlite: SQLiteStore, postgres: PostgresStore
) -> tuple[StorePort, StorePort]:
    """mypy checks these assignments: each backend has every method of the port, typed alike."""
    return sqlite, postgres


class TestPort:
    def test_the_backend_is_a_store(self, backend):
        """The store under test satisfies the Store protocol at run time too."""

        async def scenario(store: Store) -> None:
            assert isinstance(store, StorePort)
            assert await store.schema_version() >= 1

        run(backend, scenario)


class TestParquet:
    def test_parquet_keeps_types(self, backend, tmp_path):
        """Scores are integers, several choices lists, times UTC timestamps; context keeps its kinds."""
        pq = pytest.importorskip("pyarrow.parquet")
        path = tmp_path / "nps.parquet"

        async def scenario(store: Store) -> None:
            await store.submit(
                submission(
                    "k1",
                    {"ltr": 3, "why": "Long queue", "topics": ["price", "staff"]},
                    complete=True,
                    context={"store": "BLR-01", "amount": 1499},
                )
            )
            await store.submit(
                submission(
                    "k2",
                    {"ltr": 10},
                    invitation_id="inv-2",
                    context={"store": "DEL-02", "amount": "n/a"},
                )
            )
            assert await store.export_parquet(path, survey_id="nps") == 2

        run(backend, scenario)
        table = pq.read_table(path)
        assert table.num_rows == 2
        schema = {f.name: str(f.type) for f in table.schema}
        assert schema["ltr"] == "int64"
        topics = table.schema.field("topics").type
        assert (str(topics).split("<")[0], str(topics.value_type)) == ("list", "string")
        assert schema["started_at"] == "timestamp[us, tz=UTC]"
        assert schema["amount"] == "string"  # an int and a text in one column: kept as text
        rows = {r["response_id"]: r for r in table.to_pylist()}
        assert sorted(r["ltr"] for r in rows.values()) == [3, 10]
        first = next(r for r in rows.values() if r["ltr"] == 3)
        assert (first["why"], first["topics"], first["store"], first["amount"]) == (
            "Long queue",
            ["price", "staff"],
            "BLR-01",
            "1499",
        )
        assert first["completed_at"] == T0


class TestSurveys:
    def test_versions_are_immutable_and_the_latest_is_default(self, backend):
        """A stored version cannot change; new content needs a new version."""

        async def scenario(store: Store) -> None:
            await store.put_survey(survey())  # the same again: fine
            with pytest.raises(ConflictError, match="publish changes as a new version"):
                await store.put_survey(survey(RepeatPolicy.KEEP_ALL))
            await store.put_survey(attrs.evolve(survey(), version=2))
            assert (await store.survey("nps")).version == 2
            assert (await store.survey("nps", 1)).on_repeat is RepeatPolicy.FIRST_WINS

        run(backend, scenario)

    def test_the_latest_is_read_from_the_file_each_time(self, tmp_path):
        """A version another store on the same file publishes is the latest at once, parsed once."""

        async def scenario() -> None:
            async with (
                SQLiteStore(tmp_path / "x.db") as ours,
                SQLiteStore(tmp_path / "x.db") as other,
            ):
                await ours.put_survey(survey())
                first = await ours.survey("nps")
                assert await ours.survey("nps") is first  # known here: not parsed again
                await other.put_survey(attrs.evolve(survey(), version=2))
                assert (await ours.survey("nps")).version == 2
                assert await ours.survey("nps", 1) is first

        asyncio.run(scenario())

    def test_closed_store_says_how_to_open_it(self, tmp_path):
        """Using a store before opening it is a clear error."""
        with pytest.raises(StoreError, match="not open"):
            asyncio.run(SQLiteStore(tmp_path / "x.db").response("r"))


class TestSQLiteWriter:
    def test_a_write_whose_caller_gave_up_leaves_the_writer_running(self, tmp_path):
        """A write cancelled while queued (a timeout) still stands, and later writes go on."""

        async def scenario() -> None:
            async with SQLiteStore(tmp_path / "x.db") as store:
                await store.put_survey(survey())
                busy = asyncio.ensure_future(store._write(lambda _c: time.sleep(0.3)))
                await asyncio.sleep(0.05)  # the writer is busy: the next write waits in line
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(store.submit(submission("k1", {"ltr": 9})), 0.05)
                await busy
                later = await asyncio.wait_for(store.submit(submission("k2", {"ltr": 3})), 10)
                assert later.outcome is SubmitOutcome.UPDATED  # the first write stood
                assert await store.count_responses() == 1

        asyncio.run(scenario())


class TestScoresStayInStep:
    """``answer_scores`` (schema 2) follows every write, so SQL scores always equal in-memory ones."""

    SURVEY = Survey(
        id="visit",
        title={"en": "Visit"},
        on_repeat=RepeatPolicy.LAST_WINS,
        retention_days=30,
        questions=[
            NpsQuestion(id="ltr", text={"en": "Recommend?"}),
            CesQuestion(id="effort", text={"en": "Easy?"}, direction=Direction.LOWER_IS_BETTER),
            TextQuestion(id="why", text={"en": "Why?"}),
        ],
    )
    BY = (
        (),
        ("store",),
        ("region",),
        ("vip",),
        ("store", "answer_channel"),
        ("question",),
        ("respondent",),
    )

    async def agree(self, store: Store) -> int:
        """Compare frame() and score() with scoring store.responses() in memory; return the rows."""
        from cxcore.scoring import ResponseFrame, score  # noqa: PLC0415 - numpy-backed

        def summary(cells: Any) -> dict[Any, Any]:
            # In memory, a group with answers to other metrics only is an empty cell; SQL
            # counts only this metric's answers, so it has no such group (documented).
            return {c.key: (c.n, c.score, c.low, c.high, dict(c.counts)) for c in cells if c.n}

        expected = ResponseFrame.from_responses(
            await store.responses(survey_id="visit"), [self.SURVEY]
        )
        frame = await store.frame(
            survey_id="visit",
            dimensions=("store", "region", "vip", "question", "answer_channel", "respondent"),
        )
        assert len(frame) == len(expected)
        ces = await store.frame(survey_id="visit", metrics=["ces"], dimensions=("store",))
        assert ces.metrics == ("ces",)
        assert len(ces) == len(expected.select(metrics=["ces"]))
        with pytest.raises(
            StoreError, match=r"no question feeding metric 'csat' \(it feeds: nps, ces\)"
        ):
            await store.frame(survey_id="visit", metrics=["nps", "csat"])
        for metric in ("nps", "ces"):
            for by in self.BY:
                want = summary(score(expected, metric, by=by))
                assert summary(await store.score(metric, survey_id="visit", by=by)) == want, by
                assert summary(score(frame, metric, by=by)) == want, by
            only = await store.score(
                metric, survey_id="visit", where={"region": "south", "vip": True}
            )
            assert summary(only) == summary(
                score(expected.select(where={"region": "south", "vip": True}), metric)
            )
        return len(expected)

    AWKWARD: tuple[Any, ...] = (
        'a,b "quoted" \\ back',
        "[1, 2]",
        "null",
        "नमस्ते 🙂",
        "",
        7,
        -2.5,
        3.0,
        True,
        None,
    )

    def test_frame_carries_every_dimension_value_exactly(self, backend):
        """Frames are read column by column: any value, in a column or in the context, arrives intact."""
        from cxcore.scoring import ResponseFrame  # noqa: PLC0415 - numpy-backed

        def rows(frame: ResponseFrame, names: tuple[str, ...]) -> list[str]:
            columns = frame.to_columns()
            keys = ("metric", "score", "answered_at", *names)
            # Stores give JSON true and false as 1 and 0, as json_extract reads them.
            return sorted(
                repr(tuple(int(v) if isinstance(v, bool) else v for v in row))
                for row in zip(*(columns[k].tolist() for k in keys), strict=True)
            )

        async def scenario(store: Store) -> None:
            await store.put_survey(self.SURVEY)
            for i, value in enumerate(self.AWKWARD):
                context = {} if value is None else {"store": value, "region": value}
                await store.submit(
                    submission(
                        f"w{i}",
                        {"ltr": i, "effort": 1 + i % 7},
                        survey_id="visit",
                        invitation_id=None,
                        at=T0 + timedelta(minutes=i),
                        context=context,
                    )
                )
            names = ("store", "region", "question", "answer_channel")
            expected = ResponseFrame.from_responses(
                await store.responses(survey_id="visit"), [self.SURVEY]
            )
            frame = await store.frame(survey_id="visit", dimensions=names)
            assert len(frame) == 2 * len(self.AWKWARD)
            assert rows(frame, names) == rows(expected, names)
            empty = await store.frame(survey_id="visit", where={"store": "nowhere"})
            assert (len(empty), empty.metrics) == (0, ("nps", "ces"))

        run(backend, scenario)

    def test_every_write_path_keeps_scores_in_step(self, backend):
        """Submit, complete, amend, append, retention and erasure each keep SQL scores exact."""
        clock = ManualClock(T0)

        def visit(key: str, answers: dict[str, Any], **kw: Any) -> Submission:
            fields: dict[str, Any] = {
                "survey_id": "visit",
                "invitation_id": None,
                "at": clock.now(),
                "context": {"store": "BLR-01", "region": "south", "vip": True},
            }
            fields.update(kw)
            return submission(key, answers, **fields)

        async def scenario(store: Store) -> None:
            await store.put_survey(self.SURVEY)
            (empty,) = await store.score("nps", survey_id="visit")  # as in memory: one empty cell
            assert (empty.key, empty.n, empty.score) == ((), 0, None)
            assert await store.score("nps", survey_id="visit", by=("store",)) == []
            await store.submit(visit("a1", {"ltr": 3}, invitation_id="inv-a"))  # one click
            assert await self.agree(store) == 1
            await store.submit(  # completes the same response
                visit("a2", {"effort": 6, "why": "slow"}, invitation_id="inv-a", complete=True)
            )
            assert await self.agree(store) == 2
            await store.submit(  # last wins: amends it
                visit("a3", {"ltr": 10, "effort": 2}, invitation_id="inv-a", complete=True)
            )
            assert await self.agree(store) == 2
            for i, (store_id, region, vip) in enumerate(
                [("DEL-02", "north", False), ("BLR-01", "south", 1), ("MUM-03", None, True)]
            ):
                context = {"store": store_id, "vip": vip, **({"region": region} if region else {})}
                await store.submit(
                    visit(
                        f"b{i}",
                        {"ltr": 4 + 3 * i, "effort": 1 + 2 * i},
                        context=context,
                        customer_id=f"C-{i}",
                        channel=["sms", "kiosk", "email"][i],
                    )
                )
            assert await self.agree(store) == 8
            await store.erase_person(customer_id="C-1")
            assert await self.agree(store) == 6
            clock.advance(days=31)
            appended = [
                Response(
                    id=f"imp{i}",
                    survey_id="visit",
                    survey_version=1,
                    answers={"ltr": i % 11, **({"effort": 1 + i % 7} if i % 3 else {})},
                    status="complete",
                    respondent="agent" if i % 5 == 0 else "anonymous",
                    agent_id="A-9" if i % 5 == 0 else None,
                    channel="kiosk",
                    idempotency_key=f"imp-{i}",
                    started_at=clock.now(),
                    updated_at=clock.now(),
                    completed_at=clock.now(),
                    context={
                        "store": f"S{i % 3}",
                        "region": ["south", "east"][i % 2],
                        "vip": i % 2 == 0,
                    },
                )
                for i in range(40)
            ]
            await store.append(appended)
            await store.append(appended[:5])  # repeats change nothing
            # 40 NPS and 26 CES answers, less 8 + 5 by agents (not scored by default)
            assert await self.agree(store) == 6 + 53
            assert await store.apply_retention() == 3  # those older than 30 days
            assert await self.agree(store) == 59
            await store.erase_person(customer_id="C-2")  # was anonymised: nothing to erase
            assert await self.agree(store) == 59

        run(backend, scenario, clock=clock)


async def write_two_under_a_stratum_minimum(store: StorePort, day: int) -> tuple[int, list[str]]:
    """After a migration to schema 8: two invitations under a stratum minimum of one.

    Their guard also holds BLR-01's daily limit of 6, so the store's count of
    *day* (5, written before the migration) is read and added to as well.
    Returns the schema version and the type of each result.
    """
    guard = InviteGuard(
        store="BLR-01",
        store_day=day,
        store_limit=6,
        stratum_rule="billing_csat",
        stratum="BLR-01",
        stratum_day=day,
        stratum_min=1,
    )
    results = await store.add_invitations(
        [(invitation(f"inv-{k}", customer_id=f"C-{k}"), []) for k in range(2)],
        guards=[guard, guard],
    )
    return await store.schema_version(), [type(r).__name__ for r in results]
