"""Fake upstream model servers: real HTTP servers speaking each vendor's wire format."""
