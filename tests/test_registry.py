"""The channel registry, tested against real (small) distributions on disk."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from cxcore import (
    Capabilities,
    ChannelNotFoundError,
    ChannelRegistry,
    ChannelShapeError,
    DuplicateChannelError,
    PluginLoadError,
    ValidationError,
)
from cxcore.testing import FakeChannel

GOOD = """
from cxcore import AddressKind, Capabilities, InboundMode, OutboundMessage, SendResult

class Channel:
    capabilities = Capabilities(formats={"text/sms"}, address=AddressKind.PHONE, max_length=160,
                                two_way=True, inbound=InboundMode.REPLY)
    def __init__(self, **config):
        self.config = config
    def render(self, invitation, survey):
        return OutboundMessage(invitation_id=invitation.id, channel="sms", to=invitation.address,
                               parts={"text/sms": "Reply 0-10"})
    async def send(self, message):
        return SendResult(invitation_id=message.invitation_id)
    def parse_inbound(self, request):
        return []
    async def aclose(self):
        pass
"""

BROKEN = "raise ImportError('libfoo.so: cannot open shared object file')\n"

MISSHAPEN = """
class Channel:
    capabilities = {"formats": ["text/plain"]}
    def render(self, invitation, survey): ...
    def send(self, message): ...
    async def parse_inbound(self, request): ...
