"""Governance benchmarks: the cost of row filters and column masks on a read."""
