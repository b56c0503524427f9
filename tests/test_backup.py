"""Backups and restores: the database, PIN key and config in one archive, refused when they
cannot be put back whole, and the door process's daily job keeping N."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.config.settings import Settings, parse_settings
from controller.domain.events import Event, EventType
from controller.services import file_swap, sealed
from controller.services.backup import (
    BackupError,
    create_backup,
    daily_backup,
    run_daily_backup,
)
from controller.services.restore import restore_backup
from controller.services.runtime import DB_FILE, PIN_KEY_FILE, Runtime
from controller.store.db import SCHEMA_VERSION
from tests.conftest import FakeClock
from tests.helpers import add_member

PASSPHRASE = b"correct horse battery staple"


def table_rows(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table (but the audit lines backups add), for comparing two databases."""
    with closing(sqlite3.connect(db)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            t: conn.execute(
                f"SELECT * FROM {t} ORDER BY 1"
                if t != "events"
                else "SELECT * FROM events WHERE reason NOT LIKE 'backup %' ORDER BY 1"
            ).fetchall()
            for t in tables
        }


@pytest.fixture
def filled(runtime: Runtime, clock: FakeClock) -> Runtime:
    """Two members with PINs and an event, on the runtime's data directory."""
    add_member(runtime, 1)
    add_member(runtime, 2, display_name="Ä. van Dĳk")
    with closing(runtime.connection()) as conn:
        runtime.events(conn).record(
            Event(
                type=EventType.ACCESS_GRANTED, at=clock(), door="main", member_ref="P00001", card_hint="0001"
            )
        )
    return runtime


@pytest.fixture
def config_file(tmp_path: Path, settings: Settings) -> Path:
    path = tmp_path / "etc" / "openplus-door.toml"
    path.parent.mkdir()
    path.write_text(f'[storage]\ndata_dir = "{settings.data_dir}"\n[branch]\nname = "Beilen"\n')
    return path


def test_round_trip_gives_back_the_same_data_key_and_config(filled, settings, config_file, tmp_path, clock):
    data = settings.data_dir
    before, key_before = table_rows(data / DB_FILE), (data / PIN_KEY_FILE).read_bytes()
    archive = tmp_path / "b.tar.gz"
    manifest = create_backup(settings, config_file, archive, clock=clock)
    assert manifest.schema_version == SCHEMA_VERSION
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    # Everything changes afterwards: a member goes, the key and the config are replaced.
    with closing(filled.connection()) as conn:
        filled.members(conn).remove("P00002")
    (data / PIN_KEY_FILE).write_bytes(os.urandom(32))
    config_file.write_text("# emptied\n")

    done = restore_backup(settings, config_file, archive, clock=clock, actor="test")

    assert table_rows(data / DB_FILE) == before
    assert (data / PIN_KEY_FILE).read_bytes() == key_before
    assert "Beilen" in config_file.read_text()
    assert (data / (PIN_KEY_FILE + ".before-restore")).read_bytes() != key_before
    assert config_file.with_name("openplus-door.toml.before-restore").read_text() == "# emptied\n"
    assert len(done.kept) == 3
    # The restored controller opens and checks PINs with its key.
    runtime = Runtime.open(settings, clock=clock)
    with closing(runtime.connection()) as conn:
        member = runtime.members(conn).get("P00002")
        assert member is not None and runtime.hasher.verify("1234", member.pin_salt, member.pin_hash)
        audit = conn.execute("SELECT actor FROM events WHERE reason = 'backup restored'").fetchall()
    assert [tuple(r) for r in audit] == [("test",)]


def test_encrypted_round_trip_and_wrong_passphrase_refused(filled, settings, tmp_path, clock):
    archive = tmp_path / "b.tar.gz.enc"
    create_backup(settings, None, archive, PASSPHRASE, clock=clock)
    assert b"P00001" not in archive.read_bytes()
    with pytest.raises(BackupError, match="wrong passphrase"):
        restore_backup(settings, None, archive, b"not the passphrase")
    with pytest.raises(BackupError, match="encrypted: give its --passphrase-file"):
        restore_backup(settings, None, archive)
    before = table_rows(settings.data_dir / DB_FILE)
    restore_backup(settings, None, archive, PASSPHRASE)
    assert table_rows(settings.data_dir / DB_FILE) == before