"""

MakeDist = Callable[..., Path]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where tests install small distributions."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def make_dist(site: Path) -> MakeDist:
    """Write a distribution with one module and a cxcore.channels entry point."""

    def make(dist: str, module: str, source: str, channel: str, attr: str = "Channel") -> Path:
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[cxcore.channels]\n{channel} = {module}:{attr}\n", encoding="utf-8"
        )
        return info

    return make


def registry_of(site: Path, **kwargs: object) -> ChannelRegistry:
    eps = [
        ep
        for dist in importlib.metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "cxcore.channels"
    ]
    return ChannelRegistry(entry_points=eps, **kwargs)  # type: ignore[arg-type]


class TestDiscovery:
    def test_listing_names_imports_nothing(self, site, make_dist):
        """names() reads metadata only: no plugin module is imported until asked for."""
        make_dist("acme-sms", "acme_sms_lazy", GOOD, "sms")
        registry = registry_of(site)
        assert registry.names() == ["sms"]
        assert "acme_sms_lazy" not in sys.modules
        factory = registry.get("sms")
        assert "acme_sms_lazy" in sys.modules
        assert factory.capabilities.max_length == 160
        channel = registry.create("sms", account="AC1")
        assert channel.config == {"account": "AC1"}  # type: ignore[attr-defined]

    def test_a_broken_plugin_is_isolated(self, site, make_dist):
        """A plugin that fails to import is reported by name and origin; others still work."""
        make_dist("acme-sms", "acme_sms_ok", GOOD, "sms")
        make_dist("flaky-push", "flaky_push", BROKEN, "push")
        registry = registry_of(site)
        assert registry.get("sms").capabilities.address == "phone"
        with pytest.raises(PluginLoadError) as exc:
            registry.get("push")
        assert str(exc.value) == (
            "channel plugin 'push' (flaky_push:Channel from flaky-push 1.0) failed to load: "
            "ImportError: libfoo.so: cannot open shared object file"
        )
        assert isinstance(exc.value.__cause__, ImportError)
        assert set(registry.errors()) == {"push"}
        with pytest.raises(PluginLoadError):  # the failure is remembered, not retried
            registry.get("push")
        infos = {info.name: info for info in registry.describe()}
        assert infos["sms"].error is None
        assert infos["push"].capabilities is None

    def test_two_plugins_claiming_one_name_are_both_named(self, site, make_dist):
        """Duplicate names are an error naming both distributions; other names still work."""
        make_dist("acme-sms", "acme_sms_a", GOOD, "sms")
        make_dist("other-sms", "other_sms_b", GOOD, "sms")
        make_dist("acme-push", "acme_push", GOOD, "push")
        registry = registry_of(site)
        with pytest.raises(DuplicateChannelError) as exc:
            registry.get("sms")
        message = str(exc.value)
        assert message.startswith("channel 'sms' is claimed more than once: ")
        assert message.endswith(
            "register the one you want with ChannelRegistry.register(name, cls, replace=True)"
        )
        assert "acme_sms_a:Channel from acme-sms 1.0" in message
        assert "other_sms_b:Channel from other-sms 1.0" in message
        assert registry.get("push").capabilities.two_way

    def test_misshapen_plugin_names_every_mismatch(self, site, make_dist):
        """A plugin is checked against the protocol when loaded, naming each mismatch."""
        make_dist("odd-channel", "odd_channel", MISSHAPEN, "odd")
        with pytest.raises(ChannelShapeError) as exc:
            registry_of(site).get("odd")
        assert exc.value.mismatches == (
            "'capabilities' is dict, not cxcore.Capabilities",
            "'send' must be 'async def'",
            "'parse_inbound' must not be 'async def' (it is pure)",
            "method 'aclose' is missing",
        )
        assert "odd_channel:Channel from odd-channel 1.0" in str(exc.value)

    def test_an_entry_point_must_be_a_class(self, site, make_dist):
        """A function or instance is not a channel factory."""
        make_dist("fn-channel", "fn_channel", "def Channel():\n    pass\n", "fn")
        with pytest.raises(ChannelShapeError, match="not a class"):
            registry_of(site).get("fn")

    def test_unknown_name_lists_the_available(self, site, make_dist):
        """Asking for a missing channel names the ones there are."""
        make_dist("acme-sms", "acme_sms_c", GOOD, "sms")
        with pytest.raises(
            ChannelNotFoundError, match=r"no channel 'email' is installed \(available: sms\)"
        ):
            registry_of(site).get("email")

    def test_installed_distributions_are_found_by_default(self, site, make_dist):
        """Without explicit entry points the registry reads what is installed on sys.path."""
        make_dist("acme-sms", "acme_sms_default", GOOD, "acme_sms_default")
        assert "acme_sms_default" in ChannelRegistry().names()


class TestOverrides:
    def test_override_and_block_without_monkeypatching(self, site, make_dist):
        """Tests swap or hide channels for a block; the registry is restored after."""
        make_dist("acme-sms", "acme_sms_d", GOOD, "sms")
        registry = registry_of(site)
        with registry.overridden({"sms": FakeChannel, "email": FakeChannel}):
            assert registry.get("sms") is FakeChannel
            assert registry.names() == ["email", "sms"]
        assert registry.get("sms") is not FakeChannel
        with registry.blocked("sms"):
            assert registry.names() == []
            with pytest.raises(ChannelNotFoundError, match="blocked"):
                registry.get("sms")
        assert registry.names() == ["sms"]
        assert registry_of(site, blocked=["sms"]).names() == []

    def test_register_in_code_refuses_silent_override(self, site, make_dist):
        """Registering a taken name is an error naming both; replace=True is explicit."""
        make_dist("acme-sms", "acme_sms_e", GOOD, "sms")
        registry = registry_of(site)
        with pytest.raises(
            DuplicateChannelError, match=r"acme_sms_e:Channel from acme-sms 1.0 and .*FakeChannel"
        ):
            registry.register("sms", FakeChannel)
        registry.register("sms", FakeChannel, replace=True)
        assert registry.get("sms") is FakeChannel

    def test_register_checks_the_shape(self):
        """A class that does not fit the protocol is refused at registration."""
        registry = ChannelRegistry(discover=False)

        class NotAChannel:
            capabilities = Capabilities(formats={"text/plain"}, address="email")

        with pytest.raises(ChannelShapeError, match="method 'render' is missing"):
            registry.register("x", NotAChannel)  # type: ignore[arg-type]
        assert registry.names() == []


class TestCommandLine:
    def test_cxcore_channels_lists_capabilities_and_load_errors(self, site, make_dist):
        """`cxcore channels` shows every plugin found on the path, including broken ones."""
        # "acme_text": cxcore's own SMS channel is "sms", and two plugins may not share a name.
        make_dist("acme-sms", "acme_sms_cli", GOOD, "acme_text")
        make_dist("flaky-push", "flaky_push_cli", BROKEN, "push")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
        run = subprocess.run(
            [sys.executable, "-m", "cxcore", "channels"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert "acme_text: acme_sms_cli:Channel from acme-sms 1.0" in run.stdout
        assert (
            "address: phone; formats: text/sms; inbound: reply; max length: 160; two-way"
            in run.stdout
        )
        assert "push: FAILED TO LOAD (flaky_push_cli:Channel from flaky-push 1.0)" in run.stdout
        strict = subprocess.run(
            [sys.executable, "-m", "cxcore", "channels", "--strict"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert strict.returncode == 1


class TestCapabilitiesRequires:
    def test_module_names_are_checked(self):
        """requires holds module names; anything else is refused with the others' problems."""
        with pytest.raises(ValidationError) as caught:
            Capabilities(formats={"text/plain"}, address="email", requires=["aio smtp", "ok.sub"])
        assert [str(p) for p in caught.value.problems] == [
            "requires: 'aio smtp' is not a module name such as 'aiosmtplib'"
        ]
        with pytest.raises(ValidationError, match="requires: 'aiosmtplib' is not a set"):
            Capabilities(formats={"text/plain"}, address="email", requires="aiosmtplib")

    def test_missing_lists_what_cannot_be_imported(self, monkeypatch):
        """missing() names the required modules this interpreter cannot import, sorted."""
        caps = Capabilities(
            formats={"text/plain"}, address="email", requires={"json", "no_such_mod_x", "a.b"}
        )
        assert caps.missing() == ["a.b", "no_such_mod_x"]
        monkeypatch.setitem(sys.modules, "json", None)  # as if it were not installed
        assert caps.missing() == ["a.b", "json", "no_such_mod_x"]
        assert Capabilities(formats={"text/plain"}, address="email").missing() == []

    def test_cxcore_channels_says_which_plugins_cannot_send_here(self, capsys):
        """The listing names a required library that is missing, with what to install."""
        import argparse  # noqa: PLC0415

        from cxcore.cli import _channels  # noqa: PLC0415 - the command's own function

        class NeedsSmtp(FakeChannel):
            capabilities = Capabilities(
                formats={"text/plain"}, address="email", requires={"aiosmtplib", "no_such_mod_x"}
            )

        registry = ChannelRegistry(discover=False)
        registry.register("mailer", NeedsSmtp)
        assert _channels(argparse.Namespace(strict=True), registry) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[2:] == [
            (
                "    cannot send here: sending needs the optional library 'no_such_mod_x'; "
                "install it with: pip install no_such_mod_x"
            )
        ]
