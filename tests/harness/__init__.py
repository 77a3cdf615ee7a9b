"""Shared helpers for the Python test suites (loopback peers, free ports)."""
