"""``cxcore serve`` and ``cxcore keys``: refusals before anything starts, one line each, no traceback."""

from __future__ import annotations

import http.client
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cxcore.cli import main

KEYS = "collector-cli-key-0123456789abcdefghijkl"


def deployment(folder: Path, *, port: int = 8000, sqlite: str = "cx.db", extra: str = "") -> Path:
    path = folder / "cxcore.toml"
    path.write_text(
        textwrap.dedent(f"""
            [store]
            sqlite = "{sqlite}"

            [collector]
            public_url = "http://127.0.0.1:{port}/cx"
            port = {port}
        """)
        + extra,
        encoding="utf-8",
    )
    return path


def at_the_root(folder: Path, extra: str = "") -> tuple[Path, int]:
    """A deployment file serving at the root URL of a free loopback port; the file and the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = folder / "cxcore.toml"
    config.write_text(
        f'[store]\nsqlite = "cx.db"\n\n[collector]\n'
        f'public_url = "http://127.0.0.1:{port}"\nport = {port}\n' + extra,
        encoding="utf-8",
    )
    return config, port


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEYS)


class TestKeys:
    def test_add_list_revoke(self, tmp_path, capsys):
        """A key is printed once; the listing shows its id and scopes; revoking marks it."""
        config = str(deployment(tmp_path))
        assert main(["keys", "add", "kiosk-BLR-01", "--scope", "answers", "--config", config]) == 0
        secret, about = capsys.readouterr().out.splitlines()
        key_id = secret.split("_")[1]
        assert about.startswith(f"key {key_id} (kiosk-BLR-01; scopes: answers)")
        assert main(["keys", "list", "--config", config]) == 0
        assert capsys.readouterr().out.startswith(f"{key_id}  kiosk-BLR-01  [answers]")
        assert main(["keys", "revoke", key_id, "--config", config]) == 0
        assert "is revoked" in capsys.readouterr().out
        main(["keys", "list", "--config", config])
        assert "revoked" in capsys.readouterr().out

    def test_an_unknown_key_and_an_unopenable_store_are_one_line_each(self, tmp_path, capsys):
        """1 for a key that is not there; 2 for a store that cannot be opened."""
        config = str(deployment(tmp_path))
        assert main(["keys", "revoke", "000000000000", "--config", config]) == 1
        assert capsys.readouterr().err == (
            "cxcore keys revoke: error: no API key '000000000000' (see `cxcore keys list`)\n"
        )
        (tmp_path / "folder").mkdir()
        broken = str(deployment(tmp_path, sqlite="folder"))  # a directory, not a database
        assert main(["keys", "list", "--config", broken]) == 2
        err = capsys.readouterr().err
        assert err.startswith("cxcore keys list: error: the store cannot be opened")
        assert err.count("\n") == 1


class TestServe:
    def test_a_port_in_use_is_refused_before_starting(self, tmp_path, capsys):
        """Exit 2, naming the host and port, with nothing started."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            config = str(deployment(tmp_path, port=port))
            assert main(["serve", "--config", config]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"cxcore serve: error: cannot listen on 127.0.0.1:{port}")
        assert not (tmp_path / "cx.db").exists()

    def test_every_problem_of_the_deployment_is_listed_at_once(self, tmp_path, capsys, monkeypatch):
        """Token keys and a channel's password both unset: both listed, exit 1, nothing built."""
        monkeypatch.delenv("CXCORE_TOKEN_KEYS")
        monkeypatch.delenv("CX_SMTP_PASSWORD", raising=False)
        extra = (
            '\n[channels.email]\nsender = "surveys@bazaar.example.in"\n'
            'username = "surveys"\npassword_env = "CX_SMTP_PASSWORD"\n'
        )
        config = str(deployment(tmp_path, extra=extra))
        assert main(["serve", "--config", config]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"cxcore serve: error: {config}: 2 problems:")
        assert "tokens.keys_env: $CXCORE_TOKEN_KEYS is not set" in err
        assert "channels.email.password_env: $CX_SMTP_PASSWORD is not set" in err
        assert not (tmp_path / "cx.db").exists()

    @pytest.mark.parametrize("port", ["99999", "-1", "http"])
    def test_a_port_out_of_range_is_refused_in_one_line(self, tmp_path, capsys, port):
        """--port outside 0-65535: the usage error naming it, exit 2, no traceback."""
        config = str(deployment(tmp_path))
        with pytest.raises(SystemExit) as stopped:
            main(["serve", "--config", config, "--port", port])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert (
            f"argument --port: {port!r} is not a port (expected a whole number from 0 to 65535)"
            in err
        )
        assert "Traceback" not in err

    def test_definitions_with_problems_are_refused(self, tmp_path, capsys):
        """A definition file named in [collector] with problems: exit 1, every problem listed."""
        (tmp_path / "surveys.toml").write_text("[[surveys]]\nid = 'bad id'\n", encoding="utf-8")
        config = str(deployment(tmp_path, extra='definitions = ["surveys.toml"]\n'))
        assert main(["serve", "--config", config]) == 1
        err = capsys.readouterr().err
        assert err.startswith("cxcore serve: error: ")
        assert "surveys[0]" in err

    def test_no_traceback_from_a_real_process(self, tmp_path):
        """The same refusal from a process of its own: one line on stderr, status 2."""
        (tmp_path / "cx.db").write_bytes(b"not a database, but a file: the check finds no problem")
        config = deployment(tmp_path, sqlite="cx.db", port=0)
        run = subprocess.run(
            [sys.executable, "-m", "cxcore", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr
        assert run.stderr.startswith("cxcore serve: error: the store cannot be opened")


class TestServeAtTheRoot:
    @pytest.mark.parametrize(("level", "logged"), [("INFO", True), ("WARNING", False)])
    def test_a_collector_at_the_root_url_serves_and_logs_as_its_level_says(
        self, tmp_path, level, logged
    ):
        """At the root the collector's own app is served; access lines only at INFO, tokens masked."""
        import os  # noqa: PLC0415
        import signal  # noqa: PLC0415
        import time  # noqa: PLC0415

        import httpx  # noqa: PLC0415

        config, port = at_the_root(tmp_path)
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "cxcore", "serve", "--config", str(config), "--no-dispatch",
                 "--log-level", level],
                env={**os.environ, "CXCORE_TOKEN_KEYS": KEYS}, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "cxcore serve did not start"
                    time.sleep(0.1)
            assert health.json() == {"ok": True}
            page = httpx.get(f"http://127.0.0.1:{port}/s/not-a-real-token", timeout=5)
            assert page.status_code == 403  # a forged token: refused, in plain words
            short = httpx.get(f"http://127.0.0.1:{port}/l/NotARealCode", timeout=5)
            assert short.status_code == 404
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(20) == 0, log.read_text()
        text = log.read_text()
        assert "Traceback" not in text
        assert ("GET /healthz 200" in text) is logged
        assert ("GET /s/… " in text) is logged
        assert ("GET /l/… " in text) is logged
        assert "not-a-real-token" not in text
        assert "NotARealCode" not in text

    def test_idle_connections_are_kept_as_long_as_keep_alive_says(self, tmp_path):
        """keep_alive = 2: a connection idle 1 s still serves; one idle 3.5 s the server has closed.

        uvicorn's own default (5 s) would keep both: the setting reaches the server.
        """
        import os  # noqa: PLC0415
        import signal  # noqa: PLC0415
        import time  # noqa: PLC0415

        config, port = at_the_root(tmp_path, "keep_alive = 2\n")
        log = tmp_path / "serve.log"

        def ask(conn: http.client.HTTPConnection) -> int:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            return response.status

        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "cxcore", "serve", "--config", str(config), "--no-dispatch"],
                env={**os.environ, "CXCORE_TOKEN_KEYS": KEYS}, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            while True:
                try:
                    assert ask(conn) == 200
                    break
                except OSError:
                    conn.close()
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "cxcore serve did not start"
                    time.sleep(0.1)
            try:
                idle = conn.sock
                time.sleep(1)
                assert ask(conn) == 200  # idle 1 s: served on the same connection
                assert conn.sock is idle
                time.sleep(3.5)
                idle.setblocking(False)  # an open connection raises BlockingIOError
                assert idle.recv(1) == b""  # idle 3.5 s: the server has closed it
            finally:
                conn.close()
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(20) == 0, log.read_text()


