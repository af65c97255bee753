"""`cdp privacy reapply` after a data-store restore: a live profile whose data key is gone (it was erased after
the backup was taken) is erased again; everyone else is left alone."""

from sqlalchemy import delete, select

from cdp.crypto.models import DataKey
from cdp.db import compliance_session, unit_of_work
from cdp.profiles.models import Identity, Profile


def _import_two(committed) -> None:
    path = committed.workdir / "people.csv"
    path.write_text(
        "id,email,first_name,last_name\n"
        "r1,olwen.brightwater@example.org,Olwen,Brightwater\n"
        "r2,tamsin.oakhurst@example.org,Tamsin,Oakhurst\n"
    )
    committed.cli("db", "upgrade")
    committed.cli("import", str(path), "--source", "crm", "--id-column", "id")


def test_reapply_previews_refuses_without_yes_then_erases_only_the_keyless_profile(committed):
    _import_two(committed)
    rt = committed.open_runtime()
    with unit_of_work(rt.stores) as s:
        gone, kept = sorted(s.scalars(select(Profile.id)).all())
        # What a restored data store looks like: the compliance store already destroyed `gone`'s key.
        compliance_session(s).execute(delete(DataKey).where(DataKey.subject_id == gone))

    preview = committed.cli("privacy", "reapply", "--dry-run")
    assert "would erase 1 profiles" in preview.stdout
    refused = committed.cli("privacy", "reapply", check=False)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    with unit_of_work(rt.stores) as s:
        assert s.get(Profile, gone).status != "erased"

    done = committed.cli("privacy", "reapply", "--yes")
    assert "erased 1 profiles again" in done.stdout
    with unit_of_work(rt.stores) as s:
        assert s.get(Profile, gone).status == "erased"
        assert s.scalars(select(Identity).where(Identity.profile_id == gone)).all() == []
        assert s.get(Profile, kept).status == "active"
        assert s.scalars(select(Identity).where(Identity.profile_id == kept)).all() != []
    assert "erased 0 profiles again" in committed.cli("privacy", "reapply", "--yes").stdout
    assert committed.cli("audit", "verify").stdout.startswith("ok:")
