"""Everything that imports Qt: the scheduler worker, the tray, notifications, windows.

The layers below (`core`, `store`, `llm`) never import this package.
"""
