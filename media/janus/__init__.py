"""Janus Gateway signalling (HTTP long-poll) and the call recovery policy."""
