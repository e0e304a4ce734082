"""The names a run's curves and image grids have in TensorBoard, and the names they were logged under.

TensorBoard sorts the sections of its TIME SERIES, SCALARS and IMAGES tabs (a tag's part before the first "/") by name
and opens the first two. The bound's section, `lower_bound`, comes first when no other sorts before it: its terms go
to `terms`, the estimates of log p(x) and their acceptance rates to `px_estimates` (a name that sorts after the bound's),
the image grids to `pictures`.
The other loggers (CSV, MLflow, W&B) keep the logged names.
"""

SECTIONS = {
    "log_likelihood": "terms/log_likelihood",
    "kl": "terms/kl",
    "log_px_is": "px_estimates/log_px_is",
    "log_px_hmc": "px_estimates/log_px_hmc",
    "log_px_ais": "px_estimates/log_px_ais",
    "hmc_acceptance": "px_estimates/hmc_acceptance",
    "ais_acceptance": "px_estimates/ais_acceptance",
    "images": "pictures",
}


def tensorboard_tag(name: str) -> str:
    """The TensorBoard tag of a logged name, e.g. kl/test -> terms/kl/test."""
    section, slash, rest = name.partition("/")
    return f"{SECTIONS.get(section, section)}{slash}{rest}"


def logged_name(tag: str) -> str:
    """The logged name of a TensorBoard tag (of this naming or of a run written before it, whose tags are the names)."""
    for section, renamed in SECTIONS.items():
        if tag.startswith(f"{renamed}/"):
            return section + tag.removeprefix(renamed)
    return tag
