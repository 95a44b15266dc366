"""``notigate.config``: loading, interpolation, overrides, and errors that name the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from notigate.config.durations import seconds
from notigate.config.loading import convert, load_settings, read_settings
from notigate.config.settings import Settings, embedded_settings
from notigate.errors import ConfigError

PRODUCT_EXAMPLE = """\
[server]
host = "127.0.0.1"
port = 8000

[database]
url = "postgresql://notigate@127.0.0.1:5432/notigate"

[queue]
url = "redis://127.0.0.1:6379/0"

[plugins]
disabled = ["channel_sms"]

[sandbox]
enabled = false

[security]
api_keys = [{ name = "ops", key = "${NOTIGATE_API_KEY}", scopes = ["admin"] }]

[delivery]
max_attempts = 8
backoff_initial = "2s"
backoff_max = "30m"
max_age = "24h"

[platforms.arindo]
server_key = "${ARINDO_SERVER_KEY}"

[platforms.paprika]
client_id = "MCH-PAP-0001"
secret_key = "${PAPRIKA_SECRET_KEY}"
public_path = "/api/v1/platforms/paprika/callbacks"
max_clock_skew = "5m"

[platforms.assasta.merchants.31835]
user_id = "bot31835"
password = "${ASSASTA_31835_PASSWORD}"

[channels.email]
host = "127.0.0.1"
port = 25
sender = "Notigate <alerts@example.com>"

[channels.sms]
base_url = "https://api.twilio.com"
account_sid = "${SMS_ACCOUNT_SID}"
auth_token = "${SMS_AUTH_TOKEN}"
sender = "+15005550006"

[channels.webhook]
timeout = "10s"

[[webhooks]]
name = "merchant-backend"
url = "https://merchant.example.com/hooks/payments"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["payment.*"]

[[rules]]
name = "fraud to the risk team"
match = { codes = ["fraud_suspected", "fraud_review"], platforms = ["arindo", "paprika"] }
send = [
  { channel = "email", to = ["risk@example.com"], locale = "id" },
  { channel = "sms", to = ["+6281200000001"], locale = "id" },
]

[[rules]]
name = "errors to ops"
match = { min_severity = "error", min_amount = "1000000.00" }
stop = true
send = [{ channel = "email", to = ["ops@example.com"], locale = "en", timezone = "UTC" }]
"""

EXAMPLE_ENV = {
    "NOTIGATE_API_KEY": "ops-key-0123456789abcdef",
    "ARINDO_SERVER_KEY": "SB-Mid-server-FROM-ENV",
    "PAPRIKA_SECRET_KEY": "paprika-secret",
    "ASSASTA_31835_PASSWORD": "assasta-pass",
    "SMS_ACCOUNT_SID": "AC123",
    "SMS_AUTH_TOKEN": "sms-token",
}


def write(tmp_path: Path, text: str, name: str = "notigate.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(excinfo: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(excinfo.value.problems)


@pytest.fixture
def example_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    return clean_env


# -- the product example ------------------------------------------------------


def test_product_example_loads_every_supported_section(example_env: Path) -> None:
    """Every section of product.md's example that the structs support loads into typed settings."""
    s = load_settings(write(example_env, PRODUCT_EXAMPLE))
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8000)
    assert s.database.url == "postgresql://notigate@127.0.0.1:5432/notigate"
    assert s.queue.url == "redis://127.0.0.1:6379/0"
    assert s.plugins.disabled == ["channel_sms"]
    assert s.sandbox.enabled is False
    assert [(k.name, k.key, k.scopes) for k in s.security.api_keys] == [
        ("ops", EXAMPLE_ENV["NOTIGATE_API_KEY"], ["admin"])
    ]
    assert (s.delivery.max_attempts, s.delivery.backoff_initial, s.delivery.backoff_max, s.delivery.max_age) == (
        8,
        "2s",
        "30m",
        "24h",
    )
    assert s.platforms["arindo"] == {"server_key": "SB-Mid-server-FROM-ENV"}
    assert s.platforms["paprika"]["secret_key"] == "paprika-secret"
    assert s.platforms["assasta"] == {"merchants": {"31835": {"user_id": "bot31835", "password": "assasta-pass"}}}
    assert s.channels["email"]["port"] == 25
    assert s.channels["sms"]["auth_token"] == "sms-token"
    assert s.channels["webhook"] == {"timeout": "10s"}
    assert [(w.name, w.events, w.enabled) for w in s.webhooks] == [("merchant-backend", ["payment.*"], True)]
    fraud, errors = s.rules
    assert fraud.match.codes == ["fraud_suspected", "fraud_review"]
    assert fraud.match.platforms == ["arindo", "paprika"]
    assert [(t.channel, t.to, t.locale, t.timezone) for t in fraud.send] == [
        ("email", ["risk@example.com"], "id", "Asia/Jakarta"),
        ("sms", ["+6281200000001"], "id", "Asia/Jakarta"),
    ]
    assert fraud.stop is False
    assert errors.match.min_severity == "error"
    assert errors.match.min_amount == Decimal("1000000.00")
    assert errors.stop is True
    assert errors.send[0].timezone == "UTC"
    assert s.embedded is False


