"""Providers: one module per vendor, all behind ``aiguillage.providers.base.Provider``."""

from aiguillage.providers.base import Provider, known_providers, load_provider_class

__all__ = ["Provider", "known_providers", "load_provider_class"]