class TestServeWorkers:
    def test_workers_serve_one_port_and_stop_together(self, tmp_path):
        """--workers 2: two processes answer on one port, every answer is stored, SIGTERM stops all."""
        import os  # noqa: PLC0415
        import shutil  # noqa: PLC0415
        import signal  # noqa: PLC0415
        import time  # noqa: PLC0415

        import httpx  # noqa: PLC0415

        example = Path(__file__).parent.parent / "examples" / "retail"
        for name in ("journey.toml", "surveys.toml"):
            shutil.copy(example / name, tmp_path)
        config, port = at_the_root(
            tmp_path, 'definitions = ["journey.toml", "surveys.toml"]\nrate_per_key = false\n'
        )
        env = {**os.environ, "CXCORE_TOKEN_KEYS": KEYS}
        issued = subprocess.run(
            [sys.executable, "-m", "cxcore", "keys", "add", "kiosk", "--scope", "answers",
             "--config", str(config)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = issued.stdout.split()[0]
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "cxcore", "serve", "--config", str(config), "--no-dispatch",
                 "--workers", "2", "--log-level", "INFO"],
                env=env, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "cxcore serve --workers did not start"
                    time.sleep(0.1)
            statuses = []
            for i in range(20):  # a connection each: the kernel spreads them over the workers
                answer = {
                    "survey": "store_exit",
                    "answers": {"visit_mood": 1 + i % 5},
                    "key": f"w-{i}",
                    "context": {"store": "BLR-01", "touchpoint": "store_exit"},
                }
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/api/answers",
                    json=answer,
                    headers={"X-Api-Key": key},
                    timeout=10,
                )
                statuses.append(reply.status_code)
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(30)
        text = log.read_text()
        assert code == 0, text
        assert statuses == [200] * 20, text
        assert text.count("Started server process") == 2, text
        assert text.count("Finished server process") == 2, text
        assert "Traceback" not in text
        with sqlite3.connect(tmp_path / "cx.db") as db:
            assert db.execute("SELECT count(*) FROM responses").fetchone() == (20,)

    def test_no_workers_is_refused(self, tmp_path, capsys):
        with pytest.raises(SystemExit) as exc:
            main(["serve", "--config", str(deployment(tmp_path)), "--workers", "0"])
        assert exc.value.code == 2
        assert "--workers: '0' is not a number of processes (1 or more)" in capsys.readouterr().err


class TestFreezeGc:
    @pytest.mark.parametrize("freeze", [True, False])
    def test_serve_moves_what_it_holds_for_life_out_of_the_collectors_reach(self, tmp_path, freeze):
        """``freeze_gc`` (what ``cxcore serve`` sets) freezes the started process; off by default."""
        import asyncio  # noqa: PLC0415
        import gc  # noqa: PLC0415

        from cxcore.collector.cli import build_app  # noqa: PLC0415
        from cxcore.deployment import load_deployment  # noqa: PLC0415

        config = tmp_path / "cxcore.toml"
        config.write_text(
            '[store]\nsqlite = "cx.db"\n\n[collector]\npublic_url = "http://127.0.0.1:8000"\n',
            encoding="utf-8",
        )
        app = build_app(load_deployment(config), dispatch=False, freeze_gc=freeze)

        async def start_and_stop() -> int:
            async with app.router.lifespan_context(app):
                return gc.get_freeze_count()

        gc.unfreeze()
        try:
            frozen = asyncio.run(start_and_stop())
        finally:
            gc.unfreeze()
        assert (frozen > 0) is freeze
