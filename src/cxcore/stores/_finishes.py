"""Whether the end of a send's attempt may be recorded: the same verdicts in every backend."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from cxcore.ports.store import ClaimLostError, Finish, OutboxItem, OutboxState, StoreError


def check_claim(current: OutboxItem, worker: str) -> None:
    """Refuse the outcome of *worker*'s attempt unless it still holds the claim on *current*.

    Raises:
        ClaimLostError: If the send is no longer being sent by *worker*.
    """
    if current.state is not OutboxState.SENDING or current.claimed_by != worker:
        msg = (
            f"outbox item {current.id!r} is no longer claimed by {worker!r} (it is "
            f"{current.state.value}, claimed by {current.claimed_by!r}); the outcome was not recorded"
        )
        raise ClaimLostError(msg)


def check_finishes(finishes: Iterable[Finish]) -> list[Finish]:
    """*finishes* as a list, refused if one send is finished twice.

    Raises:
        StoreError: If two finishes are for the same outbox item.
    """
    batch = list(finishes)
    seen: set[str] = set()
    for f in batch:
        if f.item_id in seen:
            msg = f"finishes: outbox item {f.item_id!r} is finished twice; nothing was written"
            raise StoreError(msg)
        seen.add(f.item_id)
    return batch


def judge_finishes(
    batch: Sequence[Finish],
    current: Mapping[str, OutboxItem],
    invitations: Collection[str],
    worker: str | None,
) -> list[StoreError | None]:
    """Which finishes may be recorded (``None``), and why each other may not.

    *current* holds the items as stored (locked, where the backend locks),
    *invitations* the ids of the stored invitations that dispositions are for.
    Shared by both backends.
    """
    verdicts: list[StoreError | None] = []
    for f in batch:
        item = current.get(f.item_id)
        if item is None:
            verdicts.append(StoreError(f"no outbox item {f.item_id!r} is stored"))
            continue
        if worker is not None:
            try:
                check_claim(item, worker)
            except ClaimLostError as exc:
                verdicts.append(exc)
                continue
        if f.disposition is not None and item.invitation_id not in invitations:
            verdicts.append(
                StoreError(
                    f"no invitation {item.invitation_id!r} is stored for the "
                    f"{f.disposition.value} disposition of outbox item {f.item_id!r}; "
                    "the outcome was not recorded"
                )
            )
            continue
        verdicts.append(None)
    return verdicts
