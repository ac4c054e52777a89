# The two commands of the README. Each does its own set-up (virtual environments under .venv*).
.PHONY: demo test clean
demo:
	@scripts/demo.sh
test:
	@scripts/test.sh
clean:
	rm -rf .venv .venv313 .venv-mitm .venv-demo .venv-docs site .mypy_cache .pytest_cache .ruff_cache .hypothesis
