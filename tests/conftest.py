"""Fixtures shared by the cross-package tests."""

from __future__ import annotations

import pytest

from tests.node import Node, find_node


@pytest.fixture
def node() -> Node:
    """Node.js and npx for the official JavaScript client, or the test skipped saying why."""
    return find_node()
