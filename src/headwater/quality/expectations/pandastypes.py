"""The pandas dtype GX's pandas back end would see for a column.

Files, Arrow tables and data frames are what users also validate with GX's pandas back end, so
type expectations on them report the pandas dtype (``int64``, ``float64``, ``object``, ``str``,
``bool``, ``datetime64[us]``...) as GX does, and keep DuckDB's type in ``details``:

* a pandas DataFrame: its own dtypes, exactly;
* Arrow tables, polars frames and files: the dtype pandas gives the column when it converts
  from Arrow (what ``pd.read_parquet`` and ``Table.to_pandas()`` give), with pandas' rule that an
  integer column holding nulls becomes ``float64`` and a boolean one ``object``;
* without pandas installed: a fixed table from DuckDB types (pandas 2's defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater.quality.expectations.typenames import base_type

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclass(frozen=True)
class PandasType:
    """``dtype`` is ``str(dtype)`` (what `expect_column_type_to_be` reports), ``scalar`` is
    ``dtype.type.__name__`` (what `expect_column_values_to_be_of_type` reports)."""

    dtype: str
    scalar: str
    with_nulls: PandasType | None = None  # what the column becomes when it holds nulls

    @property
    def temporal(self) -> bool:
        """A datetime64 column: its min/max of nothing is ``NaT``."""
        return self.dtype.startswith("datetime64")

    @property
    def floating(self) -> bool:
        return self.dtype.startswith(("float", "Float"))

    def resolve(self, has_nulls: bool) -> PandasType:
        return self.with_nulls if has_nulls and self.with_nulls is not None else self


FLOAT64 = PandasType("float64", "float64")
OBJECT = PandasType("object", "object_")


def _nullable(dtype: str, scalar: str) -> PandasType:
    """numpy integer and bool columns change dtype when pandas fills nulls in."""
    if dtype.startswith(("int", "uint")):
        return PandasType(dtype, scalar, FLOAT64)
    if dtype == "bool":
        return PandasType(dtype, scalar, OBJECT)
    return PandasType(dtype, scalar)


def of_dtype(dtype: object) -> PandasType:
    """The `PandasType` of a pandas/numpy dtype object."""
    return PandasType(str(dtype), getattr(getattr(dtype, "type", None), "__name__", str(dtype)))


def from_frame(frame: pd.DataFrame) -> dict[str, PandasType]:
    """A pandas DataFrame's own dtypes (already reflecting its nulls)."""
    return {str(name): of_dtype(dtype) for name, dtype in frame.dtypes.items()}


def from_arrow_schema(schema: pa.Schema) -> dict[str, PandasType] | None:
    """What pandas makes of each column of an Arrow schema; None without pandas."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return None
    frame = schema.empty_table().to_pandas()
    out = {}
    for name, dtype in frame.dtypes.items():
        found = of_dtype(dtype)
        out[str(name)] = _nullable(found.dtype, found.scalar)
    return out


_STATIC = {
    "TINYINT": "int8", "SMALLINT": "int16", "INTEGER": "int32", "BIGINT": "int64",
    "UTINYINT": "uint8", "USMALLINT": "uint16", "UINTEGER": "uint32", "UBIGINT": "uint64",
    "FLOAT": "float32", "DOUBLE": "float64", "BOOLEAN": "bool",
    "TIMESTAMP": "datetime64[us]", "TIMESTAMP_NS": "datetime64[ns]",
    "TIMESTAMP_MS": "datetime64[ms]", "TIMESTAMP_S": "datetime64[s]",
}  # fmt: skip


def from_duckdb_type(duckdb_type: str) -> PandasType:
    """pandas 2's dtype for a DuckDB type, for when pandas itself is not importable."""
    base = base_type(duckdb_type)
    if base == "TIMESTAMP WITH TIME ZONE":
        return PandasType("datetime64[us, UTC]", "Timestamp")
    dtype = _STATIC.get(base)
    if dtype is None:
        return OBJECT
    scalar = "datetime64" if dtype.startswith("datetime64") else dtype
    return _nullable(dtype, scalar)
