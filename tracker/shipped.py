"""The rules and templates shipped with the tracker, wherever it is installed.

The repository keeps them in its top-level `rules/` and `templates/` (the one copy that is edited);
a wheel or a `pip install .` carries them inside the package as `tracker/_rules` and
`tracker/_templates` (pyproject.toml maps the folders there). An editable install or a source tree
has no such folders inside the package: there the checkout's own folders are the shipped ones."""

from __future__ import annotations

from pathlib import Path

from tracker.errors import TrackerError

FOLDERS = ("rules", "templates")


def shipped_dir(name: str) -> Path:
    """The shipped folder `name` ('rules' or 'templates') as a path on disk."""
    if name not in FOLDERS:
        raise ValueError(f"no shipped folder {name!r}")
    # this module's own folder (importlib.resources would cost a fetch 3 ms of imports for it)
    package = Path(__file__).parent
    if not (package / "__init__.py").is_file():  # a zipped install: the loaders need files
        raise TrackerError(f"minerals-tracker must be installed as files, not from {package}")
    inside = package / f"_{name}"
    if inside.is_dir():
        return inside
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    raise TrackerError(
        f"the built-in {name} are missing from this installation (no {inside}): reinstall minerals-tracker"
    )
