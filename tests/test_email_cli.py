"""``cxcore preview email``: the full message, as an author checks it."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from cxcore.cli import build_parser, main
from cxcore_channels.email import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "retail" / "surveys.toml"


def run(*argv: str) -> int:
    """``cxcore preview email ARGV``, as the command runs it."""
    parser = build_parser(["preview"])
    assert parser.parse_args(["preview", "email", *argv]).handler is cli.run
    return main(["preview", "email", *argv])


class TestPreview:
    def test_writes_the_whole_message_in_hindi(self, tmp_path):
        """--locale hi --out FILE writes an .eml with the three parts and a Hindi subject."""
        out = tmp_path / "after_billing.eml"
        status = run(
            "--survey",
            str(EXAMPLES),
            "--survey-id",
            "after_billing",
            "--locale",
            "hi",
            "--out",
            str(out),
        )
        assert status == 0
        message = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
        assert str(message["Subject"]) == "बाज़ार में आपकी खरीदारी"
        assert [p.get_content_type() for p in message.iter_parts()] == [
            "text/plain",
            "text/x-amp-html",
            "text/html",
        ]
        plain = message.get_body(("plain",))
        assert plain is not None
        assert "https://cx.example.com/r/s/preview-token?q.billing_sat=5" in plain.get_content()

    def test_writes_to_standard_output(self, capsysbinary):
        status = run("--survey", str(EXAMPLES), "--survey-id", "after_billing")
        assert status == 0
        data = capsysbinary.readouterr().out
        assert data.startswith(b"From: surveys@example.com\r\n")

    def test_several_surveys_need_an_id(self, capsys):
        """A file with several surveys and no --survey-id is unusable input: status 2, ids listed."""
        assert run("--survey", str(EXAMPLES)) == 2
        err = capsys.readouterr().err
        assert "pass --survey-id, one of: " in err
        assert "after_billing" in err

    def test_unreadable_and_invalid_files(self, tmp_path, capsys):
        """A file with problems exits 1; a missing file or another suffix exits 2."""
        bad = tmp_path / "bad.toml"
        bad.write_text("[[surveys]]\nid = 3\n", encoding="utf-8")
        assert run("--survey", str(bad)) == 1
        assert run("--survey", str(tmp_path / "missing.toml")) == 2
        assert run("--survey", str(tmp_path / "survey.yaml")) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0] == f"cxcore preview email: error: {bad}: 3 problems:"
        assert (
            f"cxcore preview email: error: {tmp_path / 'missing.toml'}: cannot open: No such file or directory"
            in err
        )
        assert err[-1].endswith("has suffix '.yaml' (expected .toml or .json)")
