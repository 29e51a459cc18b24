"""Web layer: aiohttp routes, middleware and views. Thin: parse, call one service, render."""
