"""The API reference (scripts/api_reference.py, built by `mkdocs build --strict`).

Every name in a public module's ``__all__`` is documented on exactly one page, and a public
name, method or property without a docstring fails the suite (and the docs build) by name.
"""

from __future__ import annotations

import re

from scripts import api_reference


def test_api_reference_every_public_name_has_a_docstring() -> None:
    missing = api_reference.missing_docstrings()
    assert missing == [], "write a docstring for: " + ", ".join(missing)


def test_api_reference_covers_every_public_module_and_name() -> None:
    modules = api_reference.public_modules()
    assert {"lume_widget", "lume_widget.client", "lume_widget.widget"} <= set(modules)
    pages = api_reference.reference_pages()
    directives = re.findall(r"^::: (\S+)$", "\n".join(pages.values()), flags=re.MULTILINE)
    documented = {d.rsplit(".", 1)[1] for d in directives}
    for entry in api_reference.public_names():
        if callable(entry.obj):
            assert entry.name in documented, entry.path
            assert f"[`{entry.name}`]" in pages[f"reference/{entry.module}.md"], entry.path
    assert len(directives) == len(set(directives)), "an object is documented twice"


def test_api_reference_one_object_is_documented_once_where_it_lives() -> None:
    pages = api_reference.reference_pages()
    assert "::: lume_widget.widget.ChatWidget" in pages["reference/lume_widget.widget.md"]
    assert "ChatWidget" not in re.findall(r"^::: \S+", pages["reference/lume_widget.md"])
    # Reply is exported by lume_widget and lume_widget.client; the client's table links up.
    assert "(lume_widget.md#lume_widget.Reply)" in pages["reference/lume_widget.client.md"]


def test_api_reference_flags_a_class_or_member_without_a_docstring() -> None:
    class Undocumented:
        def method(self) -> None:
            pass

        @property
        def value(self) -> int:
            return 1

    class Documented:
        """Has one."""

        def method(self) -> None:
            """So does this."""

    for cls in (Undocumented, Documented):
        cls.__module__ = "lume_widget.example"
        cls.method.__module__ = "lume_widget.example"
    Undocumented.value.fget.__module__ = "lume_widget.example"  # type: ignore[attr-defined]
    names = [
        api_reference.PublicName("lume_widget.example", "Undocumented", Undocumented),
        api_reference.PublicName("lume_widget.example", "Documented", Documented),
    ]
    assert api_reference.missing_docstrings(names) == [
        "lume_widget.example.Undocumented",
        "lume_widget.example.Undocumented.method",
        "lume_widget.example.Undocumented.value",
    ]
