"""Storage: typed models, engine/session setup and the one repository module that owns every query."""
