"""Escaping by default: HTML fragments are :class:`HTML`, everything else is text.

Every value that reaches a page goes through :func:`esc` unless it is already an
:class:`HTML` fragment built here, so a job name, id or error holding ``<script>`` renders as
text. :func:`h` formats a fragment with escaped arguments (Django's ``format_html``);
:func:`page_template` fills a template shipped in ``templates/`` the same way.

Threads and state: the template cache is filled once per name (a race fills it twice with
the same text, which is harmless).
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from importlib import resources
from typing import Any

__all__ = ["HTML", "esc", "h", "join", "page_template"]


class HTML(str):
    """Text that is already safe HTML (built by :func:`h`, :func:`join` or a template)."""

    __slots__ = ()

    def __html__(self) -> str:  # Jinja/MarkupSafe and Django honour this marker too
        return str(self)


def esc(value: object) -> HTML:
    """``value`` as HTML: :class:`HTML` (or anything with ``__html__``) as is, the rest
    escaped (``&<>"'``); None is the empty string."""
    if value is None:
        return HTML("")
    if isinstance(value, HTML):
        return value
    marker = getattr(value, "__html__", None)
    if callable(marker) and not isinstance(value, str):
        return HTML(marker())
    return HTML(html.escape(str(value), quote=True))


def h(fragment: str, *args: object, **kwargs: object) -> HTML:
    """``fragment.format(...)`` with every argument escaped (:func:`esc`).

    ``fragment`` itself is trusted: it is a literal in this package, never user data.
    """
    return HTML(
        fragment.format(*(esc(a) for a in args), **{k: esc(v) for k, v in kwargs.items()})
    )


def join(parts: Iterable[object], sep: str = "") -> HTML:
    """The parts, each escaped unless HTML, joined by the trusted ``sep``."""
    return HTML(sep.join(esc(p) for p in parts))


_templates: dict[str, string.Template] = {}


def page_template(template_name: str, /, **values: Any) -> HTML:
    """Fill ``templates/<template_name>`` (``$name`` placeholders, ``string.Template``); every value
    is escaped unless it is :class:`HTML`. A placeholder without a value is an error
    (``KeyError``), so a template and its caller cannot drift apart silently."""
    template = _templates.get(template_name)
    if template is None:
        where = resources.files(__package__).joinpath("templates").joinpath(template_name)
        template = _templates[template_name] = string.Template(where.read_text("utf-8"))
    return HTML(template.substitute({k: esc(v) for k, v in values.items()}))
