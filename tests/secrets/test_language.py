"""Declaring secrets in a workflow: `secret: true` inputs and `$secret('name')`, checked
at registration with precise errors, and resolved from the deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.language.loader import check_workflow, load_workflow
from engine.secret_source import SecretUnavailable, resolve_secrets

WORKFLOW = """
version: 1
input:
  token: {type: string, secret: true}
  plain: {type: string, default: x}
vars:
  auth: "Bearer <% $secret('api_key') %>"
tasks:
  call:
    action: core.echo
    input: {h: <% $ctx.auth %>, other: "<% $secret('db_password') & '!' %>"}
"""


def test_a_workflow_names_its_secrets_and_secret_inputs() -> None:
    spec = load_workflow(WORKFLOW, "w.yaml")
    assert spec.secrets == {"api_key", "db_password"}
    assert spec.secret_inputs == ("token",)


REFUSED = [
    ("input:\n  t: {secret: 'yes'}\n", "input 't': secret must be true or false, got 'yes'"),
    ("input: {}\n", None),
    ("x: <% $secret($ctx.name) %>", "$secret() takes one secret name in quotes"),
    ("x: <% $secret() %>", "$secret() takes one secret name in quotes"),
    ("x: <% $secret('a', 'b') %>", "$secret() takes one secret name in quotes"),
    ("x: <% $secret('../etc/passwd') %>", "secret name '../etc/passwd' is not letters"),
    ("x: <% $secret('') %>", "secret name '' is not letters"),
    # `$` of a pattern also matches before a final newline: the whole name must fit.
    ('x: <% $secret("tok\\n") %>', "secret name 'tok\\n' is not letters"),
    ("x: <% ($f := $secret; $f('a')) %>", "$secret() takes one secret name in quotes"),
]


@pytest.mark.parametrize(("fragment", "message"), REFUSED)
def test_misused_secrets_are_refused_at_registration(fragment: str, message: str | None) -> None:
    if fragment.startswith("input"):
        text = f"version: 1\n{fragment}tasks:\n  a: {{action: core.noop}}\n"
    else:
        text = f"version: 1\ntasks:\n  a:\n    action: core.echo\n    input:\n      {fragment}\n"
    messages = [d.message for d in check_workflow(text, "w.yaml").diagnostics]
    if message is None:
        assert messages == []
    else:
        assert any(message in m for m in messages), messages


def test_secrets_come_from_the_environment_then_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "db_password").write_text("from-a-file\n")
    (tmp_path / "api_key").write_text("the-file-loses")
    environ = {"SEGUE_SECRET_API_KEY": "from-env", "SEGUE_SECRETS_DIR": str(tmp_path)}
    assert resolve_secrets(["api_key", "db_password"], environ) == {
        "api_key": "from-env",
        "db_password": "from-a-file",
    }


UNUSABLE = [
    ({}, "secret 'api_key' is not provided: set SEGUE_SECRET_API_KEY or SEGUE_SECRETS_DIR"),
    ({"SEGUE_SECRET_API_KEY": "ab"}, "secret 'api_key' is 2 character(s) long"),
    ({"SEGUE_SECRET_API_KEY": "x" * 70_000}, "secret 'api_key' is over 64 KiB"),
]


@pytest.mark.parametrize(("environ", "message"), UNUSABLE)
def test_missing_or_unusable_secrets_say_which_and_why(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SecretUnavailable) as raised:
        resolve_secrets(["api_key"], environ)
    assert str(raised.value).startswith(message)


def test_a_missing_file_names_the_directory_and_binary_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretUnavailable, match="set SEGUE_SECRET_TOKEN or a file 'token' in"):
        resolve_secrets(["token"], {"SEGUE_SECRETS_DIR": str(tmp_path)})
    (tmp_path / "token").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SecretUnavailable, match="not UTF-8"):
        resolve_secrets(["token"], {"SEGUE_SECRETS_DIR": str(tmp_path)})
