"""The Temporal binding: one interpreter workflow type that drives the coordinator,
activities that run actions and write the trace, the worker, and the dev server."""
