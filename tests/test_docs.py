"""The docs' pages run: a page whose examples are skipped as a whole fails the suite."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent

PAGES = {
    "skips.md": '# Skips\n\n```python\n>>> import pytest\n>>> pytest.skip("no network")\n\n```\n',
    "all_marked.md": "# Marked\n\n```python\n>>> 1 + 1  # doctest: +SKIP\n3\n\n```\n",
    "one_marked.md": "# Fine\n\n```python\n>>> 1 + 1  # doctest: +SKIP\n3\n>>> 2\n2\n\n```\n",
}


class TestWholePageSkips:
    def test_a_page_skipped_as_a_whole_fails_naming_it_and_why(self, tmp_path):
        """The suite's own conftest turns a whole-page skip into a failure; one +SKIP is fine."""
        shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
        for name, text in PAGES.items():
            (tmp_path / name).write_text(text, encoding="utf-8")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-glob=*.md"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert run.returncode == 1, run.stdout
        assert "2 failed, 1 passed" in run.stdout
        assert (
            "skips.md: the page's examples were skipped as a whole (Skipped: no network), so "
            "none of them ran; make the page run (catch the skip in the example, or drop the "
            "+SKIP marks)"
        ) in run.stdout
        assert (
            "all_marked.md: the page's examples were skipped as a whole "
            "(Skipped: all tests skipped by +SKIP option)"
        ) in run.stdout

    def test_the_check_covers_the_docs_pages(self):
        """The docs pages are doctests of the suite, under the conftest that holds the check."""
        pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        assert '"--doctest-glob=*.md"' in pyproject
        assert '"docs"' in pyproject.split("testpaths = ", 1)[1].split("\n", 1)[0]
        pages = [p for p in (ROOT / "docs").rglob("*.md") if ">>> " in p.read_text("utf-8")]
        assert len(pages) >= 8
        assert all(ROOT in p.parents for p in pages)  # below the root conftest.py


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=;~ ]", requirement, maxsplit=1)[0].lower()


class TestInstallAdvice:
    def test_getting_started_names_every_core_dependency(self):
        """The Install section lists every dependency pyproject.toml declares."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
        install = page.split("## Install", 1)[1].split("\n## ", 1)[0].lower()
        missing = [r for r in project["dependencies"] if _name(r) not in install]
        assert not missing

    def test_the_testing_extra_installs_what_the_testing_page_imports(self):
        """docs/testing.md names `cxcore[testing]`, which holds every library its examples import."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        extra = {_name(r) for r in project["optional-dependencies"]["testing"]}
        page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
        assert "cxcore[testing]" in page
        # cxcore_channels ships in cxcore's own wheel.
        ours = {"cxcore", "cxcore_channels", "asyncio"}
        imported = set(re.findall(r">>> (?:from|import) (\w+)", page)) - ours
        imported -= set(sys.stdlib_module_names)
        assert imported
        assert imported <= extra
        assert {"pytest", "hypothesis"} <= extra
        if ">>> from cxcore.testing.twilio import" in page:  # it needs two extras more
            assert "cxcore[testing,server,sms]" in page
