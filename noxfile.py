"""Every check cxcore runs, locally and in CI.

``python3 -m nox`` runs the default sessions: tests, lint, typing, docs, build.
``python3 -m nox -s demo`` runs the example. Supported Pythons come from
pyproject.toml, the one source of truth.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nox
import nox.command

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing", "docs", "build"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
ALL_PYTHONS = [
    m.group(1)
    for c in PYPROJECT["project"]["classifiers"]
    if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
]
# Every definition and rules file of the example: cxcore validate reads both kinds.
EXAMPLES = sorted(str(p) for p in (ROOT / "examples" / "retail").rglob("*.toml"))


def _install(session: nox.Session, *groups: str, extras: str = "all") -> None:
    session.install("--upgrade", "pip")
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    session.install("-e", f".[{extras}]", *requirements)


def _amp_validator(session: nox.Session) -> dict[str, str]:
    """Fetch the official AMP validator (cached, checked by sha256) if npm is here."""
    if shutil.which("npm") is None:
        session.warn("npm is not installed: the AMP validation tests will skip (or fail in CI)")
        return {}
    out = session.run("bash", str(ROOT / ".ci" / "fetch-amp-validator"), external=True, silent=True)
    return {"CXCORE_AMP_VALIDATOR": str(out).strip().splitlines()[-1]}


def _postgres(session: nox.Session) -> dict[str, str]:
    """Start the throwaway PostgreSQL server the store tests use (installing it as root)."""
    if os.environ.get("CXCORE_TEST_POSTGRES"):
        return {}
    try:
        out = session.run(
            "bash", str(ROOT / ".ci" / "postgres"), "start", external=True, silent=True
        )
    except nox.command.CommandFailed:
        session.warn("PostgreSQL could not be started: its tests will skip (or fail in CI)")
        return {}
    return {"CXCORE_TEST_POSTGRES": str(out).strip().splitlines()[-1]}


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, the modules' doctests and the docs' examples."""
    _install(session, "test")
    env = {"CI": os.environ.get("CI", ""), **_amp_validator(session)}
    postgres = _postgres(session)
    try:
        session.run("pytest", *session.posargs, env={**env, **postgres})
    finally:
        if postgres:
            session.run("bash", str(ROOT / ".ci" / "postgres"), "stop", external=True, silent=True)


@nox.session(python=ALL_PYTHONS)
def tests_all(session: nox.Session) -> None:
    """Run the test suite on every supported Python that is installed."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict over the library, the tests and this file."""
    _install(session, "typing", "test")
    session.run("mypy", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation, nitpicky, with warnings as errors."""
    _install(session, "docs")
    build = ROOT / "docs" / "_build"
    shutil.rmtree(build, ignore_errors=True)
    session.run(
        "sphinx-build", "-n", "-W", "--keep-going", "-b", "html", "docs", str(build / "html")
    )


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and wheel, check them, and use the wheel in a clean environment."""
    session.install("build", "twine", "check-wheel-contents")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("twine", "check", "--strict", *map(str, dist.glob("*")))
    session.run("check-wheel-contents", *map(str, dist.glob("*.whl")))
    (wheel,) = dist.glob("*.whl")
    session.install("--force-reinstall", str(wheel))
    session.run(
        "python",
        "-c",
        "import cxcore, cxcore_channels, cxcore.testing;"
        "from importlib.resources import files;"
        "assert files('cxcore').joinpath('py.typed').is_file();"
        "assert files('cxcore_channels').joinpath('py.typed').is_file();"
        "print('wheel ok:', cxcore.__version__)",
    )
    # The in-app widget's script, as served: its size against the 15 KB gzipped budget.
    session.run(
        "python",
        "-c",
        "import gzip; from importlib.resources import files;"
        "raw = files('cxcore.collector').joinpath('assets/cx-widget.js').read_bytes();"
        "packed = len(gzip.compress(raw, 9, mtime=0));"
        "print(f'widget script: {len(raw)} bytes, {packed} gzipped (budget 15360)');"
        "assert packed <= 15360, 'the widget script is over its 15 KB gzipped budget'",
    )
    session.run("cxcore", "validate", *EXAMPLES)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: two weeks at an Indian retailer, from store visits to scores by store.

    Emails go through a real SMTP server on loopback (aiosmtpd); text messages through the
    SMS channel (the twilio SDK, over HTTP) to a Twilio emulator on loopback
    (cxcore.testing.twilio, which needs the server and sms extras). Customers answer over
    HTTP, through the collector served on a loopback port, and by SMS reply, which the
    emulator posts to the collector as Twilio's signed webhook.
    """
    session.install(".[server,email,sms]", "httpx", "aiosmtpd")
    session.run("cxcore", "validate", *EXAMPLES)
    session.run("cxcore", "show", str(ROOT / "examples" / "retail" / "journey.toml"))
    session.run("cxcore", "channels")
    session.run("python", str(ROOT / "examples" / "retail" / "demo.py"), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks; each prints one JSON line per case.

    Installs every peer they compare against (the ``bench`` dependency group).
    """
    _install(session, "bench")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
