"""Password policy and hashing."""

from __future__ import annotations

import asyncio

import bcrypt
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from auth_backend.errors import WeakPassword
from auth_backend.security.passwords import (
    PasswordHasher,
    _zxcvbn_passwords,
    check_password_policy,
    common_passwords,
    normalize_password,
)


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(workers=2)


async def test_new_hashes_are_argon2id_with_owasp_parameters(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await hasher.verify("correct horse", hashed)).valid
    assert not (await hasher.verify("correct horsE", hashed)).valid


async def test_same_password_hashes_differently(hasher: PasswordHasher) -> None:
    assert await hasher.hash("correct horse") != await hasher.hash("correct horse")


async def test_bcrypt_hashes_verify_and_are_upgraded(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    result = await hasher.verify("correct horse", legacy)
    assert result.valid
    assert result.upgraded_hash is not None and result.upgraded_hash.startswith("$argon2id$")
    assert not (await hasher.verify("wrong", legacy)).valid


async def test_overlong_password_against_bcrypt_is_a_mismatch_not_an_error(
    hasher: PasswordHasher,
) -> None:
    legacy = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    assert not (await hasher.verify("x" * 200, legacy)).valid


async def test_current_argon2_hashes_are_not_upgraded(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse")
    assert (await hasher.verify("correct horse", hashed)).upgraded_hash is None


async def test_hashing_does_not_block_the_event_loop(hasher: PasswordHasher) -> None:
    # If hashing ran on the loop, the ticker could not run while four hashes are computed.
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.002)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(hasher.hash(f"password-{i}") for i in range(4)))
    stop.set()
    await task
    assert ticks >= 10


def test_policy_counts_characters_and_bytes() -> None:
    check_password_policy("q7#mzv!x")
    check_password_policy("ü" * 36)  # 72 bytes
    with pytest.raises(WeakPassword, match="at least 8"):
        check_password_policy("1234567")
    with pytest.raises(WeakPassword, match="72 bytes"):
        check_password_policy("ü" * 37)


def test_nfkc_normalisation() -> None:
    assert normalize_password("ﬁne-Ⅸ") == "fine-IX"
    assert normalize_password("cafe\u0301") == "café"


@pytest.mark.parametrize(
    "password", ["password1", "PASSWORD1", "iloveyou", "qwertyuiop", "11111111"]
)
def test_common_passwords_are_refused_whatever_their_case(password: str) -> None:
    with pytest.raises(WeakPassword, match="most commonly used"):
        check_password_policy(password)


def test_the_common_password_list_is_large() -> None:
    assert len(common_passwords()) >= 10_000


@pytest.mark.parametrize(
    "password",
    ["🔐🔑🗝️🔒🔓🛡️⚔️🏰", "пароль-для-входа", "密码很长很长很长很长", "correct horse battery"],
)
def test_any_unicode_is_accepted(password: str) -> None:
    check_password_policy(normalize_password(password))


async def test_hashes_with_outdated_argon2_parameters_are_upgraded(hasher: PasswordHasher) -> None:
    old = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),)).hash(
        "correct horse"
    )
    result = await hasher.verify("correct horse", old)
    assert result.valid
    assert result.upgraded_hash is not None
    assert result.upgraded_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize(("memory_mib", "passes"), [(46, 1), (12, 3), (9, 4), (7, 5)])
async def test_each_owasp_configuration_hashes_with_its_own_parameters_and_upgrades_others(
    memory_mib: int, passes: int
) -> None:
    configured = PasswordHasher(workers=1, memory_mib=memory_mib)
    default = PasswordHasher(workers=1)
    try:
        hashed = await configured.hash("correct horse")
        assert hashed.startswith(f"$argon2id$v=19$m={memory_mib * 1024},t={passes},p=1$")
        assert (await configured.verify("correct horse", hashed)).upgraded_hash is None
        # A hash of the default configuration verifies and is replaced by one of this one.
        result = await configured.verify("correct horse", await default.hash("correct horse"))
        assert result.valid
        assert result.upgraded_hash is not None
        assert result.upgraded_hash.startswith(f"$argon2id$v=19$m={memory_mib * 1024},")
    finally:
        configured.close()
        default.close()


def test_only_owasp_configurations_are_accepted() -> None:
    with pytest.raises(ValueError, match="8 MiB"):
        PasswordHasher(workers=1, memory_mib=8)


def test_the_common_password_list_is_zxcvbns_without_importing_it() -> None:
    assert _zxcvbn_passwords() == FREQUENCY_LISTS["passwords"]
