"""Rendering for the command line: consoles that hear a run (`console`), summaries and tables
(`report`), lineage trees (`lineage`) and validation tables (`validate`). Heavy modules (rich)
are imported inside functions."""
