"""What a client team writes first, through the Python SDK generated from the contract:
sign up, log in, read /me, and handle a 409 and a 401. Usage: python_client.py BASE_URL EMAIL

Run by tests/contract/test_sdks.py with the freshly generated `auth_backend_client` on
PYTHONPATH; it exits non-zero (an AssertionError) if any step does not go as documented.
"""

from __future__ import annotations

import sys

from auth_backend_client import AuthenticatedClient, Client
from auth_backend_client.api.auth import get_me, log_in, sign_up
from auth_backend_client.models import (
    LoginRequest,
    Metadata,
    Problem,
    SignUpRequest,
    TokenResponse,
    User,
)

PASSWORD = "python sdk password"


def main(base_url: str, email: str) -> None:
    client = Client(base_url=base_url, raise_on_unexpected_status=True)
    metadata = Metadata.from_dict({"sdk": "python"})

    created = sign_up.sync(client=client, body=SignUpRequest(email, PASSWORD, metadata))
    assert isinstance(created, User), created
    assert created.email == email and created.user_metadata["sdk"] == "python"

    duplicate = sign_up.sync_detailed(client=client, body=SignUpRequest(email, "other password"))
    assert duplicate.status_code == 409, duplicate.status_code
    assert isinstance(duplicate.parsed, Problem) and duplicate.parsed.code == "email_exists"

    tokens = log_in.sync(client=client, body=LoginRequest(email, PASSWORD))
    assert isinstance(tokens, TokenResponse), tokens
    assert tokens.token_type == "bearer" and tokens.user.id == created.id

    authenticated = AuthenticatedClient(base_url=base_url, token=tokens.access_token)
    me = get_me.sync(client=authenticated)
    assert isinstance(me, User) and me.id == created.id and me.email == email, me

    anonymous = get_me.sync_detailed(client=client)
    assert anonymous.status_code == 401, anonymous.status_code
    assert isinstance(anonymous.parsed, Problem) and anonymous.parsed.code == "invalid_token"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    print(f"python sdk ok: {me.email}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
