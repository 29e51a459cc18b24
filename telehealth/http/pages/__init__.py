"""Web layer: server-rendered HTML pages, one module per area (routes: http/routes.py)."""
