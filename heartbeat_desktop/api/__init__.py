"""The local control API (the web heartbeat's endpoints, see docs/architecture.md), served by the running tray app."""