DIGEST_RULE = """\
[[rules]]
name = "errors to ops, folded"
match = { min_severity = "error" }
group_by = ["platform", "code"]
group_window = "60s"
send = [{ channel = "email", to = ["ops@example.com"], locale = "en" }]
"""


def test_rule_grouping_is_read(clean_env: Path) -> None:
    """``group_by``/``group_window`` (product.md's digest rule) are read as written."""
    [rule] = load_settings(write(clean_env, DIGEST_RULE)).rules
    assert (rule.group_by, rule.group_window, rule.repeat_interval) == (["platform", "code"], "60s", None)


def test_product_example_verbatim_loads(example_env: Path) -> None:
    """product.md's example, digest rule included, is a valid configuration as written."""
    verbatim = PRODUCT_EXAMPLE[: PRODUCT_EXAMPLE.rindex("[[rules]]")] + DIGEST_RULE
    settings = load_settings(write(example_env, verbatim))
    assert [r.name for r in settings.rules] == ["fraud to the risk team", "errors to ops, folded"]


def test_file_cannot_claim_to_be_the_embedded_default(clean_env: Path) -> None:
    """``embedded = true`` in a file is ignored: only the built-in default falls back to sample credentials."""
    assert load_settings(write(clean_env, "embedded = true\n")).embedded is False


