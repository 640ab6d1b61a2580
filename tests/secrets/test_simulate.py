"""`segue simulate` resolves `$secret` from the environment as the workers would, and
prints no secret, in JSON or as a table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engine.cli.simulate import run_simulate

WORKFLOW = """\
version: 1
input:
  token: {type: string, secret: true}
vars:
  auth: "Bearer <% $secret('api_key') %>"
tasks:
  call:
    action: core.echo
    input:
      header: <% $ctx.auth %>
      url: "https://h.example/x?key=<% $ctx.token %>"
      nested: '<% $string({"t": $ctx.token}) %>'
    next:
      - publish: {got: <% $result %>}
output: {got: <% $ctx.got %>}
"""
TOKEN = 'tok"en-1234'


def _simulate(tmp_path: Path, *, as_json: bool) -> tuple[int, str, str]:
    path = tmp_path / "w.yaml"
    path.write_text(WORKFLOW)
    out, err = io.StringIO(), io.StringIO()
    status = run_simulate(
        str(path),
        input_argument=json.dumps({"token": TOKEN}),
        mocks_file=None,
        as_json=as_json,
        out=out,
        err=err,
    )
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_simulate_uses_secrets_and_prints_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    monkeypatch.setenv("SEGUE_SECRET_API_KEY", "sk-live-999")
    status, out, _ = _simulate(tmp_path, as_json=as_json)
    assert status == 0
    for secret in ("sk-live-999", TOKEN, json.dumps(TOKEN)[1:-1], 'tok\\\\\\"en'):
        assert secret not in out
    assert "Bearer ***" in out and "key=***" in out


def test_simulate_names_a_missing_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGUE_SECRET_API_KEY", raising=False)
    monkeypatch.delenv("SEGUE_SECRETS_DIR", raising=False)
    status, out, err = _simulate(tmp_path, as_json=True)
    assert status == 2 and out == ""
    assert err == (
        "segue simulate: secret 'api_key' is not provided: set SEGUE_SECRET_API_KEY or "
        "SEGUE_SECRETS_DIR\n"
    )
