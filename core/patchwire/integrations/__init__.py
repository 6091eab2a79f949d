"""Integrations shipped with the core distribution, each registered by entry point."""
