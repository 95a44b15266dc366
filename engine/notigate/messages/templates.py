"""Localized message templates: a sandboxed Jinja2 environment over layered folders, with Babel.

Folders are searched file by file: the deployment's override folder, then the shipped
``templates/``, then folders that plugins ship. Every file is parsed at load and every
template test-rendered by ``check()``, so a broken template stops the start, not a delivery.

Concurrency: one environment per locale serves every render. It holds that locale's
catalog: constant words are translated once at compile time, the rest (plurals, labels)
through the catalog installed on it. The formatter of the render in progress (locale,
time zone, the moment ``timeago`` counts from) lives in a ``ContextVar`` set for the
duration of ``render``; each thread and each asyncio task sees its own value, and
rendering is synchronous, so renders never see each other's settings. The formatting
filters are ``pass_context`` only so that Jinja never folds them into constants at
compile time; the label filters read the catalog from ``context.environment``.
"""

from __future__ import annotations

import gettext
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import jinja2
import msgspec
from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    nodes,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from notigate.clock import utcnow
from notigate.errors import TemplateError
from notigate.events import Digest, Notification
from notigate.messages import labels
from notigate.messages.catalogs import DOMAIN, merged_catalog
from notigate.messages.formatting import (
    DEFAULT_TIMEZONE,
    Formatter,
    locale_problem,
    timezone_problem,
)
from notigate.messages.samples import template_contexts

__all__ = ["RenderedText", "Templates", "default_dir"]

Purpose = Literal["event", "digest"]
PURPOSES: tuple[Purpose, ...] = ("event", "digest")
_SUFFIXES = (".txt", ".html")
_FILTERS = ("money", "datetime", "date", "time", "timeago")


class RenderedText(msgspec.Struct, frozen=True):
    """One message's words: a one-line subject, the text and, where the channel has it, HTML."""

    subject: str
    text: str
    html: str | None


@dataclass(frozen=True, slots=True)
class _Render:
    """What the formatting filters of the render in progress use."""

    formatter: Formatter
    memo: dict[tuple[Any, ...], str] = field(default_factory=dict)
    """Formatted values of this render: subject, text and HTML each show the amount and times,
    and Babel formats each of them once."""


_DATA: frozenset[type] = frozenset({Notification, Digest})
_LABELS: dict[str, dict[str, str]] = {
    "code_label": labels.CODES,
    "severity_label": labels.SEVERITIES,
    "field_label": labels.FIELDS,
}
_FIELD_VALUES: dict[str, dict[str, str]] = {"code": labels.CODES, "severity": labels.SEVERITIES}
"""The digest group fields whose values ``field_value`` names; other fields' values show as they are."""
_ENGLISH = _Render(Formatter.for_recipient("en", DEFAULT_TIMEZONE))
_current: ContextVar[_Render] = ContextVar("notigate_template_render", default=_ENGLISH)


def default_dir() -> Path:
    """The shipped templates: inside the installed wheel, else the checkout's top-level folder."""
    package = Path(__file__).resolve().parents[1]  # notigate/
    packaged = package / "_templates"
    return packaged if packaged.is_dir() else package.parents[1] / "templates"


def _is_partial(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("/"))


