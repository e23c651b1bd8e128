"""Shared fixtures: where the peers' example files are, and skipping when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PEERS = SHARED / "peers"


@pytest.fixture(scope="session")
def peers_dir() -> Path:
    """``../shared/peers`` beside the clone; tests that read it skip cleanly without it."""
    if not PEERS.is_dir():
        pytest.skip("../shared/peers is not present beside this clone")
    return PEERS
