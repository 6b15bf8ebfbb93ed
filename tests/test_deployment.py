"""The deployment file: reading it, its problems all at once, secrets by environment variable."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Literal

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from cxcore import ManualClock, Problem
from cxcore.deployment import (
    CONFIG_VARIABLE,
    ChannelSettings,
    CollectorSettings,
    Deployment,
    DeploymentError,
    DispatchSettings,
    StoreSettings,
    TokenSettings,
    find_deployment,
    load_deployment,
    loads_deployment,
    looks_secret,
)
from cxcore.distribution import TokenPurpose
from cxcore.ports.registry import ChannelRegistry
from cxcore.stores import PostgresStore, SQLiteStore
from cxcore.testing import SAMPLE_TIME, FakeChannel
from cxcore_channels.email import EmailChannel

FOLDER = Path("/srv/cx")
KEY = "k" * 32
MINIMAL = """
[store]
sqlite = "cx.db"

[collector]
public_url = "https://cx.example.in"
"""


def load(text: str, folder: Path = FOLDER) -> Deployment:
    return loads_deployment(text, folder=folder)


def problems_of(text: str) -> list[str]:
    with pytest.raises(DeploymentError) as caught:
        load(text)
    count = len(caught.value.problems)
    assert str(caught.value).splitlines()[0] == (
        f"cxcore.toml: {count} {'problem' if count == 1 else 'problems'}:"
    )
    return [str(p) for p in caught.value.problems]


def with_channel(body: str) -> str:
    return MINIMAL + body


# -- channel plugins for the tests: real classes, registered as a plugin would be ----------


class LinkChannel(FakeChannel):
    """A channel whose constructor takes the collector's URLs, a secret and typed options."""

    created: ClassVar[list[LinkChannel]] = []

    def __init__(
        self,
        *,
        base_url: str,
        inbound_url: str,
        api_token: str,
        retries: int = 3,
        ratio: float = 0.5,
        verbose: bool = False,
        region: Literal["in", "eu"] = "in",
        senders: list[str] | None = None,
        key_file: str | None = None,
    ) -> None:
        super().__init__(base_url=base_url, name="link")
        self.inbound_url = inbound_url
        self.api_token = api_token
        self.retries = retries
        self.ratio = ratio
        self.verbose = verbose
        self.region = region
        self.senders = senders
        self.key_file = key_file
        LinkChannel.created.append(self)


class PlainChannel(FakeChannel):
    """A channel that takes no URL at all, and one required option."""

    def __init__(self, *, sender: str) -> None:
        super().__init__(name="plain")
        self.sender = sender


class PickyChannel(FakeChannel):
    """A channel whose constructor refuses a token, quoting it (as careless plugins do)."""

    def __init__(self, *, api_token: str) -> None:
        if not api_token.startswith("tok_"):
            msg = f"api_token: {api_token!r} does not start with 'tok_'"
            raise ValueError(msg)
        super().__init__(name="picky")


class AnythingChannel(FakeChannel):
    """A channel that takes any keyword: nothing is injected, nothing is unknown."""

    def __init__(self, **options: object) -> None:
        super().__init__(name="anything")
        self.options = options


@pytest.fixture
def registry() -> ChannelRegistry:
    registry = ChannelRegistry(discover=False)
    registry.register("link", LinkChannel)
    registry.register("plain", PlainChannel)
    registry.register("picky", PickyChannel)
    registry.register("anything", AnythingChannel)
    LinkChannel.created.clear()
    return registry


ENV = {"CXCORE_TOKEN_KEYS": KEY, "LINK_TOKEN": "tok_live_9f8e7d6c5b4a"}
LINK = """
[channels.link]
api_token_env = "LINK_TOKEN"
"""


# -- reading -----------------------------------------------------------------------------


