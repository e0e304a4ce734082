"""Data files on disk: found, or downloaded, and always checked against a known md5."""

from pathlib import Path

from torchvision.datasets.utils import calculate_md5, download_url

from aevb.errors import DataFileError


def fetch_verified(path: Path, url: str, md5: str) -> Path:
    """Return `path` once it holds the file with this md5, downloading it from `url` if it is missing."""
    path = Path(path)
    where = f"Put a good copy at {path}, or point the data directory at one (AEVB_DATA_DIR or paths.data_dir=...)."
    if not path.exists():
        try:
            download_url(url, root=str(path.parent), filename=path.name, md5=md5)
        except Exception as error:  # offline, HTTP error, unwritable directory: all end the same way
            path.unlink(missing_ok=True)
            raise DataFileError(
                f"{path.name} is missing and could not be downloaded from {url} ({type(error).__name__}: {error}). "
                f"{where} Expected md5: {md5}."
            ) from error
    actual = calculate_md5(path)
    if actual != md5:
        raise DataFileError(
            f"{path} is corrupt or truncated: its md5 is {actual}, expected {md5}. "
            f"Delete it to download it again from {url}. {where}"
        )
    return path
