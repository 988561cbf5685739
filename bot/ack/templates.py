"""Acknowledgement templates: found through a fallback chain and rendered in a Jinja2 sandbox.

A template set is a folder of `<family>.[<department>.]<language>.txt.j2` files, each optionally
with an `.html.j2` sibling of the same stem for the HTML alternative part. A text template starts
with a `Subject:` line and a blank line; the rest is the body. The HTML one is a body fragment.

Everything a template gets is data, and one line of it: customer text with Jinja syntax stays as
written (it is rendered, never compiled), and no value can carry a line break into the subject.
"""

from __future__ import annotations

import importlib.resources
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ConfigError

TEXT, HTML = "txt", "html"
SUBJECT = "Subject:"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")  # ends the head: the Subject line, folded if a template spreads it
# Control characters (C0 without tab/LF/CR, which split() already removes, DEL, C1) never belong in a one-line value.
_CONTROLS = dict.fromkeys([*range(0x20), 0x7F, *range(0x80, 0xA0)])


def shipped_templates_dir() -> Path:
    """The templates that ship with deskbot."""
    return Path(str(importlib.resources.files("bot.shipped.templates")))


class _Sandbox(SandboxedEnvironment):
    """The sandbox, plus limits on `*` and `**`: a template must not be able to build a gigabyte string."""

    intercepted_binops = frozenset({"*", "**"})
    MAX_POWER = 100
    MAX_REPEAT = 10_000

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        """Refuse huge powers and repetitions before computing them."""
        if operator_ == "**" and isinstance(right, (int, float)) and abs(right) > self.MAX_POWER:
            raise SecurityError(f"the exponent {right} is too large for a template")
        if operator_ == "*":
            sized = [v for v in (left, right) if isinstance(v, (str, list, tuple))]
            counts = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
            if sized and counts and len(sized[0]) * counts[0] > self.MAX_REPEAT:
                raise SecurityError("a repetition that long is too large for a template")
        return super().call_binop(context, operator_, left, right)


@dataclass(frozen=True)
class TemplateChoice:
    """The templates that serve one department and language, and the language they are written in."""

    language: str
    text: jinja2.Template
    html: jinja2.Template | None


@dataclass(frozen=True)
class Rendered:
    """One rendered acknowledgement: the subject line, the text body and the HTML fragment (if any)."""

    subject: str
    text: str
    html: str | None
    language: str


class AckRenderer:
    """Finds and renders acknowledgement templates in one folder.

    StrictUndefined makes a misspelt variable an error instead of an empty hole in a customer mail;
    the sandbox keeps a template from reaching Python internals; HTML templates autoescape.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or shipped_templates_dir()
        self.env = _Sandbox(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(f".{HTML}.j2")),
            keep_trailing_newline=True,
        )

    def chain(self, family: str, department: str, language: str, fallback: str) -> list[str]:
        """Template stems to try, best first: department and language, language, then the fallback language."""
        return [stem for lang in dict.fromkeys((language, fallback))
                for stem in (f"{family}.{department}.{lang}", f"{family}.{lang}")]

    def find_stem(self, family: str, department: str, language: str, *, fallback: str) -> str | None:
        """The first stem of the chain that has a text template (the text part is never optional)."""
        return next((stem for stem in self.chain(family, department, language, fallback)
                     if self.has(f"{stem}.{TEXT}.j2")), None)

    def choose(self, family: str, department: str, language: str, *, fallback: str) -> TemplateChoice:
        """The templates of the first stem of the chain, with the HTML sibling if there is one."""
        stem = self.find_stem(family, department, language, fallback=fallback)
        if stem is None:
            wanted = " or ".join(f"{s}.{TEXT}.j2" for s in self.chain(family, department, language, fallback))
            raise ConfigError(f"no template {wanted} in {self.directory} (every language listed under "
                              "[acknowledgement] languages needs one)")
        html = f"{stem}.{HTML}.j2"
        return TemplateChoice(language=stem.rpartition(".")[2], text=self.load(f"{stem}.{TEXT}.j2"),
                              html=self.load(html) if self.has(html) else None)

    def has(self, name: str) -> bool:
        """Whether the folder holds this template."""
        return (self.directory / name).is_file()

    def load(self, name: str) -> jinja2.Template:
        """One compiled template; a syntax error raises ConfigError with its file and line."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise ConfigError(f"no template {name} in {self.directory}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template error: {exc.message}", path=str(exc.filename or self.directory / name),
                              line=exc.lineno) from None

    def render(self, choice: TemplateChoice, context: Mapping[str, object]) -> Rendered:
        """Subject, text and HTML of one acknowledgement; a broken template raises ConfigError with file and line."""
        values = data_values(context)
        subject, text = render_text(choice.text, values)
        html = render_html(choice.html, values) if choice.html is not None else None
        return Rendered(subject=subject, text=text, html=html, language=choice.language)