def test_a_cut_off_encrypted_archive_is_refused(filled, settings, tmp_path, clock, monkeypatch):
    monkeypatch.setattr(sealed, "CHUNK", 512)  # several chunks without a large database
    archive = tmp_path / "b.enc"
    create_backup(settings, None, archive, PASSPHRASE, clock=clock)
    data = archive.read_bytes()
    assert len(data) > 3 * 512
    archive.write_bytes(data[: 50 + 2 * (4 + 512 + 16)])  # whole chunks, but not the last one
    with pytest.raises(BackupError, match="cut off|damaged"):
        restore_backup(settings, None, archive, PASSPHRASE)
    archive.write_bytes(data[:-1])
    with pytest.raises(BackupError, match="cut off|damaged"):
        restore_backup(settings, None, archive, PASSPHRASE)


def test_a_key_that_is_not_the_databases_is_refused(filled, settings, tmp_path, clock):
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, None, archive, clock=clock)
    # The same archive, with another key in it (and a manifest that agrees with that key).
    forged = forge(archive, tmp_path, pin_key=os.urandom(32))
    before = table_rows(settings.data_dir / DB_FILE)
    with pytest.raises(BackupError, match="pin.key is not the key its database's PINs were hashed with"):
        restore_backup(settings, None, forged)
    assert table_rows(settings.data_dir / DB_FILE) == before


def test_a_backup_from_a_newer_schema_is_refused(filled, settings, tmp_path, clock):
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, None, archive, clock=clock)
    forged = forge(archive, tmp_path, schema=SCHEMA_VERSION + 1)
    with pytest.raises(BackupError, match=rf"newer schema \({SCHEMA_VERSION + 1}\).*upgrade"):
        restore_backup(settings, None, forged)


def test_a_failure_midway_leaves_the_old_files(filled, settings, config_file, tmp_path, clock, monkeypatch):
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, config_file, archive, clock=clock)
    data = settings.data_dir
    with closing(filled.connection()) as conn:
        filled.members(conn).remove("P00002")
    (data / PIN_KEY_FILE).write_bytes(os.urandom(32))
    os.chmod(data / PIN_KEY_FILE, 0o600)
    config_file.write_text("# changed\n")
    before = (table_rows(data / DB_FILE), (data / PIN_KEY_FILE).read_bytes(), config_file.read_text())
    real_replace, calls = os.replace, []

    def fail_third(source, target):  # the database and the key are in; the config fails
        calls.append(target)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(file_swap.os, "replace", fail_third)
    with pytest.raises(OSError):
        restore_backup(settings, config_file, archive)
    monkeypatch.setattr(file_swap.os, "replace", real_replace)

    assert (table_rows(data / DB_FILE), (data / PIN_KEY_FILE).read_bytes(), config_file.read_text()) == before
    leftovers = [
        p.name
        for p in [*data.iterdir(), *config_file.parent.iterdir()]
        if "restore-tmp" in p.name or "rollback" in p.name or p.name.startswith(".openplus")
    ]
    assert leftovers == []


def test_a_database_in_use_is_refused(filled, settings, tmp_path, clock):
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, None, archive, clock=clock)
    with closing(filled.connection()) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM members").fetchone()  # a reader holds the WAL
        with closing(filled.connection()) as writer:
            writer.execute("INSERT INTO events (ts_ms, type, door) VALUES (1, 'service', 'x')")
        with pytest.raises(BackupError, match="in use: stop the door and web services"):
            restore_backup(settings, None, archive)
        conn.execute("ROLLBACK")


def test_daily_job_keeps_the_newest_n(filled, tmp_path, clock, monkeypatch):
    folder = tmp_path / "backups"
    settings = parse_settings(
        {"storage": {"data_dir": str(filled.settings.data_dir)}, "backup": {"dir": str(folder), "keep": 3}},
        "test",
    )
    (folder).mkdir()
    (folder / "notes.txt").write_text("not ours")
    made = []
    for day in range(1, 6):
        clock.now = datetime(2026, 11, day, 3, 30, tzinfo=UTC)
        made.append(daily_backup(settings, None, clock))
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted([*(p.name for p in made[-3:]), "notes.txt"])
    assert made[-1].name == "openplus-door-20261105T033000Z.tar.gz"


