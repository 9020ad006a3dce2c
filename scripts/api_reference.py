"""The API reference: which names are public, that each has a docstring, and the pages.

The public API is ``lume_widget.__all__`` plus the ``__all__`` of every subpackage of
``lume_widget`` that declares one; nothing is listed by hand, so a name added to an
``__all__`` appears in the reference by itself. Each object is documented once, on the page
of the public module it lives closest to (``lume_widget.client.Reply`` and
``lume_widget.Reply`` are one object); the other pages that export it link there.

Used as an MkDocs hook (``hooks:`` in mkdocs.yml): the build writes ``index.md`` from the
README and one ``reference/<module>.md`` page per public module, and fails with the list of
public names, methods and properties that have no docstring. ``tests/test_api_reference.py``
runs the same check in the suite, and ``python scripts/api_reference.py`` prints it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT_PACKAGE = "lume_widget"
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PublicName:
    """One name of one public module's ``__all__``."""

    module: str
    name: str
    obj: Any

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


def public_modules() -> list[str]:
    """``lume_widget`` and each of its subpackages that declares ``__all__``."""
    root = importlib.import_module(ROOT_PACKAGE)
    names = [ROOT_PACKAGE]
    for info in pkgutil.iter_modules(root.__path__):
        if info.ispkg and not info.name.startswith("_"):
            module = importlib.import_module(f"{ROOT_PACKAGE}.{info.name}")
            if hasattr(module, "__all__"):
                names.append(module.__name__)
    return names


def public_names() -> list[PublicName]:
    """Every name of every public module's ``__all__``, in module order."""
    found = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            found.append(PublicName(module_name, name, getattr(module, name)))
    return found


def homes(names: list[PublicName]) -> dict[int, str]:
    """For each object (by id), the public module whose page documents it.

    The public module that is the longest prefix of the object's ``__module__``, so
    ``Reply`` (from ``lume_widget.core.events``) is documented once, under the top-level
    package, and ``ChatWidget`` under ``lume_widget.widget``.
    """
    result: dict[int, str] = {}
    for entry in names:
        defined_in = getattr(entry.obj, "__module__", None) or entry.module
        candidates = [n.module for n in names if n.obj is entry.obj]
        matching = [m for m in candidates if defined_in == m or defined_in.startswith(m + ".")]
        best = max(matching, key=len) if matching else candidates[0]
        result[id(entry.obj)] = best
    return result


def _own_doc(obj: Any) -> str | None:
    """The docstring written for ``obj`` itself (not inherited, not generated)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return None  # the signature a dataclass or NamedTuple writes for itself
    return doc


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods and properties ``cls`` defines itself, in lume_widget's code."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        target = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if isinstance(target, property) or inspect.isfunction(target):
            function = target.fget if isinstance(target, property) else target
            if getattr(function, "__module__", "").startswith(ROOT_PACKAGE):
                yield name, target


def missing_docstrings(names: list[PublicName] | None = None) -> list[str]:
    """Public names, and public methods and properties of public classes, with no docstring."""
    missing: list[str] = []
    seen: set[int] = set()
    for entry in public_names() if names is None else names:
        obj = entry.obj
        if id(obj) in seen or not (inspect.isclass(obj) or callable(obj)):
            continue  # constants such as __version__ are described where they are listed
        seen.add(id(obj))
        if _own_doc(obj) is None:
            missing.append(entry.path)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for name, member in _members(obj):
                if not (member.__doc__ or "").strip():
                    missing.append(f"{entry.path}.{name}")
    return missing


# -- the pages ----------------------------------------------------------------------------


def _summary(obj: Any) -> str:
    doc = _own_doc(obj) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return re.sub(r":(?:class|func|meth|mod|attr|exc):`([^`]+)`", r"``\1``", first).replace(
        "|", "\\|"
    )


def _page_name(module: str) -> str:
    return f"reference/{module}.md"


def reference_pages() -> dict[str, str]:
    """Markdown of the reference: an index page and one page per public module."""
    names = public_names()
    home = homes(names)
    pages: dict[str, str] = {}
    index = [
        "# API reference",
        "",
        "Everything importable from these modules' `__all__` is public and typed. "
        "Each object is described once, on the page of the module it belongs to; "
        "the tables link there.",
        "",
    ]
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        entries = [n for n in names if n.module == module_name]
        doc = inspect.getdoc(module) or ""
        lines = [f"# `{module_name}`", "", doc, "", "| name | what it is |", "|---|---|"]
        documented_here = []
        for entry in entries:
            where = home[id(entry.obj)]
            if where == module_name:
                anchor = f"#{entry.path}"
                documented_here.append(entry)
            else:
                anchor = f"{module_name_to_link(where, module_name)}#{where}.{entry.name}"
            if inspect.isclass(entry.obj) or callable(entry.obj):
                lines.append(f"| [`{entry.name}`]({anchor}) | {_summary(entry.obj)} |")
            else:  # a constant such as __version__
                lines.append(f"| `{entry.name}` | `{entry.obj!r}` in this build |")
        lines.append("")
        for entry in documented_here:
            if inspect.isclass(entry.obj) or callable(entry.obj):
                lines += [f"::: {entry.path}", ""]
        pages[_page_name(module_name)] = "\n".join(lines)
        index.append(f"- [`{module_name}`]({module_name}.md): {len(entries)} names")
    pages["reference/index.md"] = "\n".join(index) + "\n"
    return pages


def module_name_to_link(target: str, current: str) -> str:
    """A relative link from the page of ``current`` to the page of ``target``."""
    return "" if target == current else f"{target}.md"


def readme_as_index() -> str:
    """The README as the site's home page, its ``docs/`` links pointing inside the site."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/([^)]+)\)", r"](\1)", text)


# -- the MkDocs hook ----------------------------------------------------------------------


def on_config(config: Any) -> Any:
    """Give the "API reference" section of the navigation one entry per public module."""
    pages = ["reference/index.md"] + [_page_name(m) for m in public_modules()]
    for position, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and "API reference" in item:
            config["nav"][position] = {"API reference": pages}
    return config


def on_files(files: Any, config: Any) -> Any:
    """Fail on undocumented public names; add the home page and the reference pages."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    missing = missing_docstrings()
    if missing:
        raise PluginError(
            f"{len(missing)} public name(s) have no docstring; write one for each "
            "(the API reference is built from them):\n  " + "\n  ".join(missing)
        )
    generated = {"index.md": readme_as_index(), **reference_pages()}
    for path, content in generated.items():
        if files.get_file_from_path(path) is not None:
            files.remove(files.get_file_from_path(path))
        files.append(File.generated(config, path, content=content))
    return files


def on_page_content(html: str, **_: Any) -> str:
    """Docstrings name objects with Sphinx roles (``:class:`X```); show them as code."""
    return re.sub(r":(?:class|func|meth|mod|attr|exc|data):(<code>)", r"\1", html)


if __name__ == "__main__":
    undocumented = missing_docstrings()
    for path in undocumented:
        print(f"no docstring: {path}")
    print(
        f"{len(public_names())} public names in {len(public_modules())} modules, "
        f"{len(undocumented)} without a docstring"
    )
    sys.exit(1 if undocumented else 0)
