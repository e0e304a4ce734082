"""A run: its directory and files (directory), its exported record (records), what figures read of either (results),
its curves (curves), and what runs of earlier versions wrote (legacy)."""
