"""The plugin author's guide works: its plugin, in its own distribution, installed into a fresh
virtual environment next to the engine, is discovered, serves callbacks, and can be disabled."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import free_port

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "tests" / "fixtures" / "notigate-platform-acme"
GUIDE = ROOT / "docs" / "plugin-guide.md"
SECRET = "acme-test-secret"
KEY = "guide-test-admin-key-0123"


def _venv(path: Path) -> Path:
    """A throwaway virtual environment with the engine and the ACME plugin, from local paths."""
    uv = shutil.which("uv")
    python = path / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(path)], check=True, env=env)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), str(ROOT / "engine"), str(PLUGIN), "pytest"],
            check=True,
            env=env,
            timeout=600,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", str(ROOT / "engine"), str(PLUGIN), "pytest"],
            check=True,
            timeout=900,
        )
    return path / "bin"


def _config(folder: Path, disabled: list[str]) -> Path:
    path = folder / "notigate.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{folder / "notigate.db"}"

[plugins]
disabled = {json.dumps(disabled)}

[security]
api_keys = [{{ name = "t", key = "{KEY}", scopes = ["admin"] }}]

[platforms.acme]
secret = "{SECRET}"
""")
    return path


def _serve(bin_dir: Path, config: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [str(bin_dir / "notigate"), "serve", "--config", str(config), "--port", str(port)],
        cwd=config.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health/live")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post(base: str, events: list[dict[str, str]]) -> httpx.Response:
    body = json.dumps({"events": events}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{base}/api/v1/platforms/acme/callbacks",
        content=body,
        headers={"content-type": "application/json", "x-acme-signature": signature},
    )


def _event(status: str) -> dict[str, str]:
    return {
        "id": str(uuid.uuid4()),
        "status": status,
        "amount": "10.00",
        "currency": "USD",
        "at": "2024-08-01T03:15:30Z",
        "order": "O-1",
    }


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("venv") / "env")


def test_guide_shows_the_plugin_that_is_tested() -> None:
    """Every file of the tested plugin appears verbatim in the guide."""
    guide = GUIDE.read_text()
    for path in [
        PLUGIN / "pyproject.toml",
        *sorted((PLUGIN / "notigate_platform_acme").glob("*.py")),
        *sorted((PLUGIN / "tests").glob("*.py")),
    ]:
        assert path.read_text().strip() in guide, f"{path.name} differs from the guide"


def test_the_kit_contract_passes_in_the_fresh_environment(bin_dir: Path, tmp_path: Path) -> None:
    """The guide's contract test, run by pytest in the plugin's own environment, finds the kit's
    pytest plugin and passes every check against the installed plugin."""
    run = subprocess.run(
        [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_installed_plugin_is_listed(bin_dir: Path, tmp_path: Path) -> None:
    """`notigate plugins` in the fresh environment lists the ACME plugin from its own distribution."""
    out = subprocess.run(
        [str(bin_dir / "notigate"), "plugins", "--config", str(_config(tmp_path, []))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = next(line for line in out.splitlines() if line.startswith("platform_acme"))
    assert "notigate-platform-acme" in row and "enabled" in row


def test_batches_heartbeats_and_disabling(bin_dir: Path, tmp_path: Path) -> None:
    """A batch becomes several notifications, an empty heartbeat none; disabled, the route is 404."""
    for base in _serve(bin_dir, _config(tmp_path, [])):
        batch = _post(base, [_event("declined"), _event("paid")])
        assert batch.status_code == 200
        ids = batch.headers["notigate-notification-ids"].split(",")
        assert len(ids) == 2
        heartbeat = _post(base, [])
        assert heartbeat.status_code == 200 and "notigate-notification-ids" not in heartbeat.headers
        listing = httpx.get(f"{base}/api/v1/notifications", headers={"X-API-Key": KEY}).json()["items"]
        assert sorted(n["code"] for n in listing) == ["card_declined", "payment_succeeded"]
        assert {n["id"] for n in listing} == set(ids)
        bad = httpx.post(
            f"{base}/api/v1/platforms/acme/callbacks",
            content=b'{"events": []}',
            headers={"content-type": "application/json", "x-acme-signature": "0" * 64},
        )
        assert bad.status_code == 401
    for base in _serve(bin_dir, _config(tmp_path, ["platform_acme"])):
        assert _post(base, [_event("paid")]).status_code == 404
