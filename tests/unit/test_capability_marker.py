"""`@pytest.mark.requires_capability`: a test is skipped, naming the capability, when the
provider of the app its fixture starts does not declare it; never by provider name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI

from auth_backend.domain import Capability
from tests.support.capabilities import required_capabilities, skip_reason, skip_unless_offered

EVERYTHING = frozenset(Capability)


class Node:
    """A test item's markers, as pytest.Item.iter_markers gives them."""

    def __init__(self, *marks: pytest.MarkDecorator) -> None:
        self.marks = [mark.mark for mark in marks]

    def iter_markers(self, name: str | None = None) -> list[pytest.Mark]:
        return [mark for mark in self.marks if name is None or mark.name == name]


def app_offering(*capabilities: Capability) -> FastAPI:
    app = FastAPI()
    app.state.provider = SimpleNamespace(name="local", capabilities=frozenset(capabilities))
    return app


def test_every_marker_counts() -> None:
    node = Node(
        pytest.mark.requires_capability(Capability.SESSIONS),
        pytest.mark.requires_capability(Capability.ACCOUNTS),
    )
    assert required_capabilities(node) == {Capability.ACCOUNTS, Capability.SESSIONS}
    assert required_capabilities(Node()) == frozenset()


@pytest.mark.parametrize("argument", ["sessions", None])
def test_only_capability_members_are_accepted(argument: object) -> None:
    marks = () if argument is None else (argument,)
    with pytest.raises(TypeError, match="requires_capability"):
        required_capabilities(Node(pytest.mark.requires_capability(*marks)))


def test_a_missing_capability_is_the_reason() -> None:
    required = frozenset({Capability.ACCOUNTS, Capability.SESSIONS})
    assert skip_reason(required, frozenset({Capability.ACCOUNTS})) == (
        "the provider does not offer Capability.SESSIONS"
    )
    assert skip_reason(required, frozenset()) == (
        "the provider does not offer Capability.ACCOUNTS, Capability.SESSIONS"
    )
    assert skip_reason(required, EVERYTHING) is None
    assert skip_reason(frozenset(), frozenset()) is None


def test_an_app_without_the_capability_skips_the_test() -> None:
    node = Node(pytest.mark.requires_capability(Capability.SESSIONS))
    with pytest.raises(pytest.skip.Exception, match=r"does not offer Capability\.SESSIONS"):
        skip_unless_offered(node, app_offering(Capability.ACCOUNTS))
    skip_unless_offered(node, app_offering(*EVERYTHING))  # offered: nothing raised


def test_the_service_fixture_skips_a_marked_test_on_a_provider_without_it(
    pytester: pytest.Pytester,
) -> None:
    """End to end: a fixture that starts an app through `running_app(..., request=request)`
    (as `service` does) on a provider that leaves SESSIONS out; the marked test is skipped
    with the capability in the reason, the unmarked one and the satisfied one run."""
    pytester.makeconftest(
        """
        from collections.abc import AsyncIterator

        import httpx
        import pytest

        from auth_backend.domain import Capability
        from auth_backend.providers.local import LocalProvider
        from tests.support.services import make_settings, running_app

        pytest_plugins = ["pytest_asyncio"]


        def pytest_configure(config):
            config.addinivalue_line("markers", "requires_capability(*capabilities): see support")


        @pytest.fixture
        async def service(request, tmp_path, monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
            monkeypatch.setattr(LocalProvider, "capabilities", frozenset({Capability.ACCOUNTS}))
            settings = make_settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}")
            async with running_app(settings, request=request) as (_app, client):
                yield client
        """
    )
    pytester.makepyfile(
        """
        import pytest

        from auth_backend.domain import Capability


        @pytest.mark.requires_capability(Capability.SESSIONS)
        async def test_refresh(service):
            raise AssertionError("must be skipped")


        @pytest.mark.requires_capability(Capability.ACCOUNTS)
        async def test_signup(service):
            assert (await service.get("/health")).status_code == 200


        async def test_unmarked(service):
            assert (await service.get("/health")).status_code == 200
        """
    )
    result = pytester.runpytest_inprocess(
        "-rs",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*the provider does not offer Capability.SESSIONS*"])