class TestLoading:
    def test_a_minimal_file_takes_every_default(self):
        """Only the store and the public URL are required; every other setting has its default."""
        deployment = load(MINIMAL)
        assert deployment == Deployment(
            source=FOLDER / "cxcore.toml",
            store=StoreSettings(sqlite=FOLDER / "cx.db"),
            collector=CollectorSettings(public_url="https://cx.example.in"),
        )
        assert deployment.collector == CollectorSettings(
            "https://cx.example.in", "127.0.0.1", 8000, 65536, ()
        )
        assert deployment.tokens == TokenSettings(keys_env="CXCORE_TOKEN_KEYS")
        assert deployment.dispatch == DispatchSettings(batch=100, interval=1.0, in_serve=True)
        assert deployment.channels == {}

    def test_every_setting(self):
        """Each setting of each table is read into its frozen record."""
        deployment = load("""
            [store]
            postgres_env = "CX_DSN"
            [collector]
            public_url = "https://cx.example.in/feedback/"
            host = "192.0.2.10"
            port = 9000
            max_body_bytes = 1024
            amp_senders = ["Surveys@Bazaar.example.in", "mail.bazaar.example.in"]
            keep_alive = 75
            [tokens]
            keys_env = "CX_KEYS"
            [dispatch]
            batch = 20
            interval = 2
            in_serve = false
            [channels.email]
            sender = "surveys@bazaar.example.in"
            port = 2525
            password_env = "SMTP_PASSWORD"
            [channels.promo]
            plugin = "email"
            sender = "offers@bazaar.example.in"
        """)
        assert deployment.store == StoreSettings(postgres_env="CX_DSN")
        assert deployment.store.kind == "postgres"
        assert deployment.collector == CollectorSettings(
            public_url="https://cx.example.in/feedback",
            host="192.0.2.10",
            port=9000,
            max_body_bytes=1024,
            amp_senders=("surveys@bazaar.example.in", "mail.bazaar.example.in"),
            keep_alive=75.0,
        )
        assert deployment.tokens.keys_env == "CX_KEYS"
        assert deployment.dispatch == DispatchSettings(batch=20, interval=2.0, in_serve=False)
        assert deployment.channels == {
            "email": ChannelSettings(
                "email",
                "email",
                options={"sender": "surveys@bazaar.example.in", "port": 2525},
                env={"password": "SMTP_PASSWORD"},
            ),
            "promo": ChannelSettings(
                "promo", "email", options={"sender": "offers@bazaar.example.in"}
            ),
        }
        assert deployment.inbound_url("promo") == "https://cx.example.in/feedback/c/promo"

    @pytest.mark.parametrize(
        ("written", "read"),
        [
            ("cx.db", FOLDER / "cx.db"),
            ("data/cx.db", FOLDER / "data" / "cx.db"),
            ("/var/lib/cx/cx.db", Path("/var/lib/cx/cx.db")),
        ],
    )
    def test_the_sqlite_path_is_relative_to_the_files_folder(self, written, read):
        """A relative SQLite path is under the file's folder, wherever the command runs."""
        deployment = load(MINIMAL.replace('"cx.db"', f'"{written}"'))
        assert deployment.store.sqlite == read
        assert deployment.store.kind == "sqlite"

    def test_file_options_are_relative_to_the_files_folder(self):
        """Options named *_file, *_path or *_dir are paths, made absolute against the file's folder."""
        deployment = load(
            with_channel("""
            [channels.email]
            tls_ca_file = "certs/ca.pem"
            templates_dir = "/etc/cx/templates"
            log_path = "logs/cx.log"
            sender = "certs/not-a-path"
        """)
        )
        assert dict(deployment.channels["email"].options) == {
            "tls_ca_file": str(FOLDER / "certs/ca.pem"),
            "templates_dir": "/etc/cx/templates",
            "log_path": str(FOLDER / "logs/cx.log"),
            "sender": "certs/not-a-path",
        }

    def test_lists_and_tables_are_frozen(self):
        """Lists and tables in options become tuples and frozen mappings: the deployment is a value."""
        text = with_channel("""
            [channels.link]
            senders = ["a@example.in", "b@example.in"]
            labels = { en = "Survey", hi = "सर्वेक्षण" }
        """)
        deployment = load(text)
        options = deployment.channels["link"].options
        assert options["senders"] == ("a@example.in", "b@example.in")
        assert options["labels"] == {"en": "Survey", "hi": "सर्वेक्षण"}
        assert hash(deployment) == hash(load(text))

    def test_load_deployment_reads_a_file(self, tmp_path):
        """load_deployment reads the file; relative paths are under its folder."""
        (tmp_path / "cxcore.toml").write_text(MINIMAL)
        deployment = load_deployment(tmp_path / "cxcore.toml")
        assert deployment.source == tmp_path / "cxcore.toml"
        assert deployment.store.sqlite == tmp_path / "cx.db"

    def test_a_missing_file(self, tmp_path):
        """A file that cannot be read is one problem, naming the file."""
        with pytest.raises(DeploymentError) as caught:
            load_deployment(tmp_path / "nope.toml")
        assert str(caught.value) == (
            f"{tmp_path / 'nope.toml'}: 1 problem:\n  cannot be read: No such file or directory"
        )

    def test_a_file_that_is_not_utf8(self, tmp_path):
        """Bytes that are not UTF-8 are one problem, not a traceback."""
        (tmp_path / "cxcore.toml").write_bytes(b"[store]\nsqlite = '\xff'\n")
        with pytest.raises(DeploymentError, match="cannot be read: it is not UTF-8 text"):
            load_deployment(tmp_path / "cxcore.toml")

    def test_not_toml_says_where_but_not_what(self):
        """A TOML syntax error is reported with its line, and shows nothing of the line."""
        with pytest.raises(DeploymentError) as caught:
            load('[store]\nsqlite = "cx.db"\n[channels.email]\npassword = hunter2hunter2\n')
        assert caught.value.problems == (
            Problem("", "is not valid TOML: Invalid value (at line 4, column 12)"),
        )
        assert "hunter2" not in str(caught.value)


