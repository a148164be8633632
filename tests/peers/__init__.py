"""Fixtures that start real peers (agents, servers) on loopback for functional tests."""
