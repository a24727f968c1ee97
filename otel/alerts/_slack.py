"""Alerts as Slack messages, through ``slack_sdk``'s ``chat.postMessage``.

The message is one attachment whose colour bar says the severity, holding Block Kit blocks: a header,
the message, the facts an on-call engineer asks first (service, environment, route, exception, how
often) and a link to the trace. Everything taken from the alert is scrubbed again and escaped, so no
text from a request can post a credential, ping ``@channel`` or disguise a link.
"""

from __future__ import annotations

import http.client
import logging
from typing import Any, Final
from urllib.parse import quote

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from otel.alerts._model import Alert, DeliveryError, Severity
from otel.alerts._scrub import scrub

DEFAULT_API_URL: Final = "https://slack.com/api/"

COLOURS: Final = {
    Severity.CRITICAL: "#D40E0D",  # red
    Severity.ERROR: "#E8912D",  # orange
    Severity.WARNING: "#ECB22E",  # yellow
    Severity.INFO: "#439FE0",  # blue
}
_EMOJI: Final = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.ERROR: ":red_circle:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}
# Block Kit limits: a header holds 150 characters, a section 3,000, a section field 2,000.
_MAX_HEADER: Final = 150
_MAX_SECTION: Final = 2_900
_MAX_FIELD: Final = 1_900
# Slack errors that say "later", not "never"; any other ``ok: false`` is a configuration problem.
_TRANSIENT: Final = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def escape(text: str) -> str:
    """Text as Slack shows it literally: no ``<!channel>``, ``<@U123>`` or ``<https://x|label>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(value: str, limit: int) -> str:
    """User text, scrubbed, escaped and cut to ``limit`` characters (Slack refuses longer blocks)."""
    text = escape(scrub(value))
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if (amp := cut.rfind("&")) != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # never leave half an entity such as "&am"
    return cut + "…"


def _code(value: str) -> str:
    # A backtick in the value would end the code span early; it cannot do more harm than that.
    return "`" + _text(value.replace("`", "'"), 200) + "`"


def _link(url: str, label: str) -> str | None:
    """A mrkdwn link to a web page, or None when ``url`` is not one (Slack rejects the whole message)."""
    if not url.startswith(("https://", "http://")) or len(url) > 3_000:
        return None
    # "|" and ">" would end the URL part of <url|label>; percent-encoding keeps the address intact.
    safe = quote(scrub(url), safe=":/?#[]@!$&'()*+,;=%~")
    return f"<{escape(safe)}|{escape(label)}>"


def render(alert: Alert) -> tuple[str, list[dict[str, Any]]]:
    """The notification text and the coloured attachment for ``alert``."""
    severity = alert.severity.value.upper()
    where = f"{_text(alert.service, 200)}, {_text(alert.environment, 100)}"
    fallback = f"{_EMOJI[alert.severity]} [{severity}] {_text(alert.title, _MAX_HEADER)} ({where})"

    fields = [f"*Service*\n{_text(alert.service, _MAX_FIELD)}", f"*Environment*\n{_text(alert.environment, 200)}"]
    if alert.route:
        fields.append(f"*Route*\n{_code(alert.route)}")
    if alert.exception_type:
        fields.append(f"*Exception*\n{_code(alert.exception_type)}")
    if alert.count > 1:
        fields.append(f"*Seen*\n{alert.count} times")
    fields.append(f"*Source*\n{_text(alert.source, 50)}")

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"[{severity}] {_text(alert.title, _MAX_HEADER - 12)}"},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _text(alert.message, _MAX_SECTION) or "(no message)"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": field} for field in fields]},
    ]
    trace = _trace_line(alert)
    if trace:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": trace}]})

    attachment = {"color": COLOURS[alert.severity], "fallback": fallback, "blocks": blocks}
    return fallback, [attachment]


def _trace_line(alert: Alert) -> str:
    parts = []
    if alert.trace_url and (link := _link(alert.trace_url, "Open trace")):
        parts.append(f":mag: *{link}*")
    if alert.trace_id:
        parts.append(f"trace {_code(alert.trace_id)}")
    if alert.span_id:
        parts.append(f"span {_code(alert.span_id)}")
    if alert.alert_id:
        parts.append(f"alert {_code(alert.alert_id)}")
    return " · ".join(parts)


class _ErrorsAsWarnings(logging.Filter):
    """slack_sdk logs a failed request at ERROR; here that is a delivery problem the dispatcher reports.

    Left at ERROR, the record would reach the alert log handler and raise an alert about alerting.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


_SDK_LOGGER: Final = f"{__name__}.sdk"
_DEMOTE: Final = _ErrorsAsWarnings()


def _sdk_logger() -> logging.Logger:
    sdk_logger = logging.getLogger(_SDK_LOGGER)
    if _DEMOTE not in sdk_logger.filters:
        sdk_logger.addFilter(_DEMOTE)
    return sdk_logger


class SlackChannel:
    """Posts each alert to one Slack channel; ``api_url`` points it at any Slack-compatible server."""

    name = "slack"

    def __init__(self, *, token: str, channel: str, api_url: str = DEFAULT_API_URL, timeout_s: float = 5.0) -> None:
        self._channel = channel
        self._client = WebClient(
            token=token,
            base_url=api_url,
            timeout=timeout_s,  # type: ignore[arg-type]  # urllib takes float seconds; the annotation is narrower
            logger=_sdk_logger(),
            # The dispatcher retries with backoff; the SDK's handlers would sleep on its worker thread.
            retry_handlers=[],
        )

    def send(self, alert: Alert) -> None:
        text, attachments = render(alert)
        try:
            self._client.chat_postMessage(
                channel=self._channel, text=text, attachments=attachments, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            raise _refused(exc) from exc
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused and dropped connections
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}") from exc
        except SlackClientError as exc:  # a malformed request or URL: trying again will not help
            raise DeliveryError(f"slack client error: {type(exc).__name__}", retryable=False) from exc

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""


def _refused(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = response.status_code
    error = response.data.get("error") if isinstance(response.data, dict) else None
    reason = f"HTTP {status}, {str(error)[:100]}" if error else f"HTTP {status}"
    if status == 429 or error in {"ratelimited", "rate_limited"}:
        return DeliveryError(f"slack rate limited: {reason}", retry_after=_retry_after(response.headers))
    if status >= 500 or status == 408 or error in _TRANSIENT:
        return DeliveryError(f"slack failed: {reason}")
    return DeliveryError(f"slack refused the message: {reason}", retryable=False)


def _retry_after(headers: Any) -> float | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                return None
    return None