class Templates:
    """The loaded, checked templates; ``render`` is safe to call from any thread or task."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = tuple(folders)
        self._env = _environment(self.folders, gettext.NullTranslations())  # parses and checks; renders: _env_for
        self._names = frozenset(self._env.list_templates(filter_func=lambda n: n.endswith(_SUFFIXES)))
        self._envs: dict[str, SandboxedEnvironment] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, override_dir: Path | None = None, plugin_dirs: Sequence[Path] = ()) -> Templates:
        """Layer the folders and compile every template file; all problems raise one TemplateError."""
        folders = [folder for folder in (override_dir, default_dir(), *plugin_dirs) if folder is not None]
        missing = [f"{folder}: templates folder not found" for folder in folders if not folder.is_dir()]
        if missing:
            raise TemplateError(missing)
        templates = cls(folders)
        problems = [
            problem
            for folder in folders
            for path in sorted(folder.rglob("*"))
            if path.suffix in _SUFFIXES and path.is_file() and "locale" not in path.relative_to(folder).parts
            for problem in templates._compile(path, path.relative_to(folder).as_posix())
        ]
        if problems:
            raise TemplateError(problems)
        return templates

    def locales(self) -> list[str]:
        """English and every locale with a catalog in one of the folders."""
        found = {
            path.parent.parent.name
            for folder in self.folders
            for path in (folder / "locale").glob(f"*/LC_MESSAGES/{DOMAIN}.[mp]o")
        }
        return sorted(found | {"en"})

    def channels(self) -> list[str]:
        """The folders that hold templates (``default`` included), i.e. channels with words of their own."""
        return sorted({name.split("/")[0] for name in self._names if "/" in name and not _is_partial(name)})

    def check(self) -> None:
        """Render every channel's templates with sample data in every locale; problems raise one TemplateError."""
        problems: dict[str, None] = {}
        for locale in self.locales():
            for channel in self.channels():
                for purpose in PURPOSES:
                    if not any(
                        f"{channel}/{purpose}{suffix}" in self._names for suffix in (".subject.txt", ".txt", ".html")
                    ):
                        continue
                    for context in template_contexts(purpose):
                        try:
                            self.render(channel, purpose, context, locale=locale, timezone=DEFAULT_TIMEZONE)
                        except TemplateError as exc:
                            problems.update(dict.fromkeys(f"{p} (locale {locale})" for p in exc.problems))
        if problems:
            raise TemplateError(list(problems))

    def render(
        self, channel: str, purpose: Purpose, context: Mapping[str, Any], *, locale: str, timezone: str
    ) -> RenderedText:
        """The channel's subject, text and HTML for ``context``; ``default/`` fills in missing files.

        An unknown locale or time zone falls back to English or Asia/Jakarta (config
        validation reports them); a failing template raises TemplateError with file and line.
        """
        if locale_problem(locale):
            locale = "en"
        if timezone_problem(timezone):
            timezone = DEFAULT_TIMEZONE
        env = self._env_for(locale)
        values = {**context, "locale": locale, "timezone": timezone}
        token = _current.set(_Render(Formatter.for_recipient(locale, timezone, now=utcnow())))
        try:
            subject = self._render(env, self._pick(channel, f"{purpose}.subject.txt"), values)
            text = self._render(env, self._pick(channel, f"{purpose}.txt"), values)
            html_name = f"{channel}/{purpose}.html"
            html = self._render(env, html_name, values) if html_name in self._names else None
        finally:
            _current.reset(token)
        return RenderedText(subject=" ".join(subject.split()), text=text.strip(), html=html)

    def _pick(self, channel: str, file: str) -> str:
        for name in (f"{channel}/{file}", f"default/{file}"):
            if name in self._names:
                return name
        raise TemplateError([f"no template {channel}/{file} nor default/{file} in {', '.join(map(str, self.folders))}"])

    def _render(self, env: SandboxedEnvironment, name: str, values: Mapping[str, Any]) -> str:
        try:
            return env.get_template(name).render(values)
        except Exception as exc:
            raise TemplateError([_describe(exc, name)]) from exc

    def _compile(self, path: Path, name: str) -> list[str]:
        """Problems of one file: syntax, unknown filters or tests, missing includes, other compile errors."""
        try:
            source = path.read_text(encoding="utf-8")
            tree = self._env.parse(source, name, str(path))
        except (OSError, UnicodeDecodeError) as exc:
            return [f"{path}: cannot be read: {exc}"]
        except jinja2.TemplateSyntaxError as exc:
            return [f"{path}:{exc.lineno}: {exc.message}"]
        problems = [
            f"{path}:{node.lineno}: no {kind} named {node.name!r}"
            for kind, node_type, known in (
                ("filter", nodes.Filter, self._env.filters),
                ("test", nodes.Test, self._env.tests),
            )
            for node in tree.find_all(node_type)
            if node.name not in known
        ]
        for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            target = getattr(node, "template", None)
            if (
                isinstance(target, nodes.Const)
                and isinstance(target.value, str)
                and target.value not in self._names
                and not getattr(node, "ignore_missing", False)
            ):
                problems.append(f"{path}:{node.lineno}: template {target.value!r} not found")
        if not problems:
            try:
                self._env.compile(tree, name, str(path))
            except jinja2.TemplateSyntaxError as exc:
                problems.append(f"{path}:{exc.lineno}: {exc.message}")
        return problems

    def _env_for(self, locale: str) -> SandboxedEnvironment:
        """The environment with ``locale``'s catalog (one per locale, made at its first render)."""
        with self._lock:
            env = self._envs.get(locale)
            if env is None:
                env = self._envs[locale] = _environment(self.folders, merged_catalog(self.folders, locale))
            return env


