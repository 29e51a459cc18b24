"""Web layer: the JSON API, one module per area (routes listed in telehealth/http/routes.py)."""
