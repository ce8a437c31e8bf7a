"""Plans with one observed value: column types, aggregates, quantiles, distinct-value sets, the
most common value and table-level expectations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from headwater.quality.expectations.compiler import (
    MAX_DISTINCT_VALUES,
    MAX_RESULT_RECORDS,
    EvaluationError,
    Plan,
    ResultFormat,
    between,
    count_where,
    filtered,
    from_where,
    in_list,
    literal,
    q,
    where,
)
from headwater.quality.expectations.results import ExpectationResult, to_json_value
from headwater.quality.expectations.sqlsafety import BATCH_PLACEHOLDER, check_query
from headwater.quality.expectations.typenames import (
    INTEGER_TYPES,
    base_type,
    is_numeric,
    type_matches,
)

NAT = object()  # pandas' NaT: the min/max of no datetime64 values


class ColumnTypePlan(Plan):
    """Type expectations check the column's engine type (a PostgreSQL type through the DuckDB
    base type of the same meaning, `typenames`). ``observed_value`` is the type GX's back end
    reports: the engine's on SQL semantics, the pandas dtype on pandas semantics (DuckDB's stays
    in ``details.engine_type``)."""

    @property
    def name(self) -> str:
        column: str = self.config.kwargs["column"]
        return column

    def check(self) -> None:
        self.need_column(self.name)

    def metrics(self) -> dict[str, str]:
        if self.t.pandas and self.t.pandas_type(self.name).with_nulls is not None:
            return {"nulls": f"count(*) - count({q(self.name)})"}  # whole relation, as loaded
        return {}

    def observed(self, values: dict[str, Any]) -> str:
        ctype = self.t.columns[self.name]
        if not self.t.pandas:
            return ctype
        dtype = self.t.pandas_type(self.name).resolve(bool(values.get("nulls")))
        return dtype.dtype if self.config.type == "expect_column_type_to_be" else dtype.scalar

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        ctype = self.t.columns[self.name]
        if self.config.type == "expect_column_values_to_be_in_type_list":
            wanted = self.kw("type_list")
            success = wanted is None or any(type_matches(w, ctype, self.t.engine) for w in wanted)
        else:
            success = type_matches(self.kw("type_"), ctype, self.t.engine)
        result: dict[str, Any] = {"observed_value": self.observed(values)}
        if self.t.pandas:
            result["details"] = {"engine_type": ctype}
        return self.done(success, result, rf)


class AggregatePlan(Plan):
    """One observed value from the scan, checked against min_value/max_value."""

    STATS = {"min": "min({})", "max": "max({})", "mean": "avg({})", "median": "median({})",
             "sum": "sum({})", "stdev": "stddev_samp({})"}  # fmt: skip
    NUMERIC = ("mean", "sum", "stdev")

    @property
    def stat(self) -> str:
        return self.config.type.removeprefix("expect_column_").removesuffix("_to_be_between")

    @property
    def x(self) -> str:
        return q(self.config.kwargs["column"])

    def check(self) -> None:
        name = self.config.kwargs["column"]
        ctype = self.t.column_type(name)
        if (
            self.stat == "median"
            and "median" in self.t.fn.DIFFERENCES
            and ctype
            and not is_numeric(ctype)
        ):
            raise EvaluationError(
                f"{self.config.type} needs a numeric column on {self.t.engine} (its median is "
                f"percentile_cont); `{name}` is {ctype}"
            )
        self.need_column(name, "numeric" if self.stat in self.NUMERIC else None)

    def metrics(self) -> dict[str, str]:
        x = self.x
        if self.stat in ("median", "stdev"):
            fn = self.t.fn
            stat = fn.median(x) if self.stat == "median" else fn.stddev_samp(x)
            return {"observed": filtered(stat, self.cond)}
        if self.stat in self.STATS:
            return {"observed": filtered(self.STATS[self.stat].format(x), self.cond)}
        if self.stat == "unique_value_count":
            return {"observed": filtered(f"count(DISTINCT {x})", self.cond)}
        if self.stat == "proportion_of_unique_values":
            return {
                "distinct": filtered(f"count(DISTINCT {x})", self.cond),
                "nonnull": filtered(f"count({x})", self.cond),
            }
        return {"nonnull": filtered(f"count({x})", self.cond), "element": count_where(self.cond)}

    def observed(self, values: dict[str, Any]) -> Any:
        if self.stat == "proportion_of_unique_values":
            return values["distinct"] / values["nonnull"] if values["nonnull"] else 0.0
        if self.stat == "proportion_of_non_null_values":
            return (
                values["nonnull"] / values["element"] if values["element"] else 0
            )  # GX, any back end
        observed = values["observed"]
        if observed is None and self.t.pandas:
            return self.pandas_of_nothing()
        if self.stat == "sum" and isinstance(observed, Decimal) and self.integer_column():
            return int(observed)  # PostgreSQL sums integers as numeric; DuckDB as an integer
        return observed

    def integer_column(self) -> bool:
        ctype = self.t.column_type(self.config.kwargs["column"])
        return ctype is not None and base_type(ctype) in INTEGER_TYPES

    def pandas_of_nothing(self) -> Any:
        """What pandas gives for no values (empty input or all nulls): a sum of 0 (0.0 for a
        float column, as loaded), NaT for the min/max of a datetime64 column, else nothing."""
        name = self.config.kwargs["column"]
        dtype = self.t.pandas_type(name)
        if self.stat == "sum":
            if dtype.with_nulls is not None and dtype.with_nulls.floating:
                dtype = dtype.resolve(self.t.has_nulls(name))
            return 0.0 if dtype.floating else 0
        if self.stat in ("min", "max") and dtype.temporal:
            return NAT
        return None

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        observed = self.observed(values)
        lo, hi = self.kw("min_value"), self.kw("max_value")
        if observed is NAT:  # pandas: no bound holds for NaT, no bound at all passes
            success = lo is None and hi is None
            return self.done(success, {"observed_value": "NaT"}, rf)
        strict = bool(self.kw("strict_min")), bool(self.kw("strict_max"))
        success = between(observed, lo, hi, *strict)
        return self.done(success, {"observed_value": to_json_value(observed)}, rf)


class QuantilePlan(AggregatePlan):
    def metrics(self) -> dict[str, str]:
        quantiles = [float(v) for v in self.kw("quantile_ranges")["quantiles"]]
        return {"values": filtered(self.t.fn.quantiles_disc(self.x, quantiles), self.cond)}

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        ranges = self.kw("quantile_ranges")
        observed = values["values"] or [None] * len(ranges["quantiles"])
        details = [
            between(v, lo, hi, False, False)
            for v, (lo, hi) in zip(observed, ranges["value_ranges"], strict=True)
        ]
        result = {
            "observed_value": {
                "quantiles": list(ranges["quantiles"]),
                "values": to_json_value(observed),
            },
            "details": {"success_details": details},
        }
        return self.done(all(details), result, rf)


class DistinctSetPlan(AggregatePlan):
    """distinct values in / contain / equal a set; the verdict is computed in SQL, only the
    report of observed values is capped at MAX_DISTINCT_VALUES."""

    def metrics(self) -> dict[str, str]:
        x, ctype, fn = self.x, self.t.column_type(self.config.kwargs["column"]), self.t.fn
        values = list(self.kw("value_set"))
        nonnull = where(self.cond, f"{x} IS NOT NULL")
        grouped = (
            f"(SELECT {x} AS v, count(*) AS n {from_where(self.t.relation, nonnull)} "
            f"GROUP BY {x} ORDER BY {x} LIMIT {MAX_DISTINCT_VALUES}) AS c"
        )
        out: dict[str, str] = {}
        if fn.SUPPORTS_STRUCTS:  # one list of {value, count}
            pair = fn.struct_pack({"value": "v", "count": "n"})
            out["counts"] = f"(SELECT {fn.list_agg(pair, 'v')} FROM {grouped})"
        else:  # the values and their counts as two lists in the same order
            out["count_values"] = f"(SELECT {fn.list_agg('v', 'v')} FROM {grouped})"
            out["count_ns"] = f"(SELECT {fn.list_agg('n', 'v')} FROM {grouped})"
        out["n_distinct"] = filtered(f"count(DISTINCT {x})", self.cond)
        if not self.config.type.endswith("contain_set"):
            out["outside"] = filtered(
                f"count(DISTINCT {x})", where(nonnull, f"NOT ({in_list(x, values, ctype, fn)})")
            )
        if not self.config.type.endswith("be_in_set"):
            items = [v for v in values if v is not None]
            if items:
                cast = (
                    fn.sql_type("VARCHAR") if ctype is None or base_type(ctype) == "ENUM" else ctype
                )
                rows = ", ".join(f"(CAST({literal(v, ctype, fn)} AS {cast}))" for v in items)
                out["absent"] = (
                    f"(SELECT {fn.list_agg('s.v', 's.v', distinct=True)} FROM (VALUES {rows}) AS s(v) "
                    f"WHERE s.v NOT IN (SELECT {x} {from_where(self.t.relation, nonnull)}))"
                )
        return out

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        if "counts" in values:
            pairs = [(c["value"], c["count"]) for c in values["counts"] or []]
        else:
            pairs = list(zip(values["count_values"] or [], values["count_ns"] or [], strict=True))
        counts = [{"value": to_json_value(v), "count": int(n)} for v, n in pairs]
        absent = to_json_value(values.get("absent") or [])
        success = not values.get("outside") and not absent
        details: dict[str, Any] = {"value_counts": counts}
        if values["n_distinct"] > len(counts):
            details["value_counts_truncated"] = True
        if absent:
            details["missing_values"] = absent
        result = {"observed_value": [c["value"] for c in counts], "details": details}
        if rf.level != "BOOLEAN_ONLY":
            self.gx_counts(result, values, absent, rf)
        return self.done(success, result, rf)

    def gx_counts(
        self, result: dict[str, Any], values: dict[str, Any], absent: list[Any], rf: ResultFormat
    ) -> None:
        """GX 1.24's keys: ``unexpected_count`` (distinct values outside the set) with
        ``partial_unexpected_list`` for in/equal, ``missing_count`` (set values never seen) with
        ``partial_missing_list`` for contain/equal; the lists hold at most 20 values, sorted, and
        are left out when ``partial_unexpected_count`` is 0."""
        partial = rf.partial_count > 0
        if not self.config.type.endswith("contain_set"):
            outside = int(values.get("outside") or 0)
            result["unexpected_count"] = outside
            if partial:
                result["partial_unexpected_list"] = self.outside_values() if outside else []
        if not self.config.type.endswith("be_in_set"):
            result["missing_count"] = len(absent)
            if partial:
                result["partial_missing_list"] = absent[:MAX_DISTINCT_VALUES]

    def outside_values(self) -> list[Any]:
        x, ctype = self.x, self.t.column_type(self.config.kwargs["column"])
        test = in_list(x, list(self.kw("value_set")), ctype, self.t.fn)
        predicate = where(self.cond, f"{x} IS NOT NULL", f"NOT ({test})")
        assert self.t.execute is not None
        _, rows = self.t.execute(
            f"SELECT DISTINCT {x} {from_where(self.t.relation, predicate)} "
            f"ORDER BY 1 LIMIT {MAX_DISTINCT_VALUES}"
        )
        return [to_json_value(r[0]) for r in rows]


class MostCommonPlan(AggregatePlan):
    def metrics(self) -> dict[str, str]:
        x, ctype, fn = self.x, self.t.column_type(self.config.kwargs["column"]), self.t.fn
        grouped = (
            f"SELECT {x} AS v, count(*) AS n, max(count(*)) OVER () AS top "
            f"{from_where(self.t.relation, where(self.cond, f'{x} IS NOT NULL'))} GROUP BY {x}"
        )
        ranked = f"(SELECT v, row_number() OVER (ORDER BY v) AS rn FROM ({grouped}) AS g WHERE n = top) AS r"
        modes = f"{fn.list_agg('v', 'v')} FILTER (WHERE rn <= {MAX_DISTINCT_VALUES})"
        in_set = f"count(*) FILTER (WHERE {in_list('v', list(self.kw('value_set')), ctype, fn)})"
        if fn.SUPPORTS_STRUCTS:  # one struct: the modes, how many, how many in the set
            return {
                "modes": f"(SELECT {fn.struct_pack({'modes': modes, 'n': 'count(*)', 'in_set': in_set})} FROM {ranked})"
            }
        return {  # the modes, and [how many, how many in the set]
            "mode_list": f"(SELECT {modes} FROM {ranked})",
            "mode_counts": f"(SELECT ARRAY[count(*), {in_set}] FROM {ranked})",
        }

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        if "mode_counts" in values:
            n, in_set = values["mode_counts"] or (0, 0)
            values = {"modes": {"modes": values["mode_list"], "n": n, "in_set": in_set}}
        modes = values["modes"] or {"modes": [], "n": 0, "in_set": 0}
        if self.kw("ties_okay"):
            success = modes["in_set"] > 0
        else:
            success = modes["n"] == 1 and modes["in_set"] == 1
        return self.done(success, {"observed_value": to_json_value(modes["modes"] or [])}, rf)


class TablePlan(Plan):
    def metrics(self) -> dict[str, str]:
        kind = self.config.type
        if kind.startswith("expect_table_row_count"):
            out = {"rows": count_where(self.cond)}
            if kind.endswith("other_table"):
                out["other"] = (
                    f"(SELECT count(*) FROM {self.t.other_table(self.kw('other_table_name'))})"
                )
            return out
        if kind == "unexpected_rows_expectation":
            return {"rows": f"(SELECT count(*) FROM ({self.query()}) AS u)"}
        return {}

    def query(self) -> str:
        body = check_query(self.kw("unexpected_rows_query"))
        return body.replace(BATCH_PLACEHOLDER, self.t.relation)

    def result(self, values: dict[str, Any], rf: ResultFormat) -> ExpectationResult:
        kind, kw = self.config.type, self.kw
        columns = list(self.t.columns)
        result: dict[str, Any]
        if kind == "expect_table_row_count_to_be_between":
            success = between(
                values["rows"],
                kw("min_value"),
                kw("max_value"),
                bool(kw("strict_min")),
                bool(kw("strict_max")),
            )
            result = {"observed_value": values["rows"]}
        elif kind == "expect_table_row_count_to_equal":
            success, result = values["rows"] == kw("value"), {"observed_value": values["rows"]}
        elif kind == "expect_table_row_count_to_equal_other_table":
            success = values["rows"] == values["other"]
            result = {"observed_value": {"self": values["rows"], "other": values["other"]}}
        elif kind == "expect_table_column_count_to_be_between":
            success = between(
                len(columns),
                kw("min_value"),
                kw("max_value"),
                bool(kw("strict_min")),
                bool(kw("strict_max")),
            )
            result = {"observed_value": len(columns)}
        elif kind == "expect_table_column_count_to_equal":
            success, result = len(columns) == kw("value"), {"observed_value": len(columns)}
        elif kind == "expect_table_columns_to_match_set":
            success, result = self.match_set(columns)
        elif kind == "expect_table_columns_to_match_ordered_list":
            success, result = self.match_list(columns)
        elif kind == "expect_column_to_exist":
            name, index = kw("column"), kw("column_index")
            success = name in columns and (index is None or columns.index(name) == index)
            result = {}
        else:  # unexpected_rows_expectation
            success, result = values["rows"] == 0, {"observed_value": values["rows"]}
            if values["rows"] and rf.level != "BOOLEAN_ONLY":
                assert self.t.execute is not None
                limit = MAX_RESULT_RECORDS if rf.at_least("COMPLETE") else rf.partial_count
                names, rows = self.t.execute(f"SELECT * FROM ({self.query()}) AS u LIMIT {limit}")
                result["details"] = {
                    "unexpected_rows": [
                        dict(zip(names, map(to_json_value, r), strict=True)) for r in rows
                    ]
                }
        return self.done(bool(success), result, rf)

    def match_set(self, columns: list[str]) -> tuple[bool, dict[str, Any]]:
        """GX (every back end) reports the columns sorted, and only the non-empty mismatches."""
        wanted = self.kw("column_set")
        result: dict[str, Any] = {"observed_value": sorted(columns)}
        if wanted is None:
            return True, result
        unexpected = sorted(c for c in set(columns) if c not in wanted)
        missing = sorted(c for c in set(wanted) if c not in columns)
        exact = self.kw("exact_match") is not False
        success = not missing and (not unexpected or not exact)
        if missing or unexpected:
            mismatched = {"unexpected": unexpected, "missing": missing}
            result["details"] = {"mismatched": {k: v for k, v in mismatched.items() if v}}
        return success, result

    def match_list(self, columns: list[str]) -> tuple[bool, dict[str, Any]]:
        wanted = self.kw("column_list")
        result: dict[str, Any] = {"observed_value": columns}
        if wanted is None or list(wanted) == columns:
            return True, result
        mismatched = [
            {"Expected Column Position": i, "Expected": e, "Found": f}
            for i, (e, f) in enumerate(_zip_longest(list(wanted), columns))
            if e != f
        ]
        result["details"] = {"mismatched": mismatched}
        return False, result


def _zip_longest(a: list[Any], b: list[Any]) -> list[tuple[Any, Any]]:
    from itertools import zip_longest

    return list(zip_longest(a, b))
