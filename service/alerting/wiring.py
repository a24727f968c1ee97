"""Starting and stopping alert delivery with the app: the dispatcher subscribes to the kit's alerts."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from otel import Telemetry
from otel.alerts import AlertDispatcher
from otel.alerts._channels import AlertChannelSettings, build_channels
from service.alerting.outbox import SqlAlertOutbox


def start_alerting(
    *, telemetry: Telemetry, session_factory: sessionmaker[Session], settings: AlertChannelSettings
) -> AlertDispatcher:
    """Deliveries left pending by an earlier process are picked up by the first poll."""
    channels = build_channels(settings)
    dispatcher = AlertDispatcher(
        outbox=SqlAlertOutbox(session_factory), channels=channels, settings=telemetry.alerts.settings
    )
    dispatcher.start()
    telemetry.alerts.subscribe(dispatcher.submit)
    return dispatcher


def stop_alerting(*, telemetry: Telemetry, dispatcher: AlertDispatcher) -> None:
    telemetry.alerts.unsubscribe(dispatcher.submit)
    dispatcher.stop()
