"""The web UI: static files served by the gateway (plain HTML, CSS and JavaScript)."""