# -- problems, all at once -------------------------------------------------------------


class TestProblems:
    def test_every_problem_is_reported_at_once(self):
        """A file with many problems gets them all, each with its path, in one error."""
        assert problems_of("""
            colector = 1
            [store]
            sqlite = "cx.db"
            postgres_env = "CX_DSN"
            [collector]
            public_url = "cx.example.in"
            prot = 8080
            max_body_bytes = 0
            amp_senders = ["not an address"]
            keep_alive = 0
            [tokens]
            keys_env = 12
            [dispatch]
            batch = "ten"
            interval = -1
            in_serve = "yes"
            [channels.email]
            password = "hunter2hunter2"
            [channels."bad name"]
            sender = "x@example.in"
            [channels.sms]
            plugin = 7
        """) == [
            "colector: is not a setting of a deployment file (did you mean 'collector'?)",
            "store: names both sqlite and postgres_env (expected one of them)",
            "collector.prot: is not a setting of [collector] (did you mean 'port'?)",
            "collector.public_url: 'cx.example.in' is not an absolute http or https URL (expected e.g. 'https://cx.example.in')",
            "collector.max_body_bytes: 0 is not a whole number 1 or more",
            "collector.amp_senders[0]: 'not an address' is not an email address or a domain (expected e.g. 'surveys@bazaar.example.in' or 'bazaar.example.in')",
            "collector.keep_alive: 0 is not a number of seconds (expected more than 0)",
            "tokens.keys_env: is a whole number (expected the name of an environment variable: letters, digits and '_')",
            "dispatch.batch: 'ten' is not a whole number 1 or more",
            "dispatch.interval: -1 is not a number of seconds (expected more than 0)",
            "dispatch.in_serve: 'yes' is not true or false",
            'channels.email.password: is a secret, and secrets never go in the file: put it in an environment variable and name that variable with password_env = "VAR" (the value is not shown)',
            "channels.bad name: 'bad name' is not a valid instance name (expected 1-64 letters, digits, '_' or '-', starting with a letter or digit: it is part of the channel's URL)",
            "channels.sms.plugin: 7 is not a plugin name (expected the name of an entry point in the group cxcore.channels, e.g. 'email')",
        ]

    @pytest.mark.parametrize(
        ("store", "problem"),
        [
            (
                "",
                'store: names neither sqlite nor postgres_env (expected sqlite = "cx.db", or postgres_env = "NAME" naming the environment variable that holds a PostgreSQL DSN)',
            ),
            (
                'sqlite = "a.db"\npostgres_env = "DSN"',
                "store: names both sqlite and postgres_env (expected one of them)",
            ),
            ('sqlite = ""', "store.sqlite: '' is not a file name (expected e.g. 'cx.db')"),
            (
                'sqlite = "a.db"\nsqlight = 1',
                "store.sqlight: is not a setting of [store] (did you mean 'sqlite'?)",
            ),
            (
                'postgres_env = "lower-case-dsn"',
                "store.postgres_env: is not an environment variable's name (expected the name of an environment variable: letters, digits and '_'; the value is not shown)",
            ),
        ],
        ids=["neither", "both", "empty", "unknown", "bad-env-name"],
    )
    def test_store(self, store, problem):
        """The store names exactly one of sqlite and postgres_env, each well formed."""
        assert problems_of(f'[store]\n{store}\n[collector]\npublic_url = "https://x.in"') == [
            problem
        ]

    @pytest.mark.parametrize("key", ["postgres", "dsn", "url", "postgres_url"])
    def test_a_dsn_in_the_file_is_refused_unshown(self, key):
        """A DSN written in [store] is refused as a secret, and never shown."""
        text = f'[store]\n{key} = "postgresql://cx:hunter2@db/cx"\n[collector]\npublic_url = "https://x.in"'
        found = problems_of(text)
        assert found == [
            f"store.{key}: would put the database password in the file: set postgres_env to the name of the environment variable that holds the DSN (the value is not shown)",
            'store: names neither sqlite nor postgres_env (expected sqlite = "cx.db", or postgres_env = "NAME" naming the environment variable that holds a PostgreSQL DSN)',
        ]
        assert "hunter2" not in "".join(found)

    def test_missing_tables(self):
        """The store and the collector are required; tables given as values are reported."""
        assert problems_of("tokens = 1\ndispatch = []") == [
            'store: is missing (expected sqlite = "cx.db", or postgres_env = "NAME" naming the environment variable that holds a PostgreSQL DSN)',
            "collector: is missing (expected [collector] with public_url)",
            "tokens: is a whole number (expected a table: [tokens])",
            "dispatch: is a list (expected a table: [dispatch])",
        ]

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            (
                "/c",
                "'/c' is not an absolute http or https URL (expected e.g. 'https://cx.example.in')",
            ),
            (
                "ftp://cx.example.in",
                "'ftp://cx.example.in' is not an absolute http or https URL (expected e.g. 'https://cx.example.in')",
            ),
            (
                "https://cx.example.in/?a=1",
                "'https://cx.example.in/?a=1' has a query or a fragment (expected none: links are built under it)",
            ),
            (
                "https://cx.example.in/#top",
                "'https://cx.example.in/#top' has a query or a fragment (expected none: links are built under it)",
            ),
            (
                "https://cx.example.in:99999",
                "'https://cx.example.in:99999' has a port that is not a number from 0 to 65535",
            ),
            (
                "https://admin:hunter2@cx.example.in",
                "holds a user name or password (the value is not shown; expected none)",
            ),
        ],
        ids=["relative", "ftp", "query", "fragment", "port", "credentials"],
    )
    def test_public_url(self, url, problem):
        """The public URL is absolute http(s), with no query, fragment or credentials."""
        text = f'[store]\nsqlite = "a.db"\n[collector]\npublic_url = "{url}"'
        assert problems_of(text) == [f"collector.public_url: {problem}"]

    def test_public_url_is_required(self):
        """A collector table without public_url says what is expected."""
        assert problems_of('[store]\nsqlite = "a.db"\n[collector]\nport = 80') == [
            "collector.public_url: is missing (expected the collector's public http(s) URL)"
        ]

    @pytest.mark.parametrize(
        ("option", "problem"),
        [
            (
                'sender_env = "not a name"',
                "channels.email.sender_env: is not an environment variable's name (expected the name of an environment variable: letters, digits and '_'; the value is not shown)",
            ),
            (
                'sender = "a@b.in"\nsender_env = "SENDER"',
                "channels.email.sender_env: sender is given twice: in the file and by sender_env (keep one of them)",
            ),
            (
                'plugin_env = "PLUGIN"',
                "channels.email.plugin_env: the plugin is named in the file, not in the environment",
            ),
            (
                'plugin = ""',
                "channels.email.plugin: '' is not a plugin name (expected the name of an entry point in the group cxcore.channels, e.g. 'email')",
            ),
        ],
        ids=["bad-env-name", "twice", "plugin-env", "empty-plugin"],
    )
    def test_channel_tables(self, option, problem):
        """Each channel option is a literal, or <name>_env naming a variable, never both."""
        assert problems_of(with_channel(f"[channels.email]\n{option}")) == [problem]

    def test_channels_must_be_tables(self):
        """[channels] holds one table per instance."""
        assert problems_of('channels = "email"\n' + MINIMAL) == [
            "channels: is text (expected a table per channel: [channels.<instance>])"
        ]
        assert problems_of(with_channel('[channels]\nemail = "smtp"')) == [
            "channels.email: is text (expected a table of the channel's options)"
        ]


