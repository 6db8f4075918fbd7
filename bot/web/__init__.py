"""The staff web console (FastAPI + Jinja2 + htmx): `python -m bot web`."""
