"""Start-up skips Alembic when the schema is current: the head it reads must be Alembic's."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from auth_backend.store.migrations import SCRIPT_LOCATION, head_revision


def test_the_head_read_from_the_files_is_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()
