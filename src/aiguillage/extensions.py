"""Wires the optional-by-configuration parts (audit, accounting, inspection) into a Gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiguillage.gateway import Gateway


def build_extensions(gw: Gateway) -> None:
    return None
