"""Names vulture cannot see used: attributes set for a library to read (`make lint`)."""
# ruff: noqa: B018
# mypy: ignore-errors

from types import SimpleNamespace

_ = SimpleNamespace()
_.should_exit  # uvicorn.Server: tests and benchmarks stop their servers by setting it
_.compress_type  # zipfile.ZipInfo (bot/queries/evidence.py)
_.external_attr
_.font  # openpyxl cells and sheets (bot/queries/exports.py)
_.freeze_panes
_.pos  # bot.core.ports.Morpheme fields, read by the parser's rules and the benchmarks
_.reading
