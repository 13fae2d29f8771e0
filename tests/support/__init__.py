"""Helpers that start real services for tests: free ports, redis-server, child processes."""
