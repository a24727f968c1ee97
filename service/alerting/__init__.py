"""The service's side of alerting: the database outbox, Alertmanager's webhook, and the wiring."""
