"""`segue simulate`: the production coordinator driven in deterministic waves, with mocks."""
