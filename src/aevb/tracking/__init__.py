"""What a run shows while it trains: the loggers (TensorBoard, CSV, MLflow, W&B), TensorBoard's sections and
layout, and image grids tiled as one picture."""
