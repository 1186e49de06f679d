"""What a `/nippo` command answers: messages, and maybe a form to open or a file to upload."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.slack import blocks as bk


@dataclass(frozen=True)
class Answer:
    messages: list[list[bk.Block]]
    text: str
    share: bool = False
    modal: bk.Block | None = None  # a form to open with the command's trigger_id
    upload: tuple[str, bytes, str] | None = None  # (filename, bytes, title) for the user's DM


def _say(text: str) -> Answer:
    return Answer([[bk.section(text)]], bk.clip(text, 3000))