def data_values(context: Mapping[str, object]) -> dict[str, object]:
    """Template variables as data: every text value on one line, so none can add a header or split the subject."""
    return {key: one_line(value) if isinstance(value, str) else value for key, value in context.items()}


def render_text(template: jinja2.Template, values: Mapping[str, object]) -> tuple[str, str]:
    """The subject (the head up to the first blank line, folded to one line) and the body of a text template."""
    text = render_template(template, values)
    blank = _BLANK_LINE.search(text)
    head, body = (text[:blank.start()], text[blank.end():]) if blank else (text, "")
    if not head.startswith(SUBJECT):
        raise ConfigError(f"a text template must start with a '{SUBJECT}' line and a blank line",
                          path=str(template.filename), line=1)
    return one_line(head[len(SUBJECT):]), body.strip() + "\n"


def render_html(template: jinja2.Template, values: Mapping[str, object]) -> str:
    """The HTML fragment of an HTML template."""
    return render_template(template, values).strip() + "\n"


def render_template(template: jinja2.Template, values: Mapping[str, object]) -> str:
    """Render one template; whatever goes wrong in it becomes a ConfigError naming its file and line."""
    try:
        return template.render(values)
    except Exception as exc:  # noqa: BLE001 - a template is code an admin wrote: anything it raises is its error
        path, line = error_location(exc, str(template.filename))
        message = exc.message if isinstance(exc, jinja2.TemplateSyntaxError) else str(exc)
        if isinstance(exc, jinja2.TemplateNotFound):
            message = f"no template {exc.name} in the templates folder (included or extended)"
        raise ConfigError(f"template error: {message or type(exc).__name__}", path=path, line=line) from None


def error_location(exc: BaseException, default: str) -> tuple[str, int | None]:
    """Where in which template an error happened: Jinja2 rewrites its traceback to template lines."""
    if isinstance(exc, jinja2.TemplateSyntaxError):  # e.g. in an included template
        return str(exc.filename or default), exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if frames:
        return frames[-1].filename, frames[-1].lineno
    return default, getattr(exc, "lineno", None)


@dataclass(frozen=True)
class TemplateName:
    """What a template file name says: `ack.billing.de.html.j2` serves department billing in German, as HTML."""

    family: str
    department: str  # "" for a template of the whole language
    language: str
    kind: str  # TEXT or HTML

    @property
    def stem(self) -> str:
        """The name without kind and extension: text and HTML templates of one stem belong together."""
        return ".".join(part for part in (self.family, self.department, self.language) if part)


_NAME = re.compile(r"^(?P<family>[a-z]+)\.(?:(?P<department>[A-Za-z0-9_-]+)\.)?(?P<language>[a-z]{2,3})"
                   rf"\.(?P<kind>{TEXT}|{HTML})\.j2$")


def parse_name(name: str) -> TemplateName | None:
    """The parts of an acknowledgement template's file name, or None for another file (e.g. one to include)."""
    match = _NAME.match(name)
    if match is None:
        return None
    return TemplateName(match["family"], match["department"] or "", match["language"], match["kind"])


def one_line(value: str) -> str:
    """A value as one line: line breaks and runs of white space become one space, control characters go."""
    return " ".join(value.split()).translate(_CONTROLS)


__all__ = ["AckRenderer", "Rendered", "TemplateChoice", "data_values", "one_line", "parse_name", "render_html",
           "render_text", "shipped_templates_dir"]
