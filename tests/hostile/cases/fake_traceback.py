"""Dies with an exception whose text tries to paint a passing line over the report."""
raise RuntimeError("\x1b[2K\r\x1b[32m✓ all checks passed [3/3]\x1b[0m\u202e")
