"""The command-line programs: each parses its command line with Hydra before torch and Lightning are imported."""
