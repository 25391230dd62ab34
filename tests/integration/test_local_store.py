"""The local store: migrations, signing keys across restarts and replicas, rehashing."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import bcrypt
import httpx
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from auth_backend.providers.local import LocalProvider
from auth_backend.store.schema import metadata, users
from tests.support.accounts import PASSWORD, unique_email
from tests.support.services import make_settings, running_app


async def test_migrations_create_exactly_the_declared_schema(database_url: str) -> None:
    async with running_app(make_settings(database_url=database_url)) as (app, _client):
        provider: LocalProvider = app.state.provider
        async with provider.database.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    assert differences == []


async def test_signing_key_survives_a_restart(database_url: str) -> None:
    email = unique_email()
    settings = make_settings(database_url=database_url)
    async with running_app(settings) as (_app, client):
        await client.post("/signup", json={"email": email, "password": PASSWORD})
        token = (await client.post("/login", json={"email": email, "password": PASSWORD})).json()[
            "access_token"
        ]
        keys_before = (await client.get("/.well-known/jwks.json")).json()
    async with running_app(settings) as (_app, client):
        assert (await client.get("/.well-known/jwks.json")).json() == keys_before
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


async def test_replicas_starting_together_agree_on_the_signing_key(database_url: str) -> None:
    settings = make_settings(database_url=database_url)
    async with AsyncExitStack() as stack:
        replicas = await asyncio.gather(
            *(stack.enter_async_context(running_app(settings)) for _ in range(3))
        )
        clients: list[httpx.AsyncClient] = [client for _app, client in replicas]
        email = unique_email()
        await clients[0].post("/signup", json={"email": email, "password": PASSWORD})
        tokens = [
            (await c.post("/login", json={"email": email, "password": PASSWORD})).json()[
                "access_token"
            ]
            for c in clients
        ]
        for token in tokens:
            for client in clients:
                response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200


async def test_bcrypt_hashes_from_supabase_are_upgraded_on_login(database_url: str) -> None:
    email = unique_email("imported")
    async with running_app(make_settings(database_url=database_url)) as (app, client):
        assert (
            await client.post("/signup", json={"email": email, "password": "placeholder-1"})
        ).status_code == 201
        provider: LocalProvider = app.state.provider
        legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        async with provider.database.engine.begin() as connection:
            await connection.execute(
                users.update().where(users.c.email == email).values(password_hash=legacy)
            )

        assert (
            await client.post("/login", json={"email": email, "password": PASSWORD})
        ).status_code == 200

        async with provider.database.engine.connect() as connection:
            stored = (
                await connection.execute(
                    sa.select(users.c.password_hash).where(users.c.email == email)
                )
            ).scalar_one()
        assert stored.startswith("$argon2id$")
        assert (
            await client.post("/login", json={"email": email, "password": PASSWORD})
        ).status_code == 200


async def test_a_new_argon2_configuration_takes_over_each_hash_at_its_next_login(
    database_url: str,
) -> None:
    email = unique_email("reconfigured")
    credentials = {"email": email, "password": PASSWORD}

    async def stored_hash(provider: LocalProvider) -> str:
        async with provider.database.engine.connect() as connection:
            query = sa.select(users.c.password_hash).where(users.c.email == email)
            return str((await connection.execute(query)).scalar_one())

    async with running_app(make_settings(database_url=database_url)) as (app, client):
        assert (await client.post("/signup", json=credentials)).status_code == 201
        assert (await stored_hash(app.state.provider)).startswith("$argon2id$v=19$m=19456,t=2,")
    settings = make_settings(database_url=database_url, argon2_memory_mib=7)
    async with running_app(settings) as (app, client):
        assert (await client.post("/login", json=credentials)).status_code == 200
        assert (await stored_hash(app.state.provider)).startswith("$argon2id$v=19$m=7168,t=5,")
        assert (await client.post("/login", json=credentials)).status_code == 200
        wrong = {**credentials, "password": "not the password"}
        assert (await client.post("/login", json=wrong)).status_code == 401


async def test_concurrent_signups_of_one_email_create_one_account(database_url: str) -> None:
    email = unique_email("race")
    async with running_app(make_settings(database_url=database_url)) as (_app, client):
        responses = await asyncio.gather(
            *(client.post("/signup", json={"email": email, "password": PASSWORD}) for _ in range(5))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409]
