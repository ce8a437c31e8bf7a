"""Validation results in Great Expectations' JSON shape."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from headwater.quality.expectations.config import ExpectationConfig


def to_json_value(value: Any) -> Any:
    """Plain JSON-serializable Python for a value DuckDB returned (dates → ISO strings, ...)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    return str(value)


def no_exception() -> dict[str, Any]:
    return {"raised_exception": False, "exception_traceback": None, "exception_message": None}


@dataclass
class ExpectationResult:
    """The outcome of one expectation: ``pass``, ``fail`` or ``error`` (could not be evaluated)."""

    config: ExpectationConfig
    success: bool | None
    result: dict[str, Any]
    exception_info: dict[str, Any] = field(default_factory=no_exception)
    outcome: str = "pass"
    unexpected_count: int | None = None
    element_count: int | None = None

    @classmethod
    def error(
        cls, config: ExpectationConfig, message: str, traceback: str | None = None
    ) -> ExpectationResult:
        return cls(
            config=config,
            success=False,
            result={},
            exception_info={
                "raised_exception": True,
                "exception_traceback": traceback,
                "exception_message": message,
            },
            outcome="error",
        )

    @property
    def blocking(self) -> bool:
        """A failed or errored critical expectation (stops write-audit-publish)."""
        return self.outcome != "pass" and self.config.severity == "critical"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "expectation_config": self.config.to_json_dict(),
            "result": to_json_value(self.result),
            "meta": {},
            "exception_info": dict(self.exception_info),
        }


@dataclass
class SuiteResult:
    """All results of one suite on one relation.

    ``success`` is headwater's notion: no *critical* expectation failed or errored, so warnings
    and infos never block. GX's suite success (every expectation succeeded, whatever its
    severity) is `gx_success`, and is what `to_json_dict` reports as ``success``.
    """

    results: list[ExpectationResult]
    suite_name: str
    extra_values: list[Any] = field(default_factory=list)
    row_count: int | None = None
    extra_errors: list[str | None] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking_failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if r.blocking]

    @property
    def success(self) -> bool:
        return not self.blocking_failures

    @property
    def gx_success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def statistics(self) -> dict[str, Any]:
        evaluated = len(self.results)
        successful = sum(1 for r in self.results if r.success)
        return {
            "evaluated_expectations": evaluated,
            "successful_expectations": successful,
            "unsuccessful_expectations": evaluated - successful,
            "success_percent": successful / evaluated * 100 if evaluated else None,
        }

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "success": self.gx_success,
            "results": [r.to_json_dict() for r in self.results],
            "suite_name": self.suite_name,
            "suite_parameters": {},
            "statistics": self.statistics,
            "meta": to_json_value(self.meta),
        }
