"""The command line: argument parsing only; each command builds the stages' objects and returns an exit code."""
