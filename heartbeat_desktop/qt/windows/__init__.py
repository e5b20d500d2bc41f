"""The app's windows and dialogs (one module per window), and what only they use."""
