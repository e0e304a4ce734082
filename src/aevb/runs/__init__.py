"""A run: its directory and files (directory), written whole (atomic), its checkpoints (checkpoints), whether a
re-run continues, skips or refuses it (resume), the table that ends a sweep of them (sweep), its exported record
(records), what figures read of either (results), its curves (curves) and their TensorBoard tags (tensorboard_tags),
and what runs of earlier versions wrote (legacy)."""
