"""Landing files to bronze, incrementally and exactly once."""
