"""Segue engine: the workflow language, the graph and the coordinator (pure core),
plus the Temporal binding, the action catalog and the store in their own subpackages."""
