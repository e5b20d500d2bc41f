"""The app's Qt services: the scheduler, notifications, the model server's health, the single-instance
channel, background tasks and process signals. No window lives here."""