# -- secrets ---------------------------------------------------------------------------


SECRET_NAMES = [
    "password",
    "smtp_password",
    "api_key",
    "apiKey",
    "auth_token",
    "client_secret",
    "dsn",
    "credentials",
    "passphrase",
]


class TestSecrets:
    @pytest.mark.parametrize("name", SECRET_NAMES)
    def test_secret_looking_names(self, name):
        """Names made of a secret word look secret."""
        assert looks_secret(name)

    @pytest.mark.parametrize(
        "name", ["sender", "keyword", "keywords", "monkey", "host", "tls_ca_file", "dkim_key_file"]
    )
    def test_names_that_do_not_look_secret(self, name):
        """Other names, and names of files (a key file is protected by its permissions), do not."""
        assert not looks_secret(name)

    @pytest.mark.parametrize("name", SECRET_NAMES)
    def test_a_literal_secret_is_refused_with_its_env_name(self, name):
        """A literal value for a secret-looking option is refused, pointing at <name>_env."""
        found = problems_of(with_channel(f'[channels.email]\n{name} = "s3cr3t-value-42"'))
        assert found == [
            f'channels.email.{name}: is a secret, and secrets never go in the file: put it in an environment variable and name that variable with {name}_env = "VAR" (the value is not shown)'
        ]

    def test_a_secret_inside_a_table_is_refused(self):
        """A secret-looking key inside a table option is refused too: it has no way in from the environment."""
        found = problems_of(
            with_channel('[channels.email]\ndkim = { selector = "s1", private_key = "MIIEow" }')
        )
        assert found == [
            "channels.email.dkim.private_key: is a secret, and secrets never go in the file; inside a table it cannot be read from the environment either: only an option of the channel itself can, with <option>_env (the value is not shown)"
        ]

    def test_a_secret_in_a_fixed_table_points_at_its_env_setting(self):
        """tokens.keys written in the file points at tokens.keys_env."""
        assert problems_of(with_channel('[tokens]\nkeys = "kkkkkkkk"')) == [
            'tokens.keys: is a secret, and secrets never go in the file: put it in an environment variable and name that variable with keys_env = "VAR" (the value is not shown)'
        ]

    def test_a_flag_is_not_a_secret(self):
        """true or false under a secret-looking name is a switch, not a secret."""
        deployment = load(with_channel("[channels.email]\nauth = false"))
        assert deployment.channels["email"].options == {"auth": False}

    @given(
        name=st.sampled_from(SECRET_NAMES),
        value=st.text(alphabet="ABCDEFGHJKMNPQRSTUVWXYZ23456789", min_size=12, max_size=40),
    )
    def test_secret_values_never_appear_in_any_message(self, name, value):
        """Whatever a secret is, and wherever it is misplaced, no message shows it."""
        text = f"""
            [store]
            dsn = "{value}"
            [collector]
            public_url = "https://user:{value}@cx.example.in"
            [tokens]
            keys = "{value}"
            [channels.email]
            {name} = "{value}"
            user_env = "{value} {value}"
            nested = {{ {name} = "{value}" }}
        """
        with pytest.raises(DeploymentError) as caught:
            load(text)
        assert len(caught.value.problems) == 7  # and: the store names neither sqlite nor postgres
        assert value not in str(caught.value)
        assert value not in repr(caught.value.problems)

    def test_the_deployment_holds_names_never_values(self):
        """The deployment keeps the variables' names; its repr shows no secret, even once read."""
        deployment = load(
            '[store]\npostgres_env = "CX_DSN"\n[collector]\npublic_url = "https://x.in"\n' + LINK
        )
        environ = {**ENV, "CX_DSN": "postgresql://cx:hunter2hunter2@db/cx"}
        assert deployment.channels["link"].env == {"api_token": "LINK_TOKEN"}
        deployment.token_service(environ=environ)
        deployment.open_store(environ=environ)
        text = repr(deployment) + str(deployment)
        assert "LINK_TOKEN" in text
        for secret in environ.values():
            assert secret not in text

    def test_invalid_secrets_are_reported_without_their_values(self, registry):
        """Short token keys, a DSN psycopg cannot read, a refused token: reported, never shown."""
        deployment = load(
            '[store]\npostgres_env = "CX_DSN"\n[collector]\npublic_url = "https://cx.example.in"\n'
            '[channels.picky]\napi_token_env = "PICKY_TOKEN"'
        )
        environ = {
            "CXCORE_TOKEN_KEYS": f"{KEY},short-secret-key",
            "CX_DSN": "host='db password=hunter2hunter2",
            "PICKY_TOKEN": "live_9f8e7d6c5b4a",
        }
        found = [str(p) for p in deployment.check(registry, environ)]
        assert found == [
            "store.postgres_env: $CX_DSN is not a DSN that psycopg can read (expected a PostgreSQL DSN, such as postgresql://user:password@host:5432/db; the value is not shown)",
            "tokens.keys_env: $CXCORE_TOKEN_KEYS: keys[1]: is 16 bytes long (expected at least 32)",
            "channels.picky: the 'picky' plugin refuses its options: ValueError: api_token: '***' does not start with 'tok_'",
        ]
        for secret in ("hunter2hunter2", "short-secret-key", "live_9f8e7d6c5b4a"):
            assert secret not in "".join(found)


