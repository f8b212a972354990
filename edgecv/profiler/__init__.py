"""``edgecv profile``: size, accuracy and latency of every variant, measured (being built: issue 6)."""
