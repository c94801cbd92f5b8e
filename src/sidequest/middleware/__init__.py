"""Middleware chains: code that wraps every push (client) or every execution (server)."""

from sidequest.middleware.chain import Chain, ClientMiddleware, ServerMiddleware

__all__ = ["Chain", "ClientMiddleware", "ServerMiddleware"]
