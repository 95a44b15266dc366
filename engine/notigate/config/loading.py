"""Reading ``notigate.toml``: ``${VAR}`` interpolation, the two URL overrides, and every problem named by its key.

``${VAR}`` and ``${VAR:-default}`` are replaced from the environment in every string;
``NOTIGATE_DATABASE_URL`` and ``NOTIGATE_QUEUE_URL`` override the two URLs. A variable
set to the empty string counts as unset, wherever the gateway reads one (``env``). Every
error names the key it is about (``delivery.max_attempts: Expected `int`…``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import msgspec

from notigate.config.secret import decode_secret
from notigate.config.settings import Settings, embedded_settings
from notigate.config.urls import URL_CHECKS
from notigate.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


T = TypeVar("T")


def env(name: str) -> str | None:
    """The environment variable ``name``, or None when it is unset or empty (product.md: empty counts as unset)."""
    return os.environ.get(name) or None


def config_path(explicit: str | None = None) -> Path | None:
    """``--config``, else ``NOTIGATE_CONFIG``, else ``./notigate.toml`` if it exists."""
    if explicit:
        return Path(explicit)
    if value := env("NOTIGATE_CONFIG"):
        return Path(value)
    default = Path("notigate.toml")
    return default if default.exists() else None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, interpolate, override and validate the configuration (or the embedded default)."""
    settings, problems = read_settings(path)
    if problems:
        raise ConfigError(problems)
    return settings


def read_settings(path: str | Path | None = None) -> tuple[Settings, list[str]]:
    """The configuration and every problem in it, so that ``check-config`` reports all in one run.

    Each part (a section, a plugin's section, one rule or endpoint) is checked on its own and
    a broken one is left out, so what remains is valid and the checks that need valid settings
    (plugins, rules, templates) still run on it. A broken rule is kept as one that sends
    nothing, so the rules after it keep their index. A file that cannot be read raises ConfigError.
    """
    resolved = config_path(str(path) if path else None)
    problems: list[str] = []
    if resolved is None:
        data: dict[str, Any] = msgspec.to_builtins(embedded_settings())
    else:
        try:
            data = tomllib.loads(resolved.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{resolved}: no such file"]) from None
        except OSError as exc:
            raise ConfigError([f"{resolved}: cannot read it ({exc.strerror})"]) from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError([f"{resolved}: {exc}"]) from None
        data = _interpolate(data, "", problems)
        data.pop("embedded", None)
    for var, section in (("NOTIGATE_DATABASE_URL", "database"), ("NOTIGATE_QUEUE_URL", "queue")):
        if (value := env(var)) is not None and isinstance(data.setdefault(section, {}), dict):
            data[section]["url"] = value
    return convert(_valid_parts(data, problems), Settings, ""), problems


def _valid_parts(data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The parts of ``data`` valid on their own: sections, and each entry of the tables of
    tables (plugin sections) and arrays of tables (rules, endpoints). The others' problems
    go to ``problems``, where a part whose ``${…}`` failed is already, once."""
    fields = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    reported = [p.partition(": ")[0] for p in problems]

    def valid(value: Any, type_: Any, key: str) -> bool:
        if any(k == key or k.startswith((f"{key}.", f"{key}[")) for k in reported):
            return False
        try:
            part = convert(value, type_, key)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return False
        if (check := URL_CHECKS.get(key)) and (problem := check(part.url)):
            problems.append(f"{key}.url: {problem}")
            return False
        return True

    parts: dict[str, Any] = {}
    for key, value in data.items():
        type_ = fields.get(key)
        if type_ is None:
            problems.append(f"{key}: unknown key")
        elif get_origin(type_) is list and isinstance(value, list):
            (item,) = get_args(type_)
            kept = [v if valid(v, item, f"{key}[{i}]") else None for i, v in enumerate(value)]
            if key == "rules":
                kept = [{"name": f"rules[{i}]", "send": []} if v is None else v for i, v in enumerate(kept)]
            parts[key] = [v for v in kept if v is not None]
        elif get_origin(type_) is dict and isinstance(value, dict):
            _, item = get_args(type_)
            parts[key] = {name: v for name, v in value.items() if valid(v, item, f"{key}.{name}")}
        elif valid(value, type_, key):
            parts[key] = value
    return parts


def convert(data: Any, type_: type[T], key: str) -> T:
    """``msgspec.convert`` with errors that name the key (``platforms.arindo.server_key``)."""
    try:
        return msgspec.convert(data, type_, strict=False, dec_hook=decode_secret)
    except msgspec.ValidationError as exc:
        raise ConfigError([_name_key(str(exc), key)]) from None


def _name_key(message: str, prefix: str) -> str:
    """Turn msgspec's ``… - at `$.a[0].b``` into ``prefix.a[0].b: …``, naming missing and unknown fields too."""
    text, sep, where = message.rpartition(" - at `$")
    if not sep:
        text, where = message, ""
    parts = [prefix, where.rstrip("`").lstrip(".")]
    if m := re.search(r"(unknown|missing required) field `([^`]+)`", text):
        parts.append(m.group(2))
        text = "unknown key" if m.group(1) == "unknown" else "required key is missing"
    full = ".".join(p for p in parts if p).replace(".[", "[")
    return f"{full or 'config'}: {text}"


def _interpolate(value: Any, key: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{key}.{k}" if key else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if (found := env(name)) is not None:
                return found
            if default is not None:
                return default
            problems.append(f"{key}: environment variable {name} is not set")
            return ""

        result = _VAR.sub(replace, value)
        if "${" in _VAR.sub("", value):
            problems.append(f"{key}: malformed ${{…}} reference (write ${{NAME}} or ${{NAME:-default}})")
        return result
    return value
