"""Menu definitions and the pure state machine that steps through them (no I/O)."""