# -- interpolation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("${NT_VAR}", {"NT_VAR": "set"}, "set"),
        ("${NT_VAR:-fallback}", {"NT_VAR": "set"}, "set"),
        ("${NT_VAR:-fallback}", {}, "fallback"),
        ("${NT_VAR:-fallback}", {"NT_VAR": ""}, "fallback"),
        ("${NT_VAR:-}", {}, ""),
        ("redis://${NT_HOST:-localhost}:${NT_PORT}/0", {"NT_PORT": "6380"}, "redis://localhost:6380/0"),
        ("no variables here", {}, "no variables here"),
        ("$NT_VAR and {NT_VAR}", {"NT_VAR": "x"}, "$NT_VAR and {NT_VAR}"),
    ],
)
def test_interpolation_replaces_variables_in_strings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, template: str, env: dict[str, str], expected: str
) -> None:
    """``${VAR}`` takes the variable, ``${VAR:-default}`` the default when it is unset or empty."""
    for var in ("NT_VAR", "NT_HOST", "NT_PORT"):
        monkeypatch.delenv(var, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write(clean_env, f'[server]\nhost = "{template}"\n')
    assert load_settings(path).server.host == expected


def test_interpolation_reaches_nested_lists_and_plugin_sections(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strings inside arrays of tables, inline tables and plugin sections are interpolated."""
    monkeypatch.setenv("NT_TO", "ops@example.com")
    monkeypatch.setenv("NT_SECRET", "s3cret")
    path = write(
        clean_env,
        '[platforms.x.deep]\nsecret = ["${NT_SECRET}"]\n'
        '[[rules]]\nname = "r"\nsend = [{ channel = "email", to = ["${NT_TO}"] }]\n',
    )
    s = load_settings(path)
    assert s.platforms["x"] == {"deep": {"secret": ["s3cret"]}}
    assert s.rules[0].send[0].to == ["ops@example.com"]


def test_interpolated_strings_are_converted_to_the_field_type(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable in a number or boolean field is converted after interpolation (``port = "${PORT}"``)."""
    monkeypatch.setenv("NT_PORT", "8081")
    monkeypatch.setenv("NT_SANDBOX", "true")
    s = load_settings(write(clean_env, '[server]\nport = "${NT_PORT}"\n[sandbox]\nenabled = "${NT_SANDBOX}"\n'))
    assert s.server.port == 8081
    assert s.sandbox.enabled is True


def test_unset_variable_without_default_names_the_key(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset ``${VAR}`` without a default is an error naming the key and the variable."""
    monkeypatch.delenv("NT_UNSET_KEY", raising=False)
    path = write(clean_env, '[security]\napi_keys = [{ name = "ops", key = "${NT_UNSET_KEY}" }]\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    assert excinfo.value.problems == ["security.api_keys[0].key: environment variable NT_UNSET_KEY is not set"]


def test_empty_variable_without_default_is_not_set(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set to the empty string counts as unset: ``${VAR}`` without a default is an error."""
    monkeypatch.setenv("NT_EMPTY", "")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(write(clean_env, '[platforms.arindo]\nserver_key = "${NT_EMPTY}"\n'))
    assert excinfo.value.problems == ["platforms.arindo.server_key: environment variable NT_EMPTY is not set"]


def test_every_unset_variable_is_reported_at_once(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """All unset variables are reported together, each with its own key."""
    monkeypatch.delenv("NT_A", raising=False)
    monkeypatch.delenv("NT_B", raising=False)
    path = write(clean_env, '[platforms.arindo]\nserver_key = "${NT_A}"\n[queue]\nurl = "${NT_B}"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    assert sorted(excinfo.value.problems) == [
        "platforms.arindo.server_key: environment variable NT_A is not set",
        "queue.url: environment variable NT_B is not set",
    ]


# -- environment overrides -----------------------------------------------------


def test_environment_overrides_the_two_urls(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIGATE_DATABASE_URL and NOTIGATE_QUEUE_URL win over the file's values."""
    monkeypatch.setenv("NOTIGATE_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("NOTIGATE_QUEUE_URL", "redis://env:6379/1")
    path = write(clean_env, '[database]\nurl = "sqlite:///file.db"\n[queue]\nurl = "redis://file:6379/0"\n')
    s = load_settings(path)
    assert (s.database.url, s.queue.url) == ("sqlite:///from-env.db", "redis://env:6379/1")


def test_environment_overrides_apply_when_the_file_lacks_the_sections(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overrides also work when the file has no ``[database]`` or ``[queue]`` section."""
    monkeypatch.setenv("NOTIGATE_DATABASE_URL", "postgresql://env/notigate")
    monkeypatch.setenv("NOTIGATE_QUEUE_URL", "redis://env:6379/1")
    s = load_settings(write(clean_env, "[server]\nport = 9000\n"))
    assert (s.database.url, s.queue.url) == ("postgresql://env/notigate", "redis://env:6379/1")


def test_environment_overrides_apply_to_the_embedded_default(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file, NOTIGATE_DATABASE_URL still replaces the embedded SQLite path."""
    monkeypatch.setenv("NOTIGATE_DATABASE_URL", "sqlite:///elsewhere.db")
    s = load_settings()
    assert s.embedded is True
    assert s.database.url == "sqlite:///elsewhere.db"


def test_empty_overrides_leave_the_file_values(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIGATE_DATABASE_URL and NOTIGATE_QUEUE_URL set to the empty string count as unset."""
    monkeypatch.setenv("NOTIGATE_DATABASE_URL", "")
    monkeypatch.setenv("NOTIGATE_QUEUE_URL", "")
    s = load_settings(write(clean_env, '[database]\nurl = "sqlite:///file.db"\n[queue]\nurl = "redis://file:6379/0"\n'))
    assert (s.database.url, s.queue.url) == ("sqlite:///file.db", "redis://file:6379/0")


def test_without_overrides_the_file_values_stay(clean_env: Path) -> None:
    """Unset override variables leave the file's URLs alone."""
    s = load_settings(write(clean_env, '[database]\nurl = "sqlite:///file.db"\n'))
    assert (s.database.url, s.queue.url) == ("sqlite:///file.db", "")


# -- errors name the key -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[delivery]\nmax_attempts = "eight"\n', "delivery.max_attempts: Expected `int`, got `str`"),
        ("[delivery]\nmax_attempts = 0\n", "delivery.max_attempts: Expected `int` >= 1"),
        ("[server]\nport = 70000\n", "server.port: Expected `int` <= 65535"),
        ('[sandbox]\nenabled = "maybe"\n', "sandbox.enabled: Expected `bool`, got `str`"),
        ('[plugins]\ndisabled = "channel_sms"\n', "plugins.disabled: Expected `array`, got `str`"),
        ('[server]\nhostname = "x"\n', "server.hostname: unknown key"),
        ("[delivery]\nmax_atempts = 3\n", "delivery.max_atempts: unknown key"),
        (
            '[[rules]]\nname = "r"\nsend = [{ channel = "email", to = ["a"], lang = "id" }]\n',
            "rules[0].send[0].lang: unknown key",
        ),
        (
            '[[rules]]\nname = "r"\nsend = [{ channel = "email", to = ["a"] }]\nmatch = { min_severity = "fatal" }\n',
            "rules[0].match.min_severity: Invalid enum value 'fatal'",
        ),
        (
            '[[rules]]\nname = "r"\nsend = [{ channel = "email", to = ["a"] }]\nmatch = { min_amount = "lots" }\n',
            "rules[0].match.min_amount: Invalid decimal string",
        ),
        (
            '[[rules]]\nname = "r"\nsend = [{ channel = "email", to = [] }]\n',
            "rules[0].send[0].to: Expected `array` of length >= 1",
        ),
        (
            '[[webhooks]]\nname = "w"\nurl = "ftp://x"\nsecret = "whsec_abc"\n',
            "webhooks[0].url: Expected `str` matching",
        ),
        (
            '[[webhooks]]\nname = "w"\nurl = "https://x"\nsecret = "plain"\n',
            "webhooks[0].secret: Expected `str` matching",
        ),
        (
            '[security]\napi_keys = [{ name = "a", key = "short" }]\n',
            "security.api_keys[0].key: Expected `str` of length >= 16",
        ),
        ('[database]\nurl = "mysql://u:pw@h/x"\n', "database.url: unsupported scheme 'mysql'"),
        ('[database]\nurl = "sqlite://notigate.db"\n', "database.url: expected sqlite:///path/file.db"),
        ('[database]\nurl = "postgresql://h:five/x"\n', "database.url: invalid port"),
        ('[queue]\nurl = "localhost:6379"\n', "queue.url: unsupported scheme 'localhost'"),
        ('[queue]\nurl = "redis://h:6379/zero"\n', "queue.url: the path must be a database number"),
    ],
)
def test_invalid_values_are_reported_with_their_key(clean_env: Path, text: str, expected: str) -> None:
    """Wrong types, out-of-range values and unknown keys each produce one problem starting with the key."""
    with pytest.raises(ConfigError) as excinfo:
        load_settings(write(clean_env, text))
    assert len(excinfo.value.problems) == 1
    assert excinfo.value.problems[0].startswith(expected), excinfo.value.problems


@pytest.mark.parametrize(
    ("database", "queue"),
    [
        ("postgresql://u:pw@db.example:5433/notigate", "redis://:pw@cache.example:6380/2"),
        ("postgres://db.example/notigate", "rediss://cache.example?db=1"),
        ("sqlite:////var/lib/notigate/notigate.db", "unix:///run/redis.sock"),
    ],
)
def test_supported_urls_are_accepted(clean_env: Path, database: str, queue: str) -> None:
    """PostgreSQL and SQLite databases, Redis over TCP, TLS or a socket are valid URLs."""
    s = load_settings(write(clean_env, f'[database]\nurl = "{database}"\n[queue]\nurl = "{queue}"\n'))
    assert (s.database.url, s.queue.url) == (database, queue)


@pytest.mark.parametrize("field", ["backoff_initial", "backoff_max", "max_age", "send_timeout", "sweep_interval"])
@pytest.mark.parametrize(
    "value", ["2 s", "2", "2sec", "-1s", "1.s", "s", "2S", "", "1h30m", "\uff12s", "\u0662s", "2.\uff15s"]
)
def test_bad_durations_name_the_key(clean_env: Path, field: str, value: str) -> None:
    """A malformed duration is reported under its own key."""
    with pytest.raises(ConfigError) as excinfo:
        load_settings(write(clean_env, f'[delivery]\n{field} = "{value}"\n'))
    assert excinfo.value.problems[0].startswith(f"delivery.{field}: Expected `str` matching regex")


def test_a_number_is_not_a_duration(clean_env: Path) -> None:
    """A bare number where a duration is expected is a type error naming the key."""
    with pytest.raises(ConfigError) as excinfo:
        load_settings(write(clean_env, "[delivery]\nmax_age = 60\n"))
    assert excinfo.value.problems == ["delivery.max_age: Expected `str`, got `int`"]


def test_toml_syntax_error_names_the_file_and_line(clean_env: Path) -> None:
    """A TOML syntax error says which file and which line."""
    path = write(clean_env, '[server]\nport = 8000\nhost = = "x"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    (problem,) = excinfo.value.problems
    assert problem.startswith(f"{path}: ")
    assert "line 3" in problem


def test_unknown_key_inside_a_table_array_names_its_index(clean_env: Path) -> None:
    """An unknown key in the second ``[[webhooks]]`` names ``webhooks[1]``."""
    text = (
        '[[webhooks]]\nname = "a"\nurl = "https://a"\nsecret = "whsec_abc"\n'
        '[[webhooks]]\nname = "b"\nurl = "https://b"\nsecret = "whsec_abc"\nevent = ["payment.*"]\n'
    )
    with pytest.raises(ConfigError) as excinfo:
        load_settings(write(clean_env, text))
    assert excinfo.value.problems == ["webhooks[1].event: unknown key"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"bogus": 1}, "bogus: unknown key"),
        ({"security": {"api_keys": [{"name": "ops"}]}}, "security.api_keys[0].key: "),
        ({"rules": [{"name": "r"}]}, "rules[0].send: "),
        ({"webhooks": [{"name": "w", "url": "https://x"}]}, "webhooks[0].secret: "),
    ],
)
def test_top_level_unknown_and_missing_keys_are_named(data: dict[str, Any], expected: str) -> None:
    """An unknown top-level section and a missing required field are reported under their own key."""
    with pytest.raises(ConfigError) as excinfo:
        convert(data, Settings, "")
    assert excinfo.value.problems[0].startswith(expected), excinfo.value.problems


def test_missing_required_field_is_reported_today_under_its_parent(clean_env: Path) -> None:
    """A missing required field is reported with its parent key and the field's name (current wording)."""
    with pytest.raises(ConfigError) as excinfo:
        load_settings(write(clean_env, '[security]\napi_keys = [{ name = "ops" }]\n'))
    (problem,) = excinfo.value.problems
    assert problem.startswith("security.api_keys[0]")
    assert "key" in problem.removeprefix("security.api_keys[0]")


class _PluginSection(msgspec.Struct, forbid_unknown_fields=True):
    timeout: int = 10


def test_convert_prefixes_the_given_key() -> None:
    """``convert`` reports problems under the key it is given (a plugin's section)."""
    with pytest.raises(ConfigError) as excinfo:
        convert({"timeout": "soon"}, _PluginSection, "channels.webhook")
    assert excinfo.value.problems == ["channels.webhook.timeout: Expected `int`, got `str`"]


def test_convert_accepts_strings_for_numbers() -> None:
    """``convert`` is lax about scalar types written as strings (numbers, booleans, decimals)."""
    s = convert(
        {
            "server": {"port": "9000"},
            "rules": [{"name": "r", "send": [{"channel": "c", "to": ["x"]}], "match": {"min_amount": 100}}],
        },
        Settings,
        "",
    )
    assert s.server.port == 9000
    assert s.rules[0].match.min_amount == Decimal(100)


# -- seconds() ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("250ms", 0.25),
        ("0s", 0.0),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("30m", 1800.0),
        ("24h", 86400.0),
        ("2d", 172800.0),
        ("0.5h", 1800.0),
    ],
)
def test_seconds_converts_durations(duration: str, expected: float) -> None:
    """``seconds`` turns every unit into seconds."""
    assert seconds(duration) == pytest.approx(expected)


@pytest.mark.parametrize("duration", ["", "2", "s", "2 s", "-1s", "2sec", "1h30m", "2S", "\uff12s", "\u0662m"])
def test_seconds_rejects_malformed_durations(duration: str) -> None:
    """``seconds`` raises ValueError for anything the Duration pattern rejects."""
    with pytest.raises(ValueError, match="not a duration"):
        seconds(duration)


# -- which file, or the embedded default --------------------------------------------------


def test_no_file_gives_the_embedded_default(clean_env: Path) -> None:
    """With no file and no NOTIGATE_CONFIG: SQLite, sandbox on, a webhook rule for warnings and worse,
    and an email + SMS rule for critical events."""
    s = load_settings()
    assert s.embedded is True
    assert s.database.url.startswith("sqlite:///")
    assert s.queue.url == ""
    assert s.sandbox.enabled is True
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8000)
    rule, critical = s.rules
    assert rule.match.min_severity == "warning"
    (target,) = rule.send
    assert target.channel == "webhook"
    assert target.to == [w.name for w in s.webhooks]
    assert critical.match.min_severity == "critical"
    assert [t.channel for t in critical.send] == ["email", "sms"]


def test_embedded_default_is_a_valid_configuration() -> None:
    """The embedded default survives a round trip through the validator unchanged."""
    default = embedded_settings()
    assert convert(msgspec.to_builtins(default), Settings, "") == default


def test_notigate_config_picks_the_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIGATE_CONFIG names the file when no path is given."""
    (clean_env / "conf.d").mkdir()
    path = write(clean_env / "conf.d", "[server]\nport = 9100\n", "custom.toml")
    monkeypatch.setenv("NOTIGATE_CONFIG", str(path))
    s = load_settings()
    assert (s.server.port, s.embedded) == (9100, False)


def test_empty_notigate_config_counts_as_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIGATE_CONFIG set to the empty string falls through to ./notigate.toml."""
    monkeypatch.setenv("NOTIGATE_CONFIG", "")
    write(clean_env, "[server]\nport = 9400\n")
    assert load_settings().server.port == 9400


def test_explicit_path_wins_over_notigate_config(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--config`` beats NOTIGATE_CONFIG."""
    monkeypatch.setenv("NOTIGATE_CONFIG", str(write(clean_env, "[server]\nport = 9100\n", "env.toml")))
    assert load_settings(write(clean_env, "[server]\nport = 9200\n", "cli.toml")).server.port == 9200


def test_notigate_toml_in_the_working_directory_is_used(clean_env: Path) -> None:
    """``./notigate.toml`` is read when neither ``--config`` nor NOTIGATE_CONFIG is given."""
    write(clean_env, "[server]\nport = 9300\n")
    assert load_settings().server.port == 9300


def test_missing_explicit_file_is_an_error(clean_env: Path) -> None:
    """A ``--config`` path that does not exist is a ConfigError naming it, not the embedded default."""
    missing = clean_env / "nope.toml"
    with pytest.raises(ConfigError) as excinfo:
        load_settings(missing)
    assert excinfo.value.problems == [f"{missing}: no such file"]


def test_missing_notigate_config_file_is_an_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIGATE_CONFIG naming a missing file is an error too."""
    monkeypatch.setenv("NOTIGATE_CONFIG", str(clean_env / "gone.toml"))
    with pytest.raises(ConfigError, match=r"gone\.toml: no such file"):
        load_settings()


def test_empty_file_gives_plain_defaults(clean_env: Path) -> None:
    """An empty file is valid: plain defaults, not the embedded default (no sandbox, no rules)."""
    s = load_settings(write(clean_env, ""))
    assert s == Settings()
    assert s.sandbox.enabled is False and s.rules == [] and s.embedded is False


def test_every_broken_section_is_reported_in_one_run(clean_env: Path) -> None:
    """Problems in several sections are all reported at once, each naming its key."""
    (clean_env / "notigate.toml").write_text('bogus = 1\n[server]\nport = "a"\n[delivery]\nmax_attempts = "x"\n')
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert {p.split(":")[0] for p in error.value.problems} >= {"bogus", "server.port", "delivery.max_attempts"}


def test_read_settings_keeps_the_valid_parts_of_a_broken_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``read_settings`` lists every problem and returns the valid rest: a broken section falls back
    to its default, a broken rule sends nothing and the next rule keeps its index, a broken endpoint
    is left out, and a part holding an unset variable is reported once."""
    monkeypatch.delenv("NT_UNSET", raising=False)
    settings, problems = read_settings(
        write(
            clean_env,
            """\
[server]
port = 9000
[delivery]
max_attempts = 0
[security]
api_keys = [{ name = "ops", key = "${NT_UNSET}" }]
[channels]
webhook = "fast"
[channels.email]
host = "smtp.example"
[[webhooks]]
name = "good"
url = "https://good.example"
secret = "whsec_abc"
[[webhooks]]
name = "bad"
url = "ftp://bad.example"
secret = "whsec_abc"
[[rules]]
name = "first"
send = [{ channel = "email", to = ["a@example.com"], lang = "id" }]
[[rules]]
name = "second"
send = [{ channel = "email", to = ["b@example.com"] }]
""",
        )
    )
    assert [p.split(":")[0] for p in problems] == [
        "security.api_keys[0].key",
        "delivery.max_attempts",
        "channels.webhook",
        "webhooks[1].url",
        "rules[0].send[0].lang",
    ]
    assert (settings.server.port, settings.delivery.max_attempts, settings.security.api_keys) == (9000, 8, [])
    assert settings.channels == {"email": {"host": "smtp.example"}}
    assert [w.name for w in settings.webhooks] == ["good"]
    assert [(r.name, len(r.send)) for r in settings.rules] == [("rules[0]", 0), ("second", 1)]


@pytest.mark.parametrize("text", ["${NOTIGATE_API_KEY", "${ NOTIGATE_API_KEY }", "x${}"])
def test_malformed_variable_references_are_errors(clean_env: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """A `${` that is not a valid reference is an error, never a literal (guessable) value."""
    monkeypatch.setenv("NOTIGATE_API_KEY", "k" * 20)
    (clean_env / "notigate.toml").write_text(
        f'[security]\napi_keys = [{{ name = "a", key = "{text}0123456789abcdef" }}]\n'
    )
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert error.value.problems[0].startswith("security.api_keys[0].key: malformed")


@pytest.mark.parametrize("field", ["send_timeout", "sweep_interval", "max_age", "backoff_initial"])
def test_zero_durations_are_refused(field: str) -> None:
    """Durations the delivery loop divides or waits by must be longer than zero."""
    with pytest.raises(ConfigError) as error:
        convert({"delivery": {field: "0s"}}, Settings, "")
    assert field in error.value.problems[0]


def test_url_override_survives_a_malformed_section(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`database = "…"` plus NOTIGATE_DATABASE_URL is reported as a config error, not a crash."""
    monkeypatch.setenv("NOTIGATE_DATABASE_URL", "sqlite:///x.db")
    (clean_env / "notigate.toml").write_text('database = "sqlite:///y.db"\n')
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert error.value.problems[0].startswith("database:")
