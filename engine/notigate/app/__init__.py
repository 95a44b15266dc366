"""The composition root: the gateway assembled once from settings, the HTTP server around it, readiness."""
