"""Medallion engine: declarations and the bronze → silver → gold transformations."""
