"""Ranking with deployed bundles: the runtime behind `appkit rank` and the HTTP server of `appkit serve`.

The server modules (server.py) import starlette; the rest needs only numpy.
"""
