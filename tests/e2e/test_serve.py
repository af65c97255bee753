"""`cdp serve` as a user runs it: a real uvicorn process on a free port."""

import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(committed):
    committed.cli("db", "upgrade")
    token = committed.cli("keys", "create", "--role", "connector", "--name", "e2e").stdout.strip().split("\t")[2]
    sales = committed.cli("keys", "create", "--role", "sales", "--name", "e2e").stdout.strip().split("\t")[2]
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdp", "serve", "--port", str(port)],
        env=committed.env,
        cwd=committed.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")
    yield base, token, sales, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_served_api_answers_health_readiness_and_docs(server):
    base, _, _, _ = server
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    assert "swagger" in httpx.get(f"{base}/docs").text.lower()
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    for path in ("/v1/ingest/{source}", "/v1/profiles/{profile_id}", "/v1/profiles/search", "/v1/audit"):
        assert path in paths


def test_server_logs_carry_no_personal_data(server):
    base, connector, sales, proc = server
    canary = {"email": "pii-canary@example.test", "last_name": "Canaryson", "phone": "+44 20 7946 0777"}
    row = {"external_id": "canary-1", "observed_at": "2026-01-01T00:00:00Z", **canary}
    r = httpx.post(
        f"{base}/v1/ingest/crm",
        json=[row, {**row, "email": "pii-canary@@broken"}],
        headers={"Authorization": f"Bearer {connector}"},
    )
    assert r.status_code == 200
    pid = r.json()["results"][0]["profile_id"]
    httpx.post(
        f"{base}/v1/profiles/search", json={"email": canary["email"]}, headers={"Authorization": f"Bearer {sales}"}
    )
    httpx.get(f"{base}/v1/profiles/{pid}?email={canary['email']}", headers={"Authorization": f"Bearer {sales}"})
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert "http.request" in err and "/v1/profiles/{profile_id}" in err
    for needle in ("pii-canary", "Canaryson", "7946", pid):
        assert needle not in err
