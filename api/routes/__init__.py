"""Route handlers, one module per resource; each handler delegates to a small function."""