# -- the parts, built from the environment --------------------------------------------------


class TestStore:
    def test_sqlite(self, tmp_path):
        """A SQLite deployment opens its file under the deployment's folder."""
        deployment = load(MINIMAL, tmp_path)
        store = deployment.open_store()
        assert isinstance(store, SQLiteStore)

        async def use() -> int:
            async with store:
                return await store.schema_version()

        assert asyncio.run(use()) >= 1
        assert (tmp_path / "cx.db").exists()

    def test_postgres_reads_its_dsn_when_opened(self, postgres_dsn):
        """The DSN is read from the environment variable when the store is asked for, not before."""
        deployment = load(
            '[store]\npostgres_env = "CX_DSN"\n[collector]\npublic_url = "https://x.in"'
        )
        environ: dict[str, str] = {}
        with pytest.raises(DeploymentError) as caught:
            deployment.open_store(environ=environ)
        assert [str(p) for p in caught.value.problems] == [
            "store.postgres_env: $CX_DSN is not set (expected a PostgreSQL DSN, such as postgresql://user:password@host:5432/db)"
        ]
        environ["CX_DSN"] = postgres_dsn
        store = deployment.open_store(environ=environ)
        assert isinstance(store, PostgresStore)

        async def use() -> int:
            async with store:
                return await store.schema_version()

        assert asyncio.run(use()) >= 1
        assert deployment.check(ChannelRegistry(discover=False), {**environ, **ENV}) == []


