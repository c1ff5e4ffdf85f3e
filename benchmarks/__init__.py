"""Benchmarks of diffputer against other imputers (see benchmarks/README.md)."""