class _LocaleEnvironment(SandboxedEnvironment):
    """Templates compiled for one catalog: constant ``_("…")`` and ``{% trans %}`` without a
    plural are translated once, when the template is compiled, instead of at every render
    (through the sandbox, each call cost as much as the rest of a small template); other
    gettext calls and the label filters use the same catalog at render time."""

    def __init__(self, translations: gettext.NullTranslations, **options: Any) -> None:
        super().__init__(**options)
        self.translations = translations
        self.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Public fields of the data we pass (notifications, digests) need no further inspection."""
        if type(obj) in _DATA and not attr.startswith("_"):
            return True
        return bool(super().is_safe_attribute(obj, attr, value))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree: nodes.Template = _Fold(self.translations).visit(super()._parse(source, name, filename))
        return tree


class _Fold(NodeTransformer):
    """``_("msg")`` / ``gettext("msg", **vars)`` → the translation, formatted as newstyle gettext does."""

    def __init__(self, translations: gettext.NullTranslations) -> None:
        self.translations = translations

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        self.generic_visit(node)
        if not (
            isinstance(node.node, nodes.Name)
            and node.node.name in ("_", "gettext")
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return node
        text = nodes.MarkSafeIfAutoescape(nodes.Const(self.translations.gettext(node.args[0].value)))
        pairs = [nodes.Pair(nodes.Const(k.key), k.value) for k in node.kwargs]
        return nodes.Mod(text, nodes.Dict(pairs), lineno=node.lineno)


def _environment(folders: Sequence[Path], translations: gettext.NullTranslations) -> SandboxedEnvironment:
    env = _LocaleEnvironment(
        translations,
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in folders]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # checked at load: a file changed later waits for a restart
    )
    env.policies["ext.i18n.trimmed"] = True
    env.filters.update({name: _filter(name) for name in _FILTERS})
    env.filters.update({name: _label(table) for name, table in _LABELS.items()})
    env.filters["field_value"] = _field_value
    return env


def _filter(name: str) -> Callable[..., str]:
    """The Formatter method ``name`` of the render in progress, as a Jinja filter (memoised per render)."""

    @pass_context
    def apply(_context: Context, value: Any, *args: Any, **kwargs: Any) -> str:
        state = _current.get()
        key = (name, value, *args, *sorted(kwargs.items()))
        try:
            return state.memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument: no memo
            return str(getattr(state.formatter, name)(value, *args, **kwargs))
        text = state.memo[key] = str(getattr(state.formatter, name)(value, *args, **kwargs))
        return text

    apply.__name__ = name
    return apply


def _word(context: Context, table: Mapping[str, str] | None, value: Any) -> str:
    """``value``'s name in ``table``, in the language of the environment rendering; else ``value`` as it is."""
    word = table.get(value) if table is not None else None
    if word is None:
        return str(value)
    return cast(_LocaleEnvironment, context.environment).translations.gettext(word)


def _label(table: dict[str, str]) -> Callable[..., str]:
    """A filter naming a code, severity or field in the render's language (unknown values as they are)."""

    @pass_context
    def apply(context: Context, value: Any) -> str:
        return _word(context, table, value)

    return apply


@pass_context
def _field_value(context: Context, value: Any, field_name: str) -> str:
    """A digest's group value, with codes and severities named in the render's language."""
    return _word(context, _FIELD_VALUES.get(field_name), value)


def _describe(exc: BaseException, name: str) -> str:
    """``file:line: message`` for a render failure, from the template frames Jinja puts in the traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or name}:{exc.lineno}: {exc.message}"
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename.endswith(_SUFFIXES)]
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else name
    detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, jinja2.TemplateError) else str(exc)
    return f"{where}: {detail} (rendering {name})"
