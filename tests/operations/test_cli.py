"""The ``notigate`` command line, run as a user runs it (subprocesses in a fresh folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from support import free_port, worker_config

from notigate.cli import main
from notigate.storage.database import Database
from notigate.storage.migrations import LATEST, migrate

NOTIGATE = [sys.executable, "-m", "notigate"]
Invoke = Callable[..., Result]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOTIGATE_")}
    return subprocess.run([*NOTIGATE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env={**clean, **env})


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """``notigate …`` in this process (click's runner on the real ``main``), in a fresh folder
    without NOTIGATE_* variables: for commands that need no server."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("NOTIGATE_")]:
        monkeypatch.delenv(name)

    def invoke(*args: str, **env: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


def _serve(cwd: Path, port: int, **env: str) -> subprocess.Popen[str]:
    """``notigate serve`` on ``port``, returned once it answers /health/ready."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOTIGATE_")}
    server = subprocess.Popen(
        [*NOTIGATE, "serve", "--port", str(port)],
        cwd=cwd,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"serve did not become ready:\n{server.communicate()[0]}")
        time.sleep(0.2)


def test_check_config_prints_each_problem_with_its_key(tmp_path: Path) -> None:
    """check-config exits 2 and prints one line per problem, each naming its key."""
    (tmp_path / "notigate.toml").write_text('[server]\nport = "eighty"\n')
    result = _run(["check-config"], tmp_path)
    assert result.returncode == 2
    assert "server.port: Expected `int`, got `str`" in result.stderr
    (tmp_path / "notigate.toml").write_text(
        '[platforms.arindo]\nsever_key = "x"\n[platforms.nosuch]\na = 1\n'
        '[[rules]]\nname = "r"\nsend = [{ channel = "pigeon", to = ["x"] }]\n'
    )
    lines = _run(["check-config"], tmp_path).stderr.splitlines()
    assert any(line.strip().startswith("platforms.arindo.sever_key: unknown key") for line in lines)
    assert any(line.strip().startswith("platforms.nosuch:") for line in lines)
    assert any(line.strip().startswith("rules[0].send[0].channel:") for line in lines)


def test_check_config_accepts_the_embedded_default(tmp_path: Path) -> None:
    """With no file at all, the embedded default is valid."""
    result = _run(["check-config"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_plugins_lists_installed_plugins_and_disabled_ones(tmp_path: Path) -> None:
    """`notigate plugins` shows each plugin with its distribution, version and state."""
    (tmp_path / "notigate.toml").write_text('[plugins]\ndisabled = ["channel_webhook", "channel_nosuch"]\n')
    result = _run(["plugins"], tmp_path)
    assert result.returncode == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "notigate-platform-arindo" in rows["platform_arindo"] and "enabled" in rows["platform_arindo"]
    assert "disabled" in rows["channel_webhook"]
    assert "channel_nosuch" in result.stderr


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    """`notigate migrate` creates the schema once; a second run changes nothing."""
    assert "applied migrations [1, 2, 3, 4, 5, 6]" in _run(["migrate"], tmp_path).stdout
    assert "schema is up to date" in _run(["migrate"], tmp_path).stdout
    assert (tmp_path / "notigate.db").exists()


def test_serve_then_send_test_on_the_embedded_default(tmp_path: Path) -> None:
    """On a fresh folder: `serve` generates a key; `send-test` for each platform is stored and captured in sandbox."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOTIGATE_")}
    server = subprocess.Popen(
        [*NOTIGATE, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.2)
        result = _run(["send-test", "arindo", "--url", f"http://127.0.0.1:{port}"], tmp_path)
        assert result.returncode == 0, result.stderr
        assert "→ 200" in result.stdout
        assert "card_declined" in result.stdout
        assert "status=delivered" in result.stdout
        assert "[captured in sandbox]" in result.stdout
        for platform, code in (("paprika", "fraud_suspected"), ("assasta", "insufficient_funds")):
            result = _run(["send-test", platform, "--code", code, "--url", f"http://127.0.0.1:{port}"], tmp_path)
            assert result.returncode == 0, result.stderr
            assert f"{platform} {code}" in result.stdout and "status=delivered" in result.stdout
            if code == "fraud_suspected":  # critical: the embedded default also captures an email and an SMS
                assert "email → oncall@example.com: delivered" in result.stdout
                assert "sms → +6281200000001: delivered" in result.stdout
        unknown = _run(
            ["send-test", "paprika", "--code", "no_such_code", "--url", f"http://127.0.0.1:{port}"], tmp_path
        )
        assert unknown.returncode != 0 and "no_such_code" in unknown.stderr + unknown.stdout
        key = (tmp_path / "notigate.db.api-key").read_text().strip()
        assert oct((tmp_path / "notigate.db.api-key").stat().st_mode & 0o777) == "0o600"
        listing = httpx.get(f"http://127.0.0.1:{port}/api/v1/notifications", headers={"X-API-Key": key}).json()
        assert len(listing["items"]) == 3
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Generated admin API key" in output
    assert key in output


def _blocks(output: str) -> dict[str, tuple[str, list[str]]]:
    """Per channel, ``send-test``'s last status line of its delivery and every line printed below
    that delivery's status lines (dedented): a block reprinted later keeps what came under it before."""
    blocks: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("  dlv_"):
            channel = line.split()[1]
            current = blocks[channel][1] if channel in blocks else []
            blocks[channel] = (line.strip(), current)
        elif line.startswith("    ") or (line == "" and current is not None):
            assert current is not None, output
            current.append(line[4:])
        else:
            current = None
    return blocks


def test_send_test_prints_what_the_sandbox_captured(tmp_path: Path) -> None:
    """On the embedded default, ``send-test`` prints below each ended delivery the message the sandbox
    captured: the webhook's body as JSON with its webhook-id, the email's subject and text part, the SMS text."""
    port = free_port()
    server = _serve(tmp_path, port)
    try:
        result = _run(
            ["send-test", "paprika", "--code", "fraud_suspected", "--url", f"http://127.0.0.1:{port}"], tmp_path
        )
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    blocks = _blocks(result.stdout)
    assert set(blocks) == {"webhook", "email", "sms"}, result.stdout
    assert all(line.endswith("delivered, attempts=1 [captured in sandbox]") for line, _ in blocks.values())

    status, lines = blocks["webhook"]
    assert lines[0] == f"webhook-id: {status.split()[0]}"
    assert lines[1] == "{" and lines[2].startswith('  "type"'), "pretty-printed, one key a line"
    body = json.loads("\n".join(lines[1:]))
    assert body["type"] == "payment.fraud_suspected"
    assert body["data"]["code"] == "fraud_suspected" and body["data"]["platform"] == "paprika"
    assert body["data"]["amount"] == "150000.00" and body["data"]["reference"].startswith("INV-SAMPLE-")

    _, lines = blocks["email"]
    reference = body["data"]["reference"]
    assert lines[0] == f"Subject: [Critical] Suspected fraud: {reference} (IDR150,000)"
    assert lines[1] == "Suspected fraud (Critical)"
    assert f"Reference: {reference}" in lines and "Amount: IDR150,000" in lines
    assert f"Notification ID: {body['data']['id']}" in lines
    assert not any("<" in line or "=3D" in line for line in lines), "the text part, decoded, without the HTML"

    _, lines = blocks["sms"]
    [text] = lines
    assert text.startswith(f"Suspected fraud: {reference}, IDR150,000 on paprika at ")

    assert "whsec_" not in result.stdout and "signature" not in result.stdout
    assert result.stdout.count('"type": "payment.fraud_suspected"') == 1


# -- empty environment variables ------------------------------------------------------------------


def test_empty_variables_count_as_unset_for_serve(tmp_path: Path) -> None:
    """Every variable the gateway reads, set to "", is unset: ``serve`` runs on the embedded default
    (SQLite here, the embedded queue, a generated key) and /metrics counts this process alone."""
    port = free_port()
    empty = dict.fromkeys(
        (
            "NOTIGATE_CONFIG",
            "NOTIGATE_DATABASE_URL",
            "NOTIGATE_QUEUE_URL",
            "NOTIGATE_API_KEY",
            "PROMETHEUS_MULTIPROC_DIR",
        ),
        "",
    )
    server = _serve(tmp_path, port, **empty)
    try:
        key = (tmp_path / "notigate.db.api-key").read_text().strip()
        listing = httpx.get(f"http://127.0.0.1:{port}/api/v1/notifications", headers={"X-API-Key": key})
        assert listing.status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200, metrics.text
        assert 'notigate_http_request_duration_seconds_count{method="GET",path="/api/v1/notifications"' in metrics.text
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Generated admin API key" in output and "embedded queue" in output
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["notigate.db"]  # no metric files


def test_empty_variable_in_the_file_is_not_set(cli: Invoke, tmp_path: Path) -> None:
    """``${VAR}`` with VAR set to "" is "not set"; ``${VAR:-default}`` then takes the default."""
    port = free_port()
    (tmp_path / "notigate.toml").write_text(
        f'[server]\nport = "${{NT_PORT:-{port}}}"\n[platforms.arindo]\nserver_key = "${{NT_ARINDO_KEY}}"\n'
    )
    result = cli("check-config", NT_PORT="", NT_ARINDO_KEY="")
    assert result.exit_code == 2
    assert "platforms.arindo.server_key: environment variable NT_ARINDO_KEY is not set" in result.stderr
    result = cli("send-test", "arindo", NT_PORT="", NT_ARINDO_KEY="SB-Mid-server-X")
    assert result.exit_code == 1
    assert f"cannot reach the gateway at http://127.0.0.1:{port}" in result.stderr


# -- which configuration file ---------------------------------------------------------------------

PRECEDENCE = (
    "--config FILE the configuration file (else NOTIGATE_CONFIG, else ./notigate.toml, else the embedded default)"
)


def test_every_command_states_the_config_precedence(cli: Invoke) -> None:
    """``--help`` of every command gives the order: --config, NOTIGATE_CONFIG, ./notigate.toml, the embedded default."""
    for name in main.commands:
        result = cli(name, "--help")
        assert result.exit_code == 0, result.output
        assert PRECEDENCE in " ".join(result.output.split()), name


def test_config_precedence(cli: Invoke, tmp_path: Path) -> None:
    """--config beats NOTIGATE_CONFIG, which beats ./notigate.toml, which beats the embedded default;
    an empty --config or NOTIGATE_CONFIG counts as not given."""
    for name in ("cli.toml", "env.toml", "notigate.toml"):
        (tmp_path / name).write_text("")

    def source(*args: str, **env: str) -> str:
        result = cli("check-config", *args, **env)
        assert result.exit_code == 0, result.output
        return result.stdout.rstrip().rpartition("(from ")[2].removesuffix(")")

    assert source("--config", "cli.toml", NOTIGATE_CONFIG="env.toml") == "cli.toml"
    assert source(NOTIGATE_CONFIG="env.toml") == "env.toml"
    assert source("--config", "", NOTIGATE_CONFIG="env.toml") == "env.toml"
    assert source(NOTIGATE_CONFIG="") == "notigate.toml"
    (tmp_path / "notigate.toml").unlink()
    assert source("--config", "", NOTIGATE_CONFIG="") == "the embedded default"


# -- disabled channels ----------------------------------------------------------------------------


def test_check_config_warns_about_a_rule_on_a_disabled_channel(cli: Invoke, tmp_path: Path) -> None:
    """A rule naming the channel of a disabled plugin draws a warning and passes; a channel that no
    installed plugin provides (a typo) is an error."""
    rule = '[[rules]]\nname = "on-call"\nsend = [{{ channel = "{}", to = ["+6281200000001"] }}]\n'
    (tmp_path / "notigate.toml").write_text('[plugins]\ndisabled = ["channel_sms"]\n' + rule.format("sms"))
    result = cli("check-config")
    assert result.exit_code == 0, result.output
    assert (
        "warning: rules[0].send[0].channel: channel 'sms' is switched off ([plugins] disabled: channel_sms); "
        "its deliveries are stored as cancelled"
    ) in result.stderr
    (tmp_path / "notigate.toml").write_text('[plugins]\ndisabled = ["channel_sms"]\n' + rule.format("smss"))
    result = cli("check-config")
    assert result.exit_code == 2
    assert "rules[0].send[0].channel: no enabled channel named 'smss'" in result.stderr


# -- failures are one line ------------------------------------------------------------------------

SECRET = "s3cret-pw"


def _fails_in_one_line(result: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    """Exit ``code``, ``line`` on stderr, no traceback, and the password of a URL nowhere."""
    assert result.returncode == code, result.stderr
    assert line in result.stderr.splitlines() or f"  {line}" in result.stderr.splitlines(), result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "code", "line"),
    [
        (
            f"postgresql://postgres:{SECRET}@127.0.0.1:1/x",
            1,
            "Error: database.url: cannot connect to 127.0.0.1:1 (connection refused)",
        ),
        (
            f"mysql://notigate:{SECRET}@127.0.0.1/x",
            2,
            "database.url: unsupported scheme 'mysql' (use postgresql:// or sqlite:///)",
        ),
        (
            "sqlite:///{tmp}/file/sub/notigate.db",
            1,
            "Error: database.url: cannot create {tmp}/file/sub (Not a directory)",
        ),
    ],
)
def test_migrate_with_a_bad_database_url_is_one_line(tmp_path: Path, url: str, code: int, line: str) -> None:
    """An unreachable PostgreSQL, an unknown scheme or a SQLite folder that cannot be created is one line."""
    (tmp_path / "file").write_text("")
    result = _run(["migrate"], tmp_path, NOTIGATE_DATABASE_URL=url.format(tmp=tmp_path))
    _fails_in_one_line(result, code, line.format(tmp=tmp_path))


