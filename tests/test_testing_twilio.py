"""cxcore.testing.twilio: the Twilio stand-in ships in the library, and costs nothing unused."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys

import aiohttp
import pytest

from cxcore.testing.twilio import ACCOUNT, TOKEN, serve_emulator


class TestImport:
    def test_cxcore_testing_needs_neither_the_server_nor_the_sms_extra(self):
        """cxcore.testing imports with Starlette, uvicorn and twilio missing; the emulator does not."""
        blocked = "starlette", "uvicorn", "twilio", "aiohttp"
        code = (
            "import sys\n"
            f"for name in {blocked!r}: sys.modules[name] = None\n"
            "import cxcore.testing\n"
            "try:\n"
            "    import cxcore.testing.twilio\n"
            "except ImportError as exc:\n"
            "    print('needs', exc.name)\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("needs ")


class TestEmulator:
    def test_a_create_is_twilio_shaped_and_checks_the_credentials(self):
        """201 with the message resource for the account's credentials; 401 and 20003 otherwise."""

        async def post(url: str, token: str) -> tuple[int, dict[str, object]]:
            auth = base64.b64encode(f"{ACCOUNT}:{token}".encode()).decode()
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                    data={"To": "+447700900123", "From": "+14155550100", "Body": "hi"},
                    headers={"Authorization": f"Basic {auth}"},
                ) as response,
            ):
                return response.status, await response.json()

        with serve_emulator() as twilio:
            status, body = asyncio.run(post(twilio.url, TOKEN))
            refused, error = asyncio.run(post(twilio.url, "wrong"))
            assert twilio.creates == 2
            assert [m.sid for m in twilio.to("+447700900123")] == [body["sid"]]
        assert status == 201
        assert (body["status"], body["to"], body["body"]) == ("queued", "+447700900123", "hi")
        assert (refused, error["code"]) == (401, 20003)

    def test_deliver_refuses_a_message_it_does_not_hold(self):
        """A status callback for an unknown sid is a mistake in the test: ValueError, nothing posted."""
        with serve_emulator() as twilio, pytest.raises(ValueError, match="SMnope"):
            asyncio.run(twilio.deliver("SMnope"))
