"""The paper's own results: its Figure 2 and 3 targets and tolerances (targets), its digitised curves (curves,
from data/paper_curves.csv)."""
