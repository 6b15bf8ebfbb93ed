"""SMS and WhatsApp instances from a deployment file: the token from the environment, tables for DLT and prices."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from cxcore.deployment import loads_deployment
from cxcore_channels.sms import DltRegistration, PriceTable, SmsChannel, WhatsAppChannel

KEY = "deployment-test-key-0123456789abcdef"

FILE = """
[store]
sqlite = "cx.db"
[collector]
public_url = "https://cx.bazaar.example.in/r"
[channels.sms]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token_env = "TWILIO_AUTH_TOKEN"
from_number = "+14155550100"
max_segments = 3
opt_out_also = ["whatsapp"]
[channels.sms.dlt]
entity_id = "1201159876543210987"
header = "BZAARR"
templates = { "1207161234567890123" = "Hi {#var#}, {#var#}: {#var#} Reply STOP to opt out." }
[channels.sms.prices]
currency = "USD"
per_segment = { "+91" = "0.08" }
default = "0.10"
[channels.whatsapp]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token_env = "TWILIO_AUTH_TOKEN"
from_number = "+14155550100"
content_templates = { store_exit = "HX0123456789abcdef0123456789abcdef" }
"""


def test_sms_and_whatsapp_instances_are_built_from_the_file(tmp_path: Path) -> None:
    """The collector's URLs are filled in, the token read from the environment, the tables built."""
    deployment = loads_deployment(textwrap.dedent(FILE), folder=tmp_path)
    environ = {"CXCORE_TOKEN_KEYS": KEY, "TWILIO_AUTH_TOKEN": "a-real-looking-token-0123"}
    assert deployment.check(environ=environ) == []
    channels = deployment.create_channels(environ=environ)
    sms, whatsapp = channels["sms"], channels["whatsapp"]
    assert isinstance(sms, SmsChannel)
    assert isinstance(whatsapp, WhatsAppChannel)
    assert sms.inbound_url == "https://cx.bazaar.example.in/r/c/sms"
    assert whatsapp.inbound_url == "https://cx.bazaar.example.in/r/c/whatsapp"
    assert sms.links.base_url == "https://cx.bazaar.example.in/r"
    assert sms.opt_out_also == ("whatsapp",)
    assert isinstance(sms.dlt, DltRegistration)
    assert sms.dlt.header == "BZAARR"
    assert isinstance(sms.prices, PriceTable)
    assert sms.max_segments == 3
    assert whatsapp.content_templates == {"store_exit": "HX0123456789abcdef0123456789abcdef"}
    for channel in channels.values():
        asyncio.run(channel.aclose())


def test_the_auth_token_never_goes_in_the_file(tmp_path: Path) -> None:
    """auth_token written in the file is refused, its value unshown."""
    text = textwrap.dedent(FILE).replace(
        'auth_token_env = "TWILIO_AUTH_TOKEN"', 'auth_token = "a-real-looking-token-0123"', 1
    )
    try:
        loads_deployment(text, folder=tmp_path)
    except Exception as exc:  # noqa: BLE001 - the deployment error, whatever its type
        message = str(exc)
    else:
        message = ""
    assert "channels.sms.auth_token: is a secret" in message
    assert "a-real-looking-token-0123" not in message


def test_a_bad_dlt_table_is_reported_naming_the_instance(tmp_path: Path) -> None:
    """A DLT header that is not six characters: the instance, the plugin and the field are named."""
    deployment = loads_deployment(
        textwrap.dedent(FILE).replace('header = "BZAARR"', 'header = "BZ"'), folder=tmp_path
    )
    environ = {"CXCORE_TOKEN_KEYS": KEY, "TWILIO_AUTH_TOKEN": "a-real-looking-token-0123"}
    problems = [str(p) for p in deployment.check(environ=environ)]
    assert any("channels.sms" in p and "dlt" in p and "header" in p for p in problems), problems
