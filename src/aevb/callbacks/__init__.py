"""Lightning callbacks: what a run shows and keeps besides the bound itself."""
