"""REST API routers: one module per resource, mounted by `backend.app.create_app`."""
