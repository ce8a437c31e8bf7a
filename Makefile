.PHONY: install check test lint types bench
install:
	python -m pip install -e ".[test]"
lint:
	python -m ruff check src tests benchmarks
	python -m ruff format --check src tests benchmarks
types:
	python -m mypy
	lint-imports
test:
	python -m pytest
check: lint types test
bench:
	python benchmarks/run.py
