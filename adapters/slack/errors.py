"""Reading Slack's error out of a failed Web API call, whatever body came back."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code ("channel_not_found", "ratelimited" …), or the HTTP status.

    Slack answers JSON, but a proxy or an outage in front of it may answer text/plain or
    HTML; slack_sdk then keeps the body as a string (or bytes), where `.get` would raise.
    """
    data = exc.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return str(exc.response.status_code)
