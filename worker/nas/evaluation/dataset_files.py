"""Where dataset files are found on disk: shared by the loader and the API's submit-time check, with no
torch or numpy import, so the API can check a dataset without loading the training stack."""

from __future__ import annotations

from pathlib import Path


def find_idx(folder: Path, stem: str) -> Path | None:
    """An IDX file by stem (`train-images-idx3-ubyte`), plain or gzipped, with `-` or `.` before `idx`."""
    for suffix in ("", ".gz"):
        for sep in ("-", "."):  # train-images-idx3-ubyte and train-images.idx3-ubyte both occur
            p = folder / f"{stem.replace('-idx', sep + 'idx')}{suffix}"
            if p.is_file():
                return p
    return None
