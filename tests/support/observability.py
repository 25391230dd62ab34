"""Logs and metrics as the service emits them: JSON log lines captured in-process, and one
sample of a Prometheus exposition."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from auth_backend.observability.logging import JsonFormatter

LogLines = Callable[[], list[dict[str, Any]]]


@contextmanager
def captured_log_lines() -> Iterator[LogLines]:
    """Everything logged in-process at DEBUG and above, as the JSON lines a container writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)


@dataclass
class CapturedOutput:
    """What a formatter wrote, and the records it wrote it from."""

    stream: io.StringIO = field(default_factory=io.StringIO)
    records: list[logging.LogRecord] = field(default_factory=list)

    def text(self) -> str:
        return self.stream.getvalue()


class _RecordingHandler(logging.StreamHandler[io.StringIO]):
    def __init__(self, captured: CapturedOutput) -> None:
        super().__init__(captured.stream)
        self.captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        self.captured.records.append(record)
        super().emit(record)


@contextmanager
def captured_output(formatter: logging.Formatter) -> Iterator[CapturedOutput]:
    """Everything logged in-process at DEBUG and above, written by `formatter` exactly as
    the service writes it (console or JSON), with the records behind the text."""
    captured = CapturedOutput()
    handler = _RecordingHandler(captured)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)


def metric_sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text exposition; 0 when it is absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0
