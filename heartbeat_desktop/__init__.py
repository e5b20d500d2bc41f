"""Heartbeat Desktop: a tray app that gives a personal AI agent a heartbeat."""

__version__ = "0.1.0"
