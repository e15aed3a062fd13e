"""Sync modes: one strategy each (``tasks.modes.base.Mode``); ``tasks.modes.registry.MODES`` names them."""