async def test_serve_stops_in_one_line_when_the_database_cannot_be_used(tmp_path: Path, postgres_url: str) -> None:
    """``serve`` checks the database before it starts: unreachable, or its schema old, is one line."""
    result = _run(["serve"], tmp_path, NOTIGATE_DATABASE_URL=f"postgresql://postgres:{SECRET}@127.0.0.1:1/x")
    _fails_in_one_line(result, 1, "Error: database.url: cannot connect to 127.0.0.1:1 (connection refused)")
    result = _run(["serve"], tmp_path, NOTIGATE_DATABASE_URL=postgres_url)
    _fails_in_one_line(
        result, 1, f"Error: database.url: schema version 0 is older than {LATEST}; run `notigate migrate`"
    )


async def test_worker_stops_in_one_line_when_redis_or_the_database_cannot_be_used(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """``worker`` checks the database and Redis before it starts; either one unreachable is one line."""
    db = Database(postgres_url)
    await db.start()
    await migrate(db)
    await db.close()
    config = worker_config(tmp_path, postgres_url, f"redis://:{SECRET}@127.0.0.1:1/0", "unused", "http://127.0.0.1:9/")
    result = _run(["worker", "--config", str(config)], tmp_path)
    _fails_in_one_line(result, 1, "Error: queue.url: cannot connect to 127.0.0.1:1 (connection refused)")
    result = _run(
        ["worker", "--config", str(config)],
        tmp_path,
        NOTIGATE_QUEUE_URL=redis_url,
        NOTIGATE_DATABASE_URL=f"postgresql://postgres:{SECRET}@127.0.0.1:1/x",
    )
    _fails_in_one_line(result, 1, "Error: database.url: cannot connect to 127.0.0.1:1 (connection refused)")


@pytest.mark.parametrize("command", ["plugins", "check-config"])
def test_an_unreadable_config_file_is_one_line(tmp_path: Path, command: str) -> None:
    """A configuration path that cannot be read (here a folder, through NOTIGATE_CONFIG) is named with why."""
    result = _run([command], tmp_path, NOTIGATE_CONFIG=str(tmp_path))
    _fails_in_one_line(result, 2, f"{tmp_path}: cannot read it (Is a directory)")


def test_send_test_with_a_refused_key_is_one_line(tmp_path: Path) -> None:
    """A gateway that refuses ``send-test``'s key when it follows the notification is one line naming the answer."""
    port = free_port()
    server = _serve(tmp_path, port, NOTIGATE_API_KEY="the-servers-key-0123456789")
    try:
        result = _run(
            ["send-test", "arindo", "--url", f"http://127.0.0.1:{port}"],
            tmp_path,
            NOTIGATE_API_KEY="another-key-0123456789",
        )
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert "→ 200" in result.stdout
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: GET /api/v1/notifications/ntf_") and " → 401 " in line


# -- every problem in one run ---------------------------------------------------------------------

EVERYTHING_WRONG = """\
[server]
hostname = "x"

[delivery]
max_attempts = 0

[channels.email]
host = "127.0.0.1"
port = "twenty-five"

[platforms.arindo]
server_key = "${NT_UNSET_ARINDO_KEY}"

[[rules]]
name = "broken"
send = [{ channel = "webhook", to = ["hook"], lang = "id" }]

[[rules]]
name = "typo"
send = [{ channel = "pigeon", to = ["x"] }]

[[rules]]
name = "bad locale"
send = [{ channel = "webhook", to = ["hook"], locale = "xx_YY" }]

[[webhooks]]
name = "hook"
url = "https://hook.example"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""


def test_check_config_reports_every_problem_in_one_run(tmp_path: Path) -> None:
    """Broken sections, a broken plugin section, rule problems and a plugin that fails to load
    are all listed in one run, one line each naming its key, though some sections are invalid."""
    dist = tmp_path / "site" / "notigate_broken_probe-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: notigate-broken-probe\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[notigate]\nbroken_probe = notigate_no_such_module\n")
    (tmp_path / "notigate.toml").write_text(EVERYTHING_WRONG)
    result = _run(["check-config"], tmp_path, PYTHONPATH=str(tmp_path / "site"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("  ")] == [
        "  platforms.arindo.server_key: environment variable NT_UNSET_ARINDO_KEY is not set",
        "  server.hostname: unknown key",
        "  delivery.max_attempts: Expected `int` >= 1",
        "  rules[0].send[0].lang: unknown key",
        "  channels.email.port: Expected `int`, got `str`",
        "  rules[1].send[0].channel: no enabled channel named 'pigeon'",
        "  rules[2].send[0].locale: unknown locale 'xx_YY' (expected a tag such as 'en', 'id' or 'en_US')",
    ]
    assert any(line.startswith("warning: plugin 'broken_probe' failed to load: ModuleNotFoundError") for line in lines)