class TestTokens:
    def test_keys_come_from_the_environment_newest_first(self):
        """The first key signs, every key verifies: a token signed with the old key still verifies."""
        deployment = load(MINIMAL + '[tokens]\nkeys_env = "CX_KEYS"')
        clock = ManualClock(SAMPLE_TIME)
        old = deployment.token_service(clock, environ={"CX_KEYS": "o" * 32})
        token = old.issue("inv-1", TokenPurpose.SURVEY, SAMPLE_TIME + timedelta(days=1))
        rotated = deployment.token_service(clock, environ={"CX_KEYS": f"{'n' * 32}, {'o' * 32}"})
        assert rotated.verify(token, TokenPurpose.SURVEY) == "inv-1"
        assert repr(rotated) == "TokenService(keys=2)"

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            (
                None,
                "$CXCORE_TOKEN_KEYS is not set (expected one or more secret keys of at least 32 bytes, newest first, separated by commas)",
            ),
            (
                " , ",
                "$CXCORE_TOKEN_KEYS is not set (expected one or more secret keys of at least 32 bytes, newest first, separated by commas)",
            ),
            ("tooshort", "$CXCORE_TOKEN_KEYS: keys[0]: is 8 bytes long (expected at least 32)"),
        ],
        ids=["unset", "empty", "short"],
    )
    def test_bad_keys_are_problems_not_tracebacks(self, value, problem):
        """Missing or short keys raise a DeploymentError with TokenService's own check, unshown."""
        environ = {} if value is None else {"CXCORE_TOKEN_KEYS": value}
        with pytest.raises(DeploymentError) as caught:
            load(MINIMAL).token_service(environ=environ)
        assert [str(p) for p in caught.value.problems] == [f"tokens.keys_env: {problem}"]
        assert "tooshort" not in str(caught.value)

    def test_the_environment_is_read_at_call_time(self, monkeypatch):
        """By default os.environ is read when the service is asked for, not when the file is."""
        deployment = load(MINIMAL)
        monkeypatch.delenv("CXCORE_TOKEN_KEYS", raising=False)
        with pytest.raises(DeploymentError):
            deployment.token_service()
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        assert repr(deployment.token_service()) == "TokenService(keys=1)"


