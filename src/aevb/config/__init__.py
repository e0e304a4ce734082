"""What a run is configured by: where the configs are and how Hydra composes them (hydra_glue), and the schema every
config node is checked against, read from its target's signature (schema)."""
