"""Data contracts (pandera) and expectation suites (Great Expectations)."""
