"""Demo shop: raw-data generator and dbt-style template project."""

from __future__ import annotations

from pathlib import Path

from headwater.demo.generator import generate

PROJECT_TEMPLATE: Path = Path(__file__).parent / "project"

__all__ = ["PROJECT_TEMPLATE", "generate"]
