"""The ``notigate`` command line, run as a user runs it (subprocesses in a fresh folder)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

NOTIGATE = [sys.executable, "-m", "notigate"]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOTIGATE_")}
    return subprocess.run([*NOTIGATE, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**clean, **env})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_config_prints_each_problem_with_its_key(tmp_path: Path) -> None:
    """check-config exits 2 and prints one line per problem, each naming its key."""
    (tmp_path / "notigate.toml").write_text(
        '[server]\nport = "eighty"\n'
    )
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
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOTIGATE_")}
    server = subprocess.Popen([*NOTIGATE, "serve", "--port", str(port)], cwd=tmp_path, env=clean,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        unknown = _run(["send-test", "paprika", "--code", "no_such_code", "--url", f"http://127.0.0.1:{port}"], tmp_path)
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
