"""The Qt-free, I/O-free heart of the app: domain types and rules.

Nothing here imports Qt, sqlite3 or an HTTP library; `store/` and `llm/` implement the small protocols in
`ports.py`, so a test or the CLI can run a whole heartbeat without a display.
"""
