"""Validation: check requests, runners (host; containers later), built-in gates, JUnit."""
