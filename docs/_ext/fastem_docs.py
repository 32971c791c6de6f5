"""Sphinx helpers of fastem's documentation (``docs/conf.py`` loads this as an extension).

- ``quick_argv``: sphinx-gallery's ``reset_argv``: the gallery runs every example as
  ``python examples/NAME.py --quick`` (each example's small, fast mode).
- ``ExampleOrder``: sphinx-gallery's ``within_subsection_order``: the gallery's order.
- ``.. command-help:: module.function [arguments...]``: the text a command-line entry
  point prints for ``arguments --help`` (``fastem.cli.main fit`` is ``fastem fit --help``),
  taken from the installed code when the page is built.
- The demo: at the start of a build, ``fastem demo --quick`` runs in ``docs/_generated/``;
  ``getting_started.rst`` includes what it printed and the picture it drew. Builders
  other than html reuse an earlier run's files when there are some.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

EXAMPLES = ("quickstart.py", "model_selection.py", "streaming_partial_fit.py", "bounded_memory.py",
            "out_of_core.py", "dask_cluster.py", "seed_walkthrough.py")
HELP_COLUMNS = "72"  # the width argparse wraps help text to (the pages show about 70 columns of code)


def quick_argv(gallery_conf, script_vars) -> list[str]:
    """Command-line arguments of every example in the gallery: its quick mode."""
    return ["--quick"]


class ExampleOrder:
    """The gallery's order: the examples of ``EXAMPLES`` first, in that order."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename) -> tuple[int, str]:
        name = Path(filename).name
        return (EXAMPLES.index(name) if name in EXAMPLES else len(EXAMPLES), name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


@contextlib.contextmanager
def _columns(width: str):
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


class CommandHelp(SphinxDirective):
    """``.. command-help:: fastem.cli.main fit``: a literal block of ``fastem fit --help``."""

    required_arguments = 1
    optional_arguments = 8

    def run(self):
        target, *arguments = self.arguments
        module, _, name = target.rpartition(".")
        try:
            entry_point = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise self.error(f"command-help: cannot import {target}: {exc}") from None
        source = inspect.getsourcefile(entry_point)
        if source:  # an incremental build reads the page again when the command's code changes
            self.env.note_dependency(source)
        text = io.StringIO()
        with _columns(HELP_COLUMNS), contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
            entry_point([*arguments, "--help"])
        if not text.getvalue().strip():
            raise self.error(f"command-help: {target} {' '.join(arguments)} --help printed nothing")
        block = nodes.literal_block(text.getvalue(), text.getvalue())
        block["language"] = "text"
        return [block]


def generate_demo(app) -> None:
    """Run ``fastem demo --quick`` in docs/_generated: demo.txt (its output) and fastem-demo.png."""
    folder = Path(app.srcdir) / "_generated"
    output, picture = folder / "demo.txt", folder / "fastem-demo.png"
    if app.builder.name != "html" and output.exists() and picture.exists():
        return
    folder.mkdir(exist_ok=True)
    from fastem.cli import main

    text, here = io.StringIO(), os.getcwd()
    os.chdir(folder)  # so that the output names the picture as a user's run would
    try:
        with contextlib.redirect_stdout(text):
            status = main(["demo", "--quick"])
    finally:
        os.chdir(here)
    if status != 0 or not picture.exists():
        raise ExtensionError(f"fastem demo --quick failed (status {status}):\n{text.getvalue()}")
    output.write_text(f"$ fastem demo --quick\n{text.getvalue()}")


def setup(app):
    app.add_directive("command-help", CommandHelp)
    app.connect("builder-inited", generate_demo)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
