"""``cxcore config check``: every problem at once, or a summary; never a secret, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxcore.cli import main
from cxcore.deployment import CONFIG_VARIABLE

KEY = "k" * 32
GOOD = """
[store]
sqlite = "cx.db"

[collector]
public_url = "https://cx.example.in/r/"

[dispatch]
in_serve = false
interval = 0.5

[channels.email]
sender = "surveys@bazaar.example.in"
host = "smtp.example.in"
username = "surveys"
password_env = "CX_SMTP_PASSWORD"

[channels.promo]
plugin = "email"
sender = "offers@bazaar.example.in"
amp = false
"""

BAD = """
[store]
sqlite = "cx.db"
postgres = "postgresql://cx:hunter2hunter2@db/cx"

[collector]
public_url = "https://cx.example.in/r?x=1"

[channels.email]
sender = "surveys@bazaar.example.in"
password = "hunter2hunter2"
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
    monkeypatch.setenv("CX_SMTP_PASSWORD", "hunter2hunter2")
    monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
    (tmp_path / "cxcore.toml").write_text(GOOD)
    return tmp_path


class TestConfigCheck:
    def test_a_good_deployment_gets_a_summary(self, folder, capsys):
        """All is well: exit 0, and what the deployment has, with no secret."""
        status = main(["config", "check", "--config", str(folder / "cxcore.toml")])
        out, err = capsys.readouterr()
        assert (status, err) == (0, "")
        assert out.splitlines() == [
            f"ok: {folder / 'cxcore.toml'}",
            f"  store:      SQLite file {folder / 'cx.db'}",
            "  public URL: https://cx.example.in/r",
            "  listens on: 127.0.0.1:8000",
            "  tokens:     keys from $CXCORE_TOKEN_KEYS",
            "  dispatch:   batch 100, every 0.5 s when idle, apart (cxcore dispatch)",
            "  channels:   email (plugin 'email'), promo (plugin 'email')",
        ]
        assert "hunter2" not in out

    def test_the_files_problems_all_at_once(self, folder, capsys):
        """A bad file: every problem on standard error, exit 1, no traceback, no secret."""
        (folder / "cxcore.toml").write_text(BAD)
        status = main(["config", "check", "--config", str(folder / "cxcore.toml")])
        out, err = capsys.readouterr()
        assert (status, out) == (1, "")
        assert err.splitlines() == [
            f"{folder / 'cxcore.toml'}: 3 problems:",
            "  store.postgres: would put the database password in the file: set postgres_env to the name of the environment variable that holds the DSN (the value is not shown)",
            "  collector.public_url: 'https://cx.example.in/r?x=1' has a query or a fragment (expected none: links are built under it)",
            '  channels.email.password: is a secret, and secrets never go in the file: put it in an environment variable and name that variable with password_env = "VAR" (the value is not shown)',
        ]
        assert "hunter2" not in err

    def test_the_environments_problems_all_at_once(self, folder, capsys, monkeypatch):
        """Unset and invalid variables, and what a plugin refuses: exit 1, named by their place in the file."""
        monkeypatch.delenv("CX_SMTP_PASSWORD")
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", f"{KEY},too-short-secret")
        (folder / "cxcore.toml").write_text(
            GOOD.replace('host = "smtp.example.in"', 'tls = "ssl"\npool_siz = 2')
        )
        status = main(["config", "check", "--config", str(folder / "cxcore.toml")])
        out, err = capsys.readouterr()
        assert (status, out) == (1, "")
        assert err.splitlines() == [
            f"{folder / 'cxcore.toml'}: 4 problems:",
            "  tokens.keys_env: $CXCORE_TOKEN_KEYS: keys[1]: is 16 bytes long (expected at least 32)",
            "  channels.email.password_env: $CX_SMTP_PASSWORD is not set (expected the password of the 'email' plugin)",
            "  channels.email.pool_siz: pool_siz is not an option of the 'email' plugin (cxcore_channels.email.channel:EmailChannel) (did you mean 'pool_size'?)",
            "  channels.email.tls: 'ssl' is not one of 'starttls', 'implicit', 'none'",
        ]
        assert "too-short-secret" not in err

    def test_found_through_the_environment_variable(self, folder, capsys, monkeypatch):
        """Without --config, $CXCORE_CONFIG names the file."""
        monkeypatch.setenv(CONFIG_VARIABLE, str(folder / "cxcore.toml"))
        assert main(["config", "check"]) == 0
        assert capsys.readouterr().out.startswith(f"ok: {folder / 'cxcore.toml'}\n")

    def test_found_in_the_current_folder(self, folder, capsys, monkeypatch):
        """With neither, ./cxcore.toml is read."""
        monkeypatch.chdir(folder)
        assert main(["config", "check"]) == 0
        assert capsys.readouterr().out.startswith(f"ok: {folder / 'cxcore.toml'}\n")

    def test_no_file(self, tmp_path, capsys, monkeypatch):
        """No file where one is looked for: exit 2 (the command cannot run), saying how to name one."""
        monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
        monkeypatch.chdir(tmp_path)
        assert main(["config", "check"]) == 2
        assert capsys.readouterr().err == (
            "cxcore.toml: no such deployment file (name it with --config PATH, or $CXCORE_CONFIG)\n"
        )
        assert main(["config", "check", "--config", "elsewhere.toml"]) == 2
        assert capsys.readouterr().err == "elsewhere.toml: no such deployment file\n"

    @pytest.mark.parametrize(
        "argv", [["config"], ["config", "check", "--bogus"], ["config", "check", "--config"]]
    )
    def test_an_unusable_command_line_exits_2(self, argv, capsys):
        """A command line that does not parse exits with status 2, with argparse's usage."""
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        assert "usage: cxcore" in capsys.readouterr().err

    def test_as_a_process_no_traceback(self, folder):
        """Run as `python -m cxcore`: problems and status 1, and nothing else on standard error."""
        (folder / "cxcore.toml").write_text(BAD)
        done = subprocess.run(
            [sys.executable, "-m", "cxcore", "config", "check"],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr.startswith("cxcore.toml: 3 problems:\n")
        assert "Traceback" not in done.stderr
        assert "hunter2" not in done.stderr


class TestCollectorFiles:
    def test_definition_and_rules_files_are_checked(self, tmp_path, capsys, monkeypatch):
        """config check reads the files cxcore serve would, and lists their problems."""
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", "k" * 40)
        (tmp_path / "surveys.toml").write_text("[[surveys]]\nid = 'bad id'\n", encoding="utf-8")
        (tmp_path / "cxcore.toml").write_text(
            '[store]\nsqlite = "cx.db"\n[collector]\npublic_url = "https://cx.example.in"\n'
            'definitions = ["surveys.toml", "gone.toml"]\nrules = "rules.toml"\n',
            encoding="utf-8",
        )
        assert main(["config", "check", "--config", str(tmp_path / "cxcore.toml")]) == 1
        err = capsys.readouterr().err
        assert "collector.definitions[1]:" in err
        assert "gone.toml" in err
        assert "collector.rules:" in err
