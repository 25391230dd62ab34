"""`@pytest.mark.requires_capability(Capability.X, ...)`: the test needs a provider that
declares X in `capabilities`. Fixtures that start an app (tests.support.services.running_app
with their `request`) skip the test when the app's provider lacks one, naming it. Never by
provider name: a provider is whatever it declares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import pytest
from fastapi import FastAPI

from auth_backend.domain import Capability

MARKER = "requires_capability"


class Marked(Protocol):
    """What is asked of a test item: its markers (pytest.Item and pytest.Node have them)."""

    def iter_markers(self, name: str | None = None) -> Iterable[pytest.Mark]: ...


def required_capabilities(node: Marked) -> frozenset[Capability]:
    """Every capability the node's `requires_capability` markers name (closest marker first;
    all of them count). Anything but a Capability member is a mistake in the test."""
    required: set[Capability] = set()
    for mark in node.iter_markers(MARKER):
        if not mark.args:
            raise TypeError(f"@pytest.mark.{MARKER} needs at least one Capability")
        for capability in mark.args:
            if not isinstance(capability, Capability):
                raise TypeError(
                    f"@pytest.mark.{MARKER} takes Capability members, not {capability!r}"
                )
            required.add(capability)
    return frozenset(required)


def skip_reason(required: frozenset[Capability], offered: frozenset[Capability]) -> str | None:
    """Why a test needing `required` cannot run on a provider offering `offered`; None if it can."""
    missing = sorted(required - offered)
    if not missing:
        return None
    names = ", ".join(f"Capability.{capability.name}" for capability in missing)
    return f"the provider does not offer {names}"


def skip_unless_offered(node: Marked, app: FastAPI) -> None:
    """Skip the test when `app`'s provider lacks a capability its markers require."""
    offered: frozenset[Capability] = app.state.provider.capabilities
    reason = skip_reason(required_capabilities(node), offered)
    if reason is not None:
        pytest.skip(reason)
