"""Thin helpers per HTTP client; each module imports its client lazily (optional extras)."""
