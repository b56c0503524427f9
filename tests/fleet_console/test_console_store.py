"""The console's own database: the tables it shares in shape with a branch's (the reused user,
session and audit stores read them) have the branch's columns, and its config is checked."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from controller.config.settings import ConfigError
from controller.store.db import Database
from fleet_console.config import load_console_settings
from fleet_console.store.db import open_console_db

SHARED = ("users", "api_tokens", "web_sessions", "events")


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int, int]]:
    return [
        (r["name"], r["type"], r["notnull"], r["pk"]) for r in conn.execute(f"PRAGMA table_info({table})")
    ]


def test_the_tables_shared_with_a_branch_have_the_branch_columns(tmp_path: Path) -> None:
    console = open_console_db(tmp_path / "console")
    branch = Database(tmp_path / "branch" / "door.db")
    with closing(console.connect()) as mine, closing(branch.connect()) as theirs:
        for table in SHARED:
            assert columns(mine, table) == columns(theirs, table), table


def test_the_console_config_names_a_wrong_key_or_value(tmp_path: Path) -> None:
    path = tmp_path / "console.toml"
    path.write_text('[broker]\nhost = "mqtt.example.org"\nprot = 8883\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="broker.prot: unknown key"):
        load_console_settings(path)
    path.write_text('[broker]\ntopic_prefix = "a/b"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="broker.topic_prefix"):
        load_console_settings(path)
    path.write_text('[console]\nkey_file = "/etc/openplus-door/fleet.key"\n', encoding="utf-8")
    assert str(load_console_settings(path).console.key_file) == "/etc/openplus-door/fleet.key"
    with pytest.raises(ConfigError, match="cannot read"):
        load_console_settings(tmp_path / "missing.toml")
