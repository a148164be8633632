"""Metrics, link-quality scoring, incident rules and device polling."""
