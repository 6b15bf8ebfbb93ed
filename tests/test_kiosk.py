"""The kiosk's routes over real HTTP: settings, queued answers, heartbeats, head office, the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxcore import RespondentKind, ValidationError
from cxcore.collector import RateLimits
from cxcore.collector.kiosk import KioskLimits
from cxcore.kiosks import issue_kiosk
from tests.collector_support import Served, serve_collector


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_collector(tmp_path, limits=RateLimits(per_address=None, per_key=None)) as s:
        yield s


def add_kiosk(served: Served, kiosk_id: str = "blr-01-exit", **kw: Any) -> str:
    """A kiosk asking store_exit at BLR-01's exit; returns its device key."""
    kw.setdefault("store", "BLR-01")
    kw.setdefault("touchpoint", "store_exit")
    kw.setdefault("survey_id", "store_exit")
    issued = issue_kiosk(kiosk_id, at=served.clock.now(), **kw)
    served.run(served.store.add_kiosk(issued.kiosk, issued.key))
    return issued.secret


def item(**kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "key": str(uuid.uuid4()),
        "answers": {"sat": 4},
        "complete": True,
        "locale": "en",
        "at": "2026-12-07T04:29:00+00:00",
    }
    fields.update(kw)
    return fields


def post(served: Served, key: str, items: list[dict[str, Any]], queue: int = 0) -> httpx.Response:
    return httpx.post(
        f"{served.url}/kiosk/api/answers",
        json={"items": items, "queue": queue},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def responses(served: Served) -> list[Any]:
    return served.run(served.store.responses(survey_id="store_exit"))


class TestConfig:
    def test_the_device_gets_its_survey_in_its_languages(self, served):
        """config gives the kiosk's settings, the survey's questions and words in en and hi."""
        key = add_kiosk(served)
        answer = httpx.get(
            f"{served.url}/kiosk/api/config", headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200
        config = answer.json()
        assert config["kiosk"]["touchpoint"] == "store_exit"
        assert config["kiosk"]["locales"] == ["en", "hi"]
        (sat, note) = config["survey"]["questions"]
        assert sat["id"] == "sat"
        assert sat["display"] == "stars"
        assert [level["value"] for level in sat["levels"]] == [1, 2, 3, 4, 5]
        assert sat["text"]["hi"] == "आप कितने संतुष्ट हैं?"
        assert note["kind"] == "text"
        assert config["words"]["hi"]["thanks_title"] == "धन्यवाद!"
        assert "Tell" not in json.dumps(config["words"]["hi"])

    @pytest.mark.parametrize("scope_key", ["none", "answers", "revoked"])
    def test_other_keys_open_nothing(self, served, scope_key):
        """No key is 401; a key without the kiosk scope or a revoked kiosk's key is 403."""
        headers = {}
        if scope_key == "answers":
            headers = {"Authorization": f"Bearer {served.key('answers')}"}
        elif scope_key == "revoked":
            key = add_kiosk(served)
            served.run(served.store.revoke_kiosk("blr-01-exit", at=served.clock.now()))
            headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.get(f"{served.url}/kiosk/api/config", headers=headers)
        assert answer.status_code == (401 if scope_key == "none" else 403)
        assert answer.json()["ok"] is False


class TestAnswers:
    def test_queued_answers_are_stored_once_with_the_kiosk_placement(self, served):
        """A batch is stored anonymous, with store and touchpoint; its retry stores nothing new."""
        key = add_kiosk(served)
        items = [item(), item(answers={"sat": 2, "note": "Queue too long"}, locale="hi")]
        first = post(served, key, items, queue=3)
        assert first.status_code == 200
        assert [r["status"] for r in first.json()["results"]] == [200, 200]
        again = post(served, key, items)
        assert [r["outcome"] for r in again.json()["results"]] == ["repeated", "repeated"]
        stored = responses(served)
        assert len(stored) == 2
        for response in stored:
            assert response.channel == "kiosk"
            assert response.respondent is RespondentKind.ANONYMOUS
            assert response.customer_id is None
            assert response.context["store"] == "BLR-01"
            assert response.context["touchpoint"] == "store_exit"
        assert sorted(r.locale for r in stored) == ["en", "hi"]
        kiosk = served.run(served.store.kiosk("blr-01-exit"))
        assert kiosk.seen_at == served.clock.now()
        assert kiosk.queue_length == 0
        assert kiosk.last_answer_at is not None

    def test_a_bad_item_is_refused_alone_naming_its_fields(self, served):
        """One item's problems give it a 4xx result; the others are stored."""
        key = add_kiosk(served)
        good = item()
        bad = item(answers={"sat": 9}, key="short", mode="robot", extra=1)
        retired = item(version=7)
        answer = post(served, key, [good, bad, retired])
        assert answer.status_code == 200
        body = answer.json()
        assert body["refused"] == 2
        ok, refused, gone = body["results"]
        assert ok["status"] == 200
        assert refused["status"] == 422
        for field in ("items[1].key", "items[1].mode", "items[1].extra"):
            assert field in refused["message"]
        assert gone["status"] == 404
        assert gone["key"] == retired["key"]
        assert len(responses(served)) == 1

    def test_answers_that_break_the_survey_are_422(self, served):
        """An out-of-range score is the store's validation: 422 with the question named."""
        key = add_kiosk(served)
        (result,) = post(served, key, [item(answers={"sat": 9})]).json()["results"]
        assert result["status"] == 422
        assert "sat" in result["message"]

    @pytest.mark.parametrize(
        "body",
        [{"items": []}, {"items": [item()] * 101}, {"items": [item()], "queue": -1}, {"x": 1}],
    )
    def test_a_malformed_request_writes_nothing(self, served, body):
        """An empty or too long batch, or a bad queue length: 422, nothing stored."""
        key = add_kiosk(served)
        answer = httpx.post(
            f"{served.url}/kiosk/api/answers",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 422
        assert responses(served) == []

    def test_agent_reports_are_kept_apart_with_the_agent_id(self, served):
        """mode agent stores an agent-reported response naming the employee."""
        key = add_kiosk(served)
        post(served, key, [item(mode="agent", agent_id="E-1042", answers={"sat": 2})])
        (response,) = responses(served)
        assert response.respondent is RespondentKind.AGENT
        assert response.agent_id == "E-1042"
        assert response.context["touchpoint"] == "store_exit"

    def test_agent_reports_need_an_agent_and_a_kiosk_that_takes_them(self, served):
        """No agent id, or a kiosk without agent mode: 422 naming the field."""
        key = add_kiosk(served)
        other = add_kiosk(served, "blr-01-door", agent_mode=False)
        (missing,) = post(served, key, [item(mode="agent")]).json()["results"]
        assert "agent_id" in missing["message"]
        (closed,) = post(served, other, [item(mode="agent", agent_id="E-1")]).json()["results"]
        assert "does not take agent reports" in closed["message"]
        assert responses(served) == []

    def test_each_device_has_its_own_rate(self, tmp_path):
        """Past its burst a device gets 429 with Retry-After; another device is not held."""
        with serve_collector(
            tmp_path,
            limits=RateLimits(per_address=None, per_key=None),
            kiosk_limits=KioskLimits(rate=0.001, burst=2),
        ) as served:
            first, second = add_kiosk(served), add_kiosk(served, "blr-02-exit", store="BLR-02")
            statuses = [post(served, first, [item()]).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
            limited = post(served, first, [item()])
            assert int(limited.headers["Retry-After"]) >= 1
            assert "blr-01-exit" in limited.json()["error"]["message"]
            assert post(served, second, [item()]).status_code == 200
            assert len(responses(served)) == 3

    def test_limits_are_checked(self):
        """A rate or burst that cannot be used is named."""
        with pytest.raises(ValidationError) as caught:
            KioskLimits(rate=0, burst=0)
        assert "rate" in str(caught.value)
        assert "burst" in str(caught.value)


class TestScores:
    def test_exit_and_billing_are_scored_apart_and_agents_left_out(self, served):
        """By touchpoint, non-buyers (exit) and buyers (billing) get their own CSAT; agents are apart."""
        exit_key = add_kiosk(served)
        billing_key = add_kiosk(served, "blr-01-billing", touchpoint="billing_counter")
        post(served, exit_key, [item(answers={"sat": 2}), item(answers={"sat": 3})])
        post(served, billing_key, [item(answers={"sat": 5}), item(answers={"sat": 4})])
        post(served, exit_key, [item(mode="agent", agent_id="E-7", answers={"sat": 5})])
        cells = served.run(served.store.score("csat", survey_id="store_exit", by=("touchpoint",)))
        by_touchpoint = {cell.key: (cell.n, cell.score) for cell in cells}
        assert by_touchpoint == {("billing_counter",): (2, 100.0), ("store_exit",): (2, 0.0)}
        with_agents = served.run(
            served.store.score(
                "csat", survey_id="store_exit", by=("touchpoint",), include_agents=True
            )
        )
        assert {cell.key: cell.n for cell in with_agents} == {
            ("billing_counter",): 2,
            ("store_exit",): 3,
        }


class TestHeartbeat:
    def test_head_office_sees_which_kiosks_are_alive(self, served):
        """A heartbeat records the queue and refusals; devices lists alive and silent kiosks."""
        key = add_kiosk(served)
        add_kiosk(served, "blr-01-billing", touchpoint="billing_counter")
        beat = httpx.post(
            f"{served.url}/kiosk/api/heartbeat",
            json={"queue": 5, "dropped": 1, "last_answer_at": "2026-12-07T04:00:00+05:30"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert beat.status_code == 200
        assert beat.json()["kiosk"]["queue_length"] == 5
        live = served.key("live")
        listing = httpx.get(
            f"{served.url}/kiosk/api/devices", headers={"Authorization": f"Bearer {live}"}
        )
        assert listing.status_code == 200
        devices = {d["id"]: d for d in listing.json()["kiosks"]}
        assert devices["blr-01-exit"]["alive"] is True
        assert devices["blr-01-exit"]["queue_length"] == 5
        assert devices["blr-01-exit"]["dropped"] == 1
        assert devices["blr-01-exit"]["last_answer_at"] == "2026-12-06T22:30:00+00:00"
        assert devices["blr-01-billing"]["alive"] is False
        assert devices["blr-01-billing"]["touchpoint"] == "billing_counter"
        served.clock.advance(timedelta(minutes=6))
        later = httpx.get(
            f"{served.url}/kiosk/api/devices", headers={"Authorization": f"Bearer {live}"}
        )
        assert [d["alive"] for d in later.json()["kiosks"]] == [False, False]

    def test_a_device_key_cannot_list_devices_and_bad_beats_are_named(self, served):
        """devices needs a live key; a heartbeat with bad counts is 422 naming them."""
        key = add_kiosk(served)
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{served.url}/kiosk/api/devices", headers=headers).status_code == 403
        bad = httpx.post(
            f"{served.url}/kiosk/api/heartbeat",
            json={"queue": -1, "dropped": "x", "last_answer_at": "yesterday", "y": 1},
            headers=headers,
        )
        assert bad.status_code == 422
        message = bad.json()["error"]["message"]
        for field in ("queue", "dropped", "last_answer_at", "y"):
            assert field in message
        assert served.run(served.store.kiosk("blr-01-exit")).seen_at is None


class TestPage:
    def test_the_shell_and_service_worker_are_served_without_device_data(self, served):
        """The page holds no key or device; the worker is JavaScript; both are revalidated."""
        page = httpx.get(f"{served.url}/kiosk/")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-cache"
        assert "kiosk/kiosk.js" in page.text
        assert "cxk_" not in page.text
        worker = httpx.get(f"{served.url}/kiosk/sw.js")
        assert worker.headers["content-type"].startswith("text/javascript")
        assert "caches.open" in worker.text
        moved = httpx.get(f"{served.url}/kiosk")
        assert moved.status_code == 308
        assert moved.headers["location"] == "/r/kiosk/"


class TestCli:
    def test_add_list_revoke(self, tmp_path, capsys, monkeypatch):
        """add prints the device key once; list shows placement and heartbeat; revoke both."""
        from cxcore.cli import main  # noqa: PLC0415

        monkeypatch.setenv("CXCORE_TOKEN_KEYS", "kiosk-cli-key-0123456789abcdefghijklmn")
        (tmp_path / "surveys.toml").write_text(
            '[[surveys]]\nid = "visit"\ntitle = {en = "Visit"}\n'
            '[[surveys.questions]]\nkind = "csat"\nid = "sat"\ntext = {en = "Happy?"}\n',
            encoding="utf-8",
        )
        config = tmp_path / "cxcore.toml"
        config.write_text(
            '[store]\nsqlite = "cx.db"\n\n[collector]\npublic_url = "http://127.0.0.1:8000/cx"\n'
            'definitions = ["surveys.toml"]\n',
            encoding="utf-8",
        )
        where = ["--config", str(config)]
        add = ["kiosk", "add", "blr-01-exit", "--store", "BLR-01", "--touchpoint", "store_exit"]
        assert main([*add, "--survey", "nope", *where]) == 1
        assert "--survey: 'nope'" in capsys.readouterr().err
        assert main([*add, "--survey", "visit", *where]) == 0
        secret, about = capsys.readouterr().out.splitlines()
        assert secret.startswith("cxk_")
        assert about.startswith("kiosk blr-01-exit (BLR-01, store_exit; survey visit")
        assert main(["kiosk", "list", *where]) == 0
        line = capsys.readouterr().out
        assert line.startswith("blr-01-exit  BLR-01/store_exit  survey visit  silent  seen never")
        assert main(["kiosk", "list", "--json", *where]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert (listed["id"], listed["alive"], listed["active"]) == ("blr-01-exit", False, True)
        assert main(["kiosk", "revoke", "blr-01-exit", *where]) == 0
        assert "are revoked" in capsys.readouterr().out
        main(["kiosk", "list", *where])
        assert "revoked" in capsys.readouterr().out
        assert main(["kiosk", "revoke", "nope", *where]) == 1
        assert "no kiosk 'nope'" in capsys.readouterr().err

    def test_every_problem_of_a_kiosk_is_named_at_once_and_nothing_is_stored(
        self, tmp_path, capsys, monkeypatch
    ):
        """A bad id, an unknown survey and a touchpoint on no journey: one error, no kiosk."""
        from cxcore.cli import main  # noqa: PLC0415

        monkeypatch.setenv("CXCORE_TOKEN_KEYS", "kiosk-cli-key-0123456789abcdefghijklmn")
        retail = Path(__file__).parent.parent / "examples" / "retail"
        config = tmp_path / "cxcore.toml"
        config.write_text(
            '[store]\nsqlite = "cx.db"\n\n[collector]\npublic_url = "http://127.0.0.1:8000"\n'
            f'definitions = ["{retail / "journey.toml"}", "{retail / "surveys.toml"}"]\n',
            encoding="utf-8",
        )
        where = ["--config", str(config)]
        bad = ["kiosk", "add", "bad id", "--store", "BLR-01", "--touchpoint", "store_exti"]
        assert main([*bad, "--survey", "nope", *where]) == 1
        err = capsys.readouterr().err
        assert "(3 problems)" in err
        assert "--survey: 'nope' is neither stored nor in the deployment's definition files" in err
        assert "--touchpoint: 'store_exti' is not a touchpoint of the deployment's journeys" in err
        assert "store_exit" in err  # among those expected
        assert "id: 'bad id' is not a valid id" in err
        assert main(["kiosk", "list", *where]) == 0
        assert capsys.readouterr().out.startswith("no kiosks")


class TestDeployment:
    def test_the_deployment_file_sets_each_kiosks_rate(self, tmp_path):
        """[collector] kiosk_rate and kiosk_burst; false for no limit; bad values named."""
        from cxcore.deployment import DeploymentError, loads_deployment  # noqa: PLC0415

        base = '[store]\nsqlite = "cx.db"\n[collector]\npublic_url = "https://cx.example.in"\n'
        default = loads_deployment(base, folder=tmp_path).collector
        assert (default.kiosk_rate, default.kiosk_burst) == (2.0, 30)
        off = loads_deployment(base + "kiosk_rate = false\nkiosk_burst = 5\n", folder=tmp_path)
        assert (off.collector.kiosk_rate, off.collector.kiosk_burst) == (None, 5)
        with pytest.raises(DeploymentError) as caught:
            loads_deployment(base + "kiosk_rate = -1\nkiosk_burst = 0\n", folder=tmp_path)
        assert "kiosk_rate" in str(caught.value)
        assert "kiosk_burst" in str(caught.value)
