"""Auto-Encoding Variational Bayes.

aevb.load(ckpt_path, map_location=None): a trained model from an aevb-train checkpoint, in eval mode
(aevb.build.load_trained_model). It is imported on first use, so `import aevb` imports neither torch nor Lightning.
"""

__all__ = ["load"]


def __getattr__(name: str):
    if name == "load":
        from aevb.build import load_trained_model

        return load_trained_model
    raise AttributeError(f"module 'aevb' has no attribute {name!r}")
