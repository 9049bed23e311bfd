"""SMS commands: read what a member texted, act on it, and answer in her language."""
