"""Reading a generated page back in tests: elements by id, class and data attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str) -> list[Element]:
        found = [c for c in self.children if c.tag == tag]
        for c in self.children:
            found.extend(c.find_all(tag))
        return found


class Page(HTMLParser):
    """Every element of an HTML page with its attributes and text (SVG included)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._stack: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(el)
        if self._stack:
            self._stack[-1].children.append(el)
        if tag not in _VOID:
            self._stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(el)
        if self._stack:
            self._stack[-1].children.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for el in self._stack:
            el.text += data

    def by_id(self, id_: str) -> Element:
        matches = [e for e in self.elements if e.attrs.get("id") == id_]
        assert len(matches) == 1, f"{len(matches)} elements with id {id_!r}"
        return matches[0]

    def with_class(self, cls: str) -> list[Element]:
        return [e for e in self.elements if cls in e.classes]

    def with_attr(self, name: str, value: str | None = None) -> list[Element]:
        return [
            e
            for e in self.elements
            if name in e.attrs and (value is None or e.attrs[name] == value)
        ]

    def metric(self, name: str) -> list[Element]:
        """Every element showing ``name`` (a dotted path into results.json)."""
        found = self.with_attr("data-metric", name)
        assert found, f"no element shows metric {name!r}"
        return found


def text(el: Element) -> str:
    return " ".join(el.text.split())