class TestChannels:
    def test_urls_are_injected_where_the_constructor_takes_them(self, registry):
        """base_url is the public URL and inbound_url its /c/<instance>, for a constructor taking them."""
        deployment = load(
            with_channel(
                LINK + '[channels.alerts]\nplugin = "link"\napi_token_env = "LINK_TOKEN"\n'
            )
        )
        channels = deployment.create_channels(registry, environ=ENV)
        assert sorted(channels) == ["alerts", "link"]
        link, alerts = channels["link"], channels["alerts"]
        assert isinstance(link, LinkChannel)
        assert isinstance(alerts, LinkChannel)
        assert (link.base_url, link.inbound_url) == (
            "https://cx.example.in",
            "https://cx.example.in/c/link",
        )
        assert alerts.inbound_url == "https://cx.example.in/c/alerts"
        assert link.api_token == "tok_live_9f8e7d6c5b4a"

    def test_urls_set_in_the_table_are_kept(self, registry):
        """A table that sets base_url or inbound_url itself (or from the environment) keeps it."""
        deployment = load(
            with_channel(
                LINK + 'base_url = "https://links.example.in"\ninbound_url_env = "INBOUND"\n'
            )
        )
        (link,) = deployment.create_channels(
            registry, environ={**ENV, "INBOUND": "https://in.example.in/hook"}
        ).values()
        assert isinstance(link, LinkChannel)
        assert (link.base_url, link.inbound_url) == (
            "https://links.example.in",
            "https://in.example.in/hook",
        )

    def test_nothing_is_injected_where_the_constructor_does_not_take_it(self, registry):
        """A constructor without base_url or inbound_url gets neither; one taking **options neither."""
        deployment = load(
            with_channel(
                '[channels.plain]\nsender = "a@b.in"\n[channels.anything]\ncolour = "blue"\n'
            )
        )
        channels = deployment.create_channels(registry, environ=ENV)
        assert isinstance(channels["plain"], PlainChannel)
        assert channels["plain"].sender == "a@b.in"
        anything = channels["anything"]
        assert isinstance(anything, AnythingChannel)
        assert anything.options == {"colour": "blue"}

    def test_environment_values_take_the_type_the_constructor_wants(self, registry):
        """Text from the environment becomes the number or flag a parameter is annotated with."""
        deployment = load(
            with_channel(
                LINK + 'retries_env = "R"\nratio_env = "Q"\nverbose_env = "V"\nregion_env = "G"\n'
            )
        )
        environ = {**ENV, "R": "5", "Q": "0.25", "V": "yes", "G": "eu"}
        (link,) = deployment.create_channels(registry, environ=environ).values()
        assert isinstance(link, LinkChannel)
        assert (link.retries, link.ratio, link.verbose, link.region) == (5, 0.25, True, "eu")

    def test_options_of_the_file_are_passed_as_written(self, registry, tmp_path):
        """Lists go as lists, file options as absolute paths."""
        deployment = load(
            with_channel(LINK + 'senders = ["a@b.in"]\nkey_file = "keys/k.pem"\nretries = 0\n'),
            tmp_path,
        )
        (link,) = deployment.create_channels(registry, environ=ENV).values()
        assert isinstance(link, LinkChannel)
        assert link.senders == ["a@b.in"]
        assert link.key_file == str(tmp_path / "keys/k.pem")
        assert link.retries == 0

    def test_every_problem_of_every_instance_at_once(self, registry):
        """Unknown options, wrong types, missing ones, unset variables and missing plugins: all at once."""
        deployment = load(
            with_channel("""
            [channels.link]
            api_token_env = "UNSET_TOKEN"
            retires = 5
            ratio = "half"
            region = "us"
            verbose_env = "VERBOSE"
            [channels.plain]
            [channels.sms]
            plugin = "plian"
            [channels.email]
            plugin = "smtp"
        """)
        )
        with pytest.raises(DeploymentError) as caught:
            deployment.create_channels(registry, environ={"VERBOSE": "maybe-secret-text"})
        assert [str(p) for p in caught.value.problems] == [
            "channels.link.api_token_env: $UNSET_TOKEN is not set (expected the api_token of the 'link' plugin)",
            "channels.link.ratio: 'half' is not a number",
            "channels.link.region: 'us' is not one of 'in', 'eu'",
            "channels.link.retires: retires is not an option of the 'link' plugin (tests.test_deployment:LinkChannel) (did you mean 'retries'?)",
            "channels.link.verbose_env: $VERBOSE is not true or false, which verbose takes (the value is not shown)",
            "channels.plain: sender is missing: the 'plain' plugin requires it",
            "channels.sms.plugin: no channel 'plian' is installed (available: anything, link, picky, plain) (did you mean 'plain'?)",
            "channels.email.plugin: no channel 'smtp' is installed (available: anything, link, picky, plain)",
        ]
        assert "maybe-secret-text" not in str(caught.value)
        assert LinkChannel.created == []  # nothing is created unless everything can be

    def test_a_missing_secret_says_how_to_give_it(self, registry):
        """A required secret left out: the message names the ``_env`` setting that gives it."""
        deployment = load(with_channel("[channels.link]\n"))
        with pytest.raises(DeploymentError) as caught:
            deployment.create_channels(registry, environ={})
        (problem,) = caught.value.problems
        assert str(problem) == (
            "channels.link: api_token is missing: the 'link' plugin requires it (a secret: name "
            'the environment variable holding it with api_token_env = "VAR")'
        )

    def test_a_missing_plugin_named_by_the_instance(self, registry):
        """An instance whose name is its plugin's, when that plugin is missing, is reported on the instance."""
        deployment = load(with_channel('[channels.sms]\nsender = "x"'))
        with pytest.raises(DeploymentError) as caught:
            deployment.create_channels(registry, environ=ENV)
        assert [str(p) for p in caught.value.problems] == [
            "channels.sms: no channel 'sms' is installed (available: anything, link, picky, plain)"
        ]

    def test_the_email_channel_from_the_installed_plugins(self, tmp_path):
        """The real email plugin: base_url injected, the password from the environment, a CA file trusted."""
        trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        deployment = load(
            """
            [store]
            sqlite = "cx.db"
            [collector]
            public_url = "https://cx.example.in/r/"
            [channels.email]
            sender = "surveys@bazaar.example.in"
            host = "smtp.example.in"
            port_env = "SMTP_PORT"
            username = "surveys"
            password_env = "SMTP_PASSWORD"
            tls_ca_file = "ca.pem"
            """,
            tmp_path,
        )
        environ = {**ENV, "SMTP_PASSWORD": "hunter2hunter2", "SMTP_PORT": "2525"}
        assert deployment.check(environ=environ) == []
        (email,) = deployment.create_channels(environ=environ).values()
        assert isinstance(email, EmailChannel)
        assert repr(email) == (
            "EmailChannel(base_url='https://cx.example.in/r', pool=SmtpPool(smtp.example.in:2525, "
            "tls=starttls, auth, size=10, idle=0, busy=0))"
        )
        asyncio.run(email.aclose())

    def test_a_channel_that_cannot_send_here_is_refused_naming_what_to_install(
        self, tmp_path, monkeypatch
    ):
        """Without the email extra the email channel renders but cannot send: refused up front."""
        monkeypatch.setitem(sys.modules, "aiosmtplib", None)  # as if it were not installed
        deployment = load(
            '[store]\nsqlite = "cx.db"\n[collector]\npublic_url = "https://cx.example.in/"\n'
            '[channels.email]\nsender = "surveys@bazaar.example.in"\nport = "25"\n',
            tmp_path,
        )
        problem = (
            "channels.email: sending with plugin 'email' needs the optional library "
            "'aiosmtplib'; install it with: pip install 'cxcore[email]'"
        )
        assert [str(p) for p in deployment.check(environ=ENV)] == [
            problem,
            "channels.email.port: '25' is not a whole number",
        ]  # with the instance's other problems, at once
        with pytest.raises(DeploymentError, match=re.escape(problem)):
            deployment.create_channels(environ=ENV)

    def test_a_python_only_option_cannot_come_from_a_file(self, tmp_path):
        """tls_context takes an SSLContext: the file is told so (tls_ca_file is the way)."""
        deployment = load(
            with_channel('[channels.email]\nsender = "a@b.in"\ntls_context = "default"\n'),
            tmp_path,
        )
        assert [str(p) for p in deployment.check(environ=ENV)] == [
            "channels.email.tls_context: cannot be set in a deployment file: tls_context takes ssl.SSLContext"
        ]


