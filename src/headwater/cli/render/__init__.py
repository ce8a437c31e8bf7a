"""Rendering for the command line: consoles that hear a run (`console`), summaries and tables
(`report`), lineage trees (`lineage`), validation tables (`validate`), the status screen and
metric series (`status`), freshness tables (`freshness`) and the HTML quality report of a run's
checks (`quality_report`, its page `quality_page`). Heavy modules (rich) are imported inside
functions."""
