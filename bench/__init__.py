"""Benchmarks (``make bench``): one script per measured path; :mod:`bench.common` is shared."""
