"""Routes beyond chat completions: each is registered here onto the App's route table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiguillage.api.app import App


def register_routes(app: App) -> None:
    return None