def test_daily_job_encrypts_with_its_passphrase_file(filled, tmp_path, clock):
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE.decode() + "\n")
    secret.chmod(0o644)
    settings = parse_settings(
        {
            "storage": {"data_dir": str(filled.settings.data_dir)},
            "backup": {"dir": str(tmp_path / "b"), "passphrase_file": str(secret)},
        },
        "test",
    )
    with pytest.raises(BackupError, match="readable by others.*chmod 600"):
        daily_backup(settings, None, clock)
    secret.chmod(0o600)
    out = daily_backup(settings, None, clock)
    assert out.name.endswith(".tar.gz.enc")
    restore_backup(settings, None, out, PASSPHRASE)


def test_run_daily_backup_logs_and_audits_a_failure_instead_of_raising(filled, tmp_path, clock):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    settings = parse_settings(
        {"storage": {"data_dir": str(filled.settings.data_dir)}, "backup": {"dir": str(blocked)}}, "test"
    )
    assert run_daily_backup(settings, clock) is None
    with closing(filled.connection()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE reason = 'backup failed'").fetchone()[0] == 1


def test_the_door_process_plans_the_daily_backup(tmp_path, clock, monkeypatch):
    from gpiozero.pins.mock import MockFactory

    from controller.domain.clock import to_local
    from controller.domain.schedule import Schedule
    from controller.door.branch import BranchService
    from controller.door.daily_jobs import BACKUP_TIMER
    from controller.sim.hardware import SimulatedHardware

    monkeypatch.delenv("OPENPLUS_DOOR_DATA_DIR", raising=False)
    settings = parse_settings(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "backup": {"dir": str(tmp_path / "b"), "at": "03:45"},
        },
        "test",
    )
    sim = SimulatedHardware.create(settings, MockFactory())
    service = BranchService(
        sim.settings, Schedule(), pin_factory=sim.factory, clock=clock, monotonic=clock.monotonic
    )
    try:
        service.daily.plan()
        planned = to_local(service.timers.pending()[BACKUP_TIMER])
        assert (planned.hour, planned.minute) == (3, 45) and planned > to_local(clock())
    finally:
        service.stop()
        sim.close()


def test_backup_section_refuses_the_dst_hour():
    with pytest.raises(Exception, match="daylight saving time"):
        parse_settings({"backup": {"at": "02:30"}}, "test")


def test_cli_backup_and_restore(filled, settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPLUS_DOOR_DATA_DIR", str(settings.data_dir))
    archive = tmp_path / "cli.tar.gz"
    assert main(["backup", "-o", str(archive)]) == 0
    assert "NOT encrypted" in capsys.readouterr().out
    assert main(["restore", str(archive)]) == 0
    assert "restored the backup made" in capsys.readouterr().out
    (tmp_path / "junk").write_bytes(b"not an archive")
    assert main(["restore", str(tmp_path / "junk")]) == 2
    assert "not restored" in capsys.readouterr().err


def forge(archive: Path, tmp_path: Path, pin_key: bytes | None = None, schema: int | None = None) -> Path:
    """A copy of a plain archive with another key or a database at another schema version,
    its manifest's checksums made to agree (as a careless or hostile copy would)."""
    import hashlib
    import io
    import json
    import tarfile

    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(files.pop("manifest.json"))
    if pin_key is not None:
        files["pin.key"] = pin_key
    if schema is not None:
        db = tmp_path / "forged.db"
        db.write_bytes(files[DB_FILE])
        with closing(sqlite3.connect(db)) as conn:
            conn.execute(f"PRAGMA user_version = {schema}")
            conn.commit()
        files[DB_FILE] = db.read_bytes()
        manifest["schema_version"] = schema
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    out = tmp_path / "forged.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for name, data in {"manifest.json": json.dumps(manifest).encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out
