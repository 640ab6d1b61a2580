"""The workflow language: spec model, JSON Schema, loader with positions, validator."""
