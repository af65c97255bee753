"""`cdp keys`: API keys (create, list, revoke) and master-key rotation."""

from typing import TYPE_CHECKING

import typer

from cdp.cli.context import runtime, session, settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cdp.auth.models import ApiKey
    from cdp.bootstrap import Runtime

app = typer.Typer(help="API keys and encryption key rotation.", no_args_is_help=True)


def create_audited_key(s: "Session", rt: "Runtime", *, name: str, role: str) -> tuple["ApiKey", str]:
    from cdp.audit.log import SYSTEM, append
    from cdp.auth.keys import create_key

    key, token = create_key(s, name=name, role=role, known_roles=set(rt.policies.access.roles))
    append(
        s, actor=SYSTEM, action="api_key.created", resource_type="api_key", resource_id=key.id, details={"role": role}
    )
    return key, token


@app.command()
def create(
    role: str = typer.Option(..., help="connector, marketing, sales, compliance or admin"),
    name: str = typer.Option(..., help="Who or what uses this key"),
) -> None:
    """Create an API key. The token is printed once; only its hash is stored."""
    with session() as (rt, s):
        key, token = create_audited_key(s, rt, name=name, role=role)
    typer.echo(f"{key.id}\t{key.role}\t{token}")
    typer.echo("store the token now: it is not shown again", err=True)


@app.command("list")
def list_() -> None:
    """List API keys (never their tokens)."""
    from cdp.auth.keys import list_keys

    with session() as (_, s):
        for key in list_keys(s):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            typer.echo(f"{key.id}\t{key.role}\t{state}\t{key.created_at:%Y-%m-%d}\t{key.name}")


@app.command()
def revoke(key_id: str) -> None:
    """Revoke an API key at once."""
    from cdp.audit.log import SYSTEM, append
    from cdp.auth.keys import revoke_key

    with session() as (_, s):
        key = revoke_key(s, key_id)
        append(s, actor=SYSTEM, action="api_key.revoked", resource_type="api_key", resource_id=key.id)
    typer.echo(f"revoked {key_id}")


@app.command()
def rotate(
    new_key: bool = typer.Option(True, "--new-key/--rewrap-only", help="Add a fresh master key to the key file first"),
    retire: bool = typer.Option(False, help="Remove master keys that no longer wrap any data key"),
    batch: int = typer.Option(500, min=1, help="Data keys rewrapped per transaction"),
) -> None:
    """Rewrap every data key under the active master key, in small transactions (no downtime).

    With keys in the key file, a new master key is added and made active first. With keys from
    CDP_MASTER_KEYS, put the new key first in the variable, restart, then run `--rewrap-only`.
    """
    from cdp.crypto import keyring as kr
    from cdp.crypto.envelope import master_keys_in_use, rewrap_batch
    from cdp.db import unit_of_work

    s = settings()
    from_env = s.master_keys is not None
    if new_key and not from_env:
        if not s.key_file.exists():
            typer.echo("error: no key file yet; run any command once to create it", err=True)
            raise typer.Exit(1)
        typer.echo(f"new active master key {kr.add_master_key(s.key_file)}")
    total = 0
    with runtime() as rt:
        while True:
            with unit_of_work(rt.stores) as data:
                from cdp.db import compliance_session

                done = rewrap_batch(compliance_session(data), rt.keyring, limit=batch)
            total += done
            if done:
                typer.echo(f"rewrapped {total} data keys", err=True)
            if done < batch:
                break
        with unit_of_work(rt.stores) as data:
            from cdp.audit.log import SYSTEM, append
            from cdp.db import compliance_session

            in_use = master_keys_in_use(compliance_session(data))
            append(
                data,
                actor=SYSTEM,
                action="keys.rotated",
                resource_type="keyring",
                resource_id=rt.keyring.active_master_id,
                details={"rewrapped": total},
            )
    typer.echo(f"rewrapped {total} data keys under {rt.keyring.active_master_id}")
    if retire and not from_env:
        retired = kr.retire_master_keys(s.key_file, keep=in_use | {rt.keyring.active_master_id})
        typer.echo(f"retired master keys: {', '.join(retired) or 'none'}")
