"""APScheduler wiring: the tick and the outbox delivery loops."""
