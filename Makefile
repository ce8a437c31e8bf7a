.PHONY: install check test lint bench
install:
	python -m pip install -e ".[test]"
lint:
	python -m ruff check src tests benchmarks
test:
	python -m pytest
check: lint test
bench:
	python benchmarks/run.py
