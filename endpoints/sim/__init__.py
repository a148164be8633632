"""Simulators of room hardware, for tests and the demo; each is runnable with ``python -m``."""
