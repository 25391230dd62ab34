"""What the application's lifespan does to the process beyond opening the provider."""

from __future__ import annotations

import gc
from pathlib import Path

from tests.support.services import make_settings, running_app


async def test_startup_objects_are_frozen_out_of_the_collector_until_shutdown(
    tmp_path: Path,
) -> None:
    assert gc.get_freeze_count() == 0
    settings = make_settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}")
    async with running_app(settings) as (_app, client):
        # Everything alive at start-up (modules, app, provider) is out of full collections.
        assert gc.get_freeze_count() > 10_000
        assert (await client.get("/health")).status_code == 200
    # Shutdown hands them back, so a process that runs apps in turn can collect them.
    assert gc.get_freeze_count() == 0
