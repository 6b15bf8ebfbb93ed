"""Sphinx configuration for the cxcore documentation.

Build with warnings as errors::

    sphinx-build -n -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

# -- project ------------------------------------------------------------------

project = "cxcore"
author = "The cxcore developers"
copyright = "the cxcore developers"
release = _version("cxcore")
version = ".".join(release.split(".")[:2])

# -- general ------------------------------------------------------------------

extensions = [
    # MyST for the pages, and notebooks rendered with the outputs stored in them
    # (myst-nb includes myst-parser). They are never executed here: CI runs them
    # with nbclient (tests/test_notebooks.py).
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"
nitpicky = True

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc and napoleon -------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_preserve_defaults = True  # show defaults as written, not as enum reprs
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autoclass_content = "class"

napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections become :ivar: fields, so they never clash with the
# attribute entries autodoc writes for the same names.
napoleon_use_ivar = True

# -- intersphinx ----------------------------------------------------------------

# No mappings: the docs must build without network access, and a mapping would
# fetch its inventory at build time. To link the standard library, add
# "python": ("https://docs.python.org/3", None) where the build can reach the
# network, and drop the standard-library names from nitpick_ignore below.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

# Names from outside cxcore that appear in signatures and type hints. No
# inventories are fetched (see above), so they cannot be links; listing them
# here lets the nitpicky build accept them. Nothing of cxcore's own is ignored.
nitpick_ignore = [
    ("py:class", "datetime"),  # datetime.datetime, as some hints spell it
    ("py:class", "datetime.datetime"),
    ("py:class", "pathlib.Path"),
    ("py:class", "Path"),  # pathlib.Path, as some hints spell it
    ("py:class", "zoneinfo.ZoneInfo"),
    ("py:class", "timedelta"),  # datetime.timedelta, as some hints spell it
    ("py:class", "datetime.timedelta"),
    ("py:class", "random.Random"),
    ("py:class", "decimal.Decimal"),  # prices and costs
    ("py:class", "Decimal"),  # decimal.Decimal, as some hints spell it
    ("py:class", "os.PathLike"),
    ("py:class", "date"),  # datetime.date, as some hints spell it
    ("py:class", "datetime.date"),
    ("py:func", "asyncio.sleep"),
    ("py:func", "hmac.compare_digest"),
    ("py:class", "asyncio.Event"),
    ("py:class", "asyncio.locks.Event"),  # asyncio.Event, as autodoc spells it
    ("py:class", "Sleep"),  # cxcore.dispatch's alias for an async sleep function
    ("py:class", "Style"),  # cxcore_channels.sms's alias: "reply" or "link"
    ("py:class", "AsyncHttpClient"),  # the twilio SDK's HTTP client base class
    ("py:class", "twilio.http.response.Response"),
    ("py:exc", "aiohttp.ClientError"),
    ("py:class", "importlib.metadata.EntryPoint"),
    ("py:class", "contextlib.AbstractAsyncContextManager"),
    ("py:class", "hypothesis.strategies.SearchStrategy"),
    ("py:class", "starlette.applications.Starlette"),  # what build_app returns
    ("py:class", "Starlette"),  # the same, named under TYPE_CHECKING
    ("py:class", "starlette.requests.Request"),  # the Twilio emulator's endpoints
    ("py:class", "starlette.responses.Response"),
    ("py:class", "matplotlib.axes.Axes"),  # what every plot returns
    # Documented in api.md without an index entry: indexed, it would make every
    # "Column" in ResponseFrame's hints (cxcore.scoring.Column) ambiguous.
    ("py:class", "cxcore.display.Column"),
]
nitpick_ignore_regex = [
    # numpy in type hints: NDArray, np.int32, numpy.float64...
    ("py:class", r"(numpy\.typing\.)?(NDArray|ArrayLike)|np\.\w+|numpy\.\w+"),
    # collections.abc in type hints: Mapping, Sequence, Iterator, Callable...
    ("py:class", r"collections\.abc\.\w+"),
    # Type variables: FrozenDict's K and V, loads' T.
    ("py:class", r"cxcore\.[\w.]+\.[A-Z]"),
]

# -- HTML -----------------------------------------------------------------------

html_theme = "furo"
html_title = f"cxcore {release}"

# -- docstrings -------------------------------------------------------------------


# Napoleon reads the first line of an attribute's docstring as "type: text" when
# it has a colon, and moves the part before the colon to a ":type:" field.
# cxcore never writes types there (they come from annotations): docstrings such
# as "Closing the loop: telling the customer..." on enum members are prose.
# This runs after Napoleon and puts the sentence back together.
def _attribute_docstrings_are_prose(  # noqa: PLR0917 - the signature of Sphinx's event
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    del app, name, obj, options
    if what not in {"attribute", "data"}:
        return
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(":type: "):
            lead = lines.pop(i)[len(":type: ") :]
            if i > 0 and not lines[i - 1].strip():
                lines.pop(i - 1)
            first = next(j for j, line in enumerate(lines) if line.strip())
            lines[first] = f"{lead}: {lines[first]}"
            return


# Docstrings name cxcore's public names briefly ("Raises: ConflictError"), as
# users import them: from the top of the package. Where Sphinx finds no such
# target in the module at hand, try the public namespaces the name lives in.
_PUBLIC = (
    "cxcore",
    "cxcore.scoring",
    "cxcore.distribution",
    "cxcore.dispatch",
    "cxcore.stores",
    "cxcore.deployment",
)


def _public_name(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:  # noqa: ANN401 - Sphinx's nodes
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].removeprefix("~")
    domain = env.get_domain("py")
    parts = target.split(".")
    # A private path (cxcore.model.survey.Survey) is tried by its tail (Survey...).
    tails = [".".join(parts[i:]) for i in range(len(parts))] if parts[0] == "cxcore" else [target]
    for prefix, tail in ((p, t) for t in tails for p in _PUBLIC):
        candidate = f"{prefix}.{tail}"
        if candidate in domain.objects:
            node["reftarget"] = candidate
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode
            )
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    """Connect this configuration's event handlers."""
    # After Napoleon (priority 500) has turned the docstring into reST.
    app.connect("autodoc-process-docstring", _attribute_docstrings_are_prose, priority=600)
    app.connect("missing-reference", _public_name)
    return {"parallel_read_safe": True}