class TestCheck:
    def test_a_good_deployment_has_no_problem_and_its_channels_are_closed(self, registry, tmp_path):
        """All set: no problem; each channel was created, then closed."""
        deployment = load(with_channel(LINK), tmp_path)
        assert deployment.check(registry, ENV) == []
        (link,) = LinkChannel.created
        assert link.closed

    def test_it_reports_the_environment_store_and_channels_together(self, registry, tmp_path):
        """Unset keys, a store folder that does not exist, an unset channel secret: all at once."""
        deployment = load(
            with_channel(LINK).replace('"cx.db"', '"missing/cx.db"'),
            tmp_path,
        )
        assert [str(p) for p in deployment.check(registry, {})] == [
            f"store.sqlite: {str(tmp_path / 'missing/cx.db')!r}: its folder {str(tmp_path / 'missing')!r} does not exist",
            "tokens.keys_env: $CXCORE_TOKEN_KEYS is not set (expected one or more secret keys of at least 32 bytes, newest first, separated by commas)",
            "channels.link.api_token_env: $LINK_TOKEN is not set (expected the api_token of the 'link' plugin)",
        ]

    def test_an_unset_dsn(self, registry):
        """A PostgreSQL store whose variable is unset is one problem."""
        deployment = load(
            '[store]\npostgres_env = "CX_DSN"\n[collector]\npublic_url = "https://x.in"'
        )
        assert [str(p) for p in deployment.check(registry, ENV)] == [
            "store.postgres_env: $CX_DSN is not set (expected a PostgreSQL DSN, such as postgresql://user:password@host:5432/db)"
        ]

    def test_inside_a_running_loop(self, registry, tmp_path):
        """check() works inside a running event loop (a notebook); acheck() is its async twin."""
        deployment = load(with_channel(LINK), tmp_path)

        async def inside() -> tuple[list[Problem], list[Problem]]:
            return deployment.check(registry, {}), await deployment.acheck(registry, {})

        sync, awaited = asyncio.run(inside())
        assert sync == awaited
        assert len(sync) == 2


class TestFindDeployment:
    def test_the_command_line_first(self):
        """--config wins over $CXCORE_CONFIG."""
        assert find_deployment("a.toml", environ={CONFIG_VARIABLE: "b.toml"}) == Path("a.toml")

    def test_then_the_environment(self):
        """Without --config, $CXCORE_CONFIG names the file."""
        assert find_deployment(None, environ={CONFIG_VARIABLE: "/etc/cx.toml"}) == Path(
            "/etc/cx.toml"
        )

    def test_then_the_current_folder(self, monkeypatch):
        """With neither, ./cxcore.toml; os.environ is read by default."""
        monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
        assert find_deployment() == Path("cxcore.toml")
        monkeypatch.setenv(CONFIG_VARIABLE, "x.toml")
        assert find_deployment() == Path("x.toml")
        assert os.environ[CONFIG_VARIABLE] == "x.toml"
