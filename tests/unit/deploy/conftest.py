"""Fixtures of the deploy tests: the shipped deployment files, and a copy to break."""

from __future__ import annotations

import copy

import pytest
from deploy_files import Sources, load_sources


@pytest.fixture(scope="session")
def shipped() -> Sources:
    """The deployment files as committed, parsed once; tests must not change them."""
    return load_sources()


@pytest.fixture
def broken(shipped: Sources) -> Sources:
    """A private copy of the shipped files for a test to break."""
    return copy.deepcopy(shipped)
