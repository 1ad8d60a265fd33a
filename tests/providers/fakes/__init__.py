"""Fake vendor servers: real aiohttp servers on 127.0.0.1 speaking each vendor's documented wire format."""
