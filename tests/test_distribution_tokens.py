"""Invitation tokens: signed, expiring, one salt per purpose, rotating keys."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore import CxError, ManualClock
from cxcore.distribution import (
    ExpiredTokenError,
    TamperedTokenError,
    TokenError,
    TokenPurpose,
    TokenService,
    WrongPurposeError,
)

START = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
OLD_KEY = "o" * 32
NEW_KEY = "n" * 40
ALPHABET = string.ascii_letters + string.digits + "-_."


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def service(clock: ManualClock) -> TokenService:
    return TokenService([OLD_KEY], clock=clock)


class TestRoundTrip:
    @given(
        opaque=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True).filter(
            lambda s: not s.isdigit()
        ),
        purpose=st.sampled_from(TokenPurpose),
        days=st.integers(1, 400),
    )
    def test_a_token_gives_back_its_id(self, opaque, purpose, days):
        """Whatever the id, purpose and lifetime, verify returns the id that was signed."""
        service = TokenService([OLD_KEY], clock=ManualClock(START))
        token = service.issue(opaque, purpose, START + timedelta(days=days))
        assert service.verify(token, purpose) == opaque
        assert token.isascii()
        assert "@" not in token

    def test_issue_all_gives_three_distinct_tokens(self, service):
        tokens = service.issue_all("inv1", START + timedelta(days=7))
        assert len({tokens.token, tokens.unsubscribe_token, tokens.amp_token}) == 3
        assert service.verify(tokens.unsubscribe_token, TokenPurpose.UNSUBSCRIBE) == "inv1"
        assert service.verify(tokens.amp_token, TokenPurpose.AMP) == "inv1"

    def test_a_short_code_is_a_keyed_digest_of_the_id(self, clock, service):
        """12 letters and digits, the same for one id, another for another id or another key."""
        code = service.short_code("inv1")
        assert len(code) == 12
        assert code.isascii()
        assert code.isalnum()
        until = START + timedelta(days=7)
        assert service.issue_all("inv1", until, short_code=True).short_code == code
        assert service.issue_all("inv1", until).short_code is None  # only when asked for
        assert TokenService([OLD_KEY], clock=clock).short_code("inv1") == code
        assert service.short_code("inv2") != code
        assert TokenService([NEW_KEY, OLD_KEY], clock=clock).short_code("inv1") != code
        codes = {service.short_code(f"inv-{n}") for n in range(2000)}
        assert len(codes) == 2000
        assert {c for code in codes for c in code} == set(string.ascii_letters + string.digits)
        assert code not in repr(service.issue_all("inv1", until, short_code=True))

    def test_invitation_tokens_repr_names_what_they_are_for_never_the_signatures(self, service):
        """The repr shows the invitation and expiry; no token or signature is in it."""
        tokens = service.issue_all("inv1", START + timedelta(days=7))
        shown = repr(tokens)
        assert shown.startswith(
            f"InvitationTokens(invitation_id='inv1', expires_at='{(START + timedelta(days=7)).isoformat()}', "
        )
        for token in (tokens.token, tokens.unsubscribe_token, tokens.amp_token):
            assert token not in shown
            assert token.rpartition(".")[2] not in shown

    @pytest.mark.parametrize("bad", ["asha@example.in", "+919812345678", "919812345678", "", "a b"])
    def test_personal_data_is_refused(self, service, bad):
        """The token holds an opaque id: an email or phone number is refused by name."""
        with pytest.raises(ValueError, match="opaque_id"):
            service.issue(bad, TokenPurpose.SURVEY, START + timedelta(days=1))

    def test_keys_must_be_long_and_present(self, clock):
        with pytest.raises(ValueError, match=r"keys\[1\]: is 5 bytes long"):
            TokenService([OLD_KEY, "short"], clock=clock)
        with pytest.raises(ValueError, match="non-empty list"):
            TokenService([], clock=clock)
        with pytest.raises(ValueError, match="non-empty list"):
            TokenService(OLD_KEY, clock=clock)

    def test_repr_hides_keys(self, service):
        assert OLD_KEY not in repr(service)


class TestSignatures:
    @given(
        opaque=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", fullmatch=True).filter(
            lambda s: not s.isdigit()
        ),
        key=st.binary(min_size=32, max_size=80),
        namespace=st.text(string.ascii_letters + ".", min_size=1, max_size=20),
        expiry=st.integers(min_value=0, max_value=253_402_300_799),  # to 9999-12-31
    )
    def test_tokens_are_what_itsdangerous_signs(self, opaque, key, namespace, expiry):
        """Each token is exactly itsdangerous' Signer's signature of its id and expiry.

        The service signs with the derived key's HMAC made once; tokens issued
        before that change (and by any itsdangerous signer with the same key and
        salt) must stay the same.
        """
        from itsdangerous import Signer  # noqa: PLC0415 - the reference

        service = TokenService([key], clock=ManualClock(START), namespace=namespace)
        expires = datetime.fromtimestamp(expiry, UTC)
        tokens = service.issue_all(opaque, expires)
        for purpose, token in zip(
            TokenPurpose, (tokens.token, tokens.unsubscribe_token, tokens.amp_token), strict=True
        ):
            signer = Signer(key, salt=f"{namespace}.token.{purpose.value}", digest_method=sha256)
            expected = signer.sign(f"{opaque}.{expiry:x}").decode("ascii")
            assert token == expected
            assert service.issue(opaque, purpose, expires) == expected


class TestTamper:
    def test_every_single_character_change_is_rejected(self, service):
        """Changing any one character to any other URL-safe character never verifies."""
        token = service.issue("inv-42", TokenPurpose.SURVEY, START + timedelta(days=7))
        tried = 0
        for i, original in enumerate(token):
            for c in ALPHABET:
                if c == original:
                    continue
                forged = token[:i] + c + token[i + 1 :]
                with pytest.raises(TamperedTokenError):
                    service.verify(forged, TokenPurpose.SURVEY)
                tried += 1
        assert tried == len(token) * (len(ALPHABET) - 1)

    def test_dropped_and_added_characters_are_rejected(self, service):
        token = service.issue("inv-42", TokenPurpose.SURVEY, START + timedelta(days=7))
        for i in range(len(token)):
            with pytest.raises(TamperedTokenError):
                service.verify(token[:i] + token[i + 1 :], TokenPurpose.SURVEY)
        for extra in ("x", "=", ".", " "):
            with pytest.raises(TamperedTokenError):
                service.verify(token + extra, TokenPurpose.SURVEY)

    @pytest.mark.parametrize("junk", ["", ".", "..", "a.b.c", "ü.1.x", "inv.zz.sig"])
    def test_junk_is_tampered(self, service, junk):
        with pytest.raises(TamperedTokenError, match="signature does not match"):
            service.verify(junk, TokenPurpose.SURVEY)

    def test_another_key_is_tampered(self, clock, service):
        foreign = TokenService(["f" * 32], clock=clock)
        token = foreign.issue("inv-1", TokenPurpose.SURVEY, START + timedelta(days=1))
        with pytest.raises(TamperedTokenError):
            service.verify(token, TokenPurpose.SURVEY)


class TestExpiry:
    def test_valid_until_the_second_it_expires(self, clock, service):
        token = service.issue("inv-1", TokenPurpose.SURVEY, START + timedelta(hours=1))
        clock.advance(minutes=59, seconds=59)
        assert service.verify(token, TokenPurpose.SURVEY) == "inv-1"
        clock.advance(seconds=1)
        with pytest.raises(ExpiredTokenError, match="expired at 2026-03-29T01:30:00") as info:
            service.verify(token, TokenPurpose.SURVEY)
        assert info.value.expired_at == START + timedelta(hours=1)

    def test_naive_expiry_is_refused(self, service):
        with pytest.raises(ValueError, match="expires_at"):
            service.issue("inv-1", TokenPurpose.SURVEY, datetime(2026, 1, 1))  # noqa: DTZ001


class TestRotation:
    def test_old_tokens_verify_until_they_expire(self, clock):
        old = TokenService([OLD_KEY], clock=clock)
        token = old.issue("inv-1", TokenPurpose.AMP, START + timedelta(days=2))
        rotated = TokenService([NEW_KEY, OLD_KEY], clock=clock)
        assert rotated.verify(token, TokenPurpose.AMP) == "inv-1"
        fresh = rotated.issue("inv-2", TokenPurpose.AMP, START + timedelta(days=2))
        assert rotated.verify(fresh, TokenPurpose.AMP) == "inv-2"
        with pytest.raises(TamperedTokenError):
            old.verify(fresh, TokenPurpose.AMP)  # signed with the new key
        clock.advance(days=2)
        with pytest.raises(ExpiredTokenError):
            rotated.verify(token, TokenPurpose.AMP)

    def test_a_retired_key_stops_verifying(self, clock):
        token = TokenService([OLD_KEY], clock=clock).issue(
            "inv-1", TokenPurpose.SURVEY, START + timedelta(days=2)
        )
        with pytest.raises(TamperedTokenError):
            TokenService([NEW_KEY], clock=clock).verify(token, TokenPurpose.SURVEY)


class TestPurpose:
    @pytest.mark.parametrize("issued", list(TokenPurpose))
    @pytest.mark.parametrize("checked", list(TokenPurpose))
    def test_wrong_purpose_has_its_own_error(self, service, issued, checked):
        token = service.issue("inv-1", issued, START + timedelta(days=1))
        if issued is checked:
            assert service.verify(token, checked) == "inv-1"
            return
        with pytest.raises(
            WrongPurposeError, match=f"issued for '{issued}', not '{checked}'"
        ) as info:
            service.verify(token, checked)
        assert (info.value.expected, info.value.actual) == (checked, issued)

    def test_errors_are_distinct_and_rooted(self):
        kinds = {TamperedTokenError, ExpiredTokenError, WrongPurposeError}
        assert all(issubclass(k, TokenError) and issubclass(k, CxError) for k in kinds)
        assert not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)
