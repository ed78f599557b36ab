"""What a form needs to offer: spaces, strategies, datasets and the spec schema.

Generated from the Options models registered in `worker.nas.registry`, the same models that validate a
submitted spec, so the form and the validation cannot drift apart. A plugin whose module fails to import
is listed as unavailable with the reason instead of breaking the whole list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backend.api.deps import SettingsDep
from backend.api.schemas import DatasetInfo, PluginInfo

router = APIRouter(prefix="/api", tags=["meta"])

# Where the system's dataset packages put files (Debian's dataset-fashion-mnist, for one).
SYSTEM_DATASET_DIR = Path("/usr/share/datasets")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte")


def _plugin(name: str, loader: Any) -> PluginInfo:
    try:
        cls = loader(name)
        options = cls.Options
        return PluginInfo(
            name=name,
            description=(getattr(cls, "description", "") or (cls.__doc__ or "")).strip(),
            options=options.model_json_schema(),
            defaults=options().model_dump(mode="json"),
        )
    except Exception as exc:  # an import error in one plugin must not hide the others
        return PluginInfo(name=name, available=False, error=f"{type(exc).__name__}: {exc}")


_CACHE: dict[str, list[PluginInfo]] = {}


def _plugins(kind: str) -> list[PluginInfo]:
    """Cached once every plugin loads; a failed import is retried on the next call."""
    if kind in _CACHE:
        return _CACHE[kind]
    from worker.nas.registry import SPACES, STRATEGIES, space_class, strategy_class

    table, loader = (SPACES, space_class) if kind == "space" else (STRATEGIES, strategy_class)
    infos = [_plugin(name, loader) for name in table]
    if all(info.available for info in infos):
        _CACHE[kind] = infos
    return infos


@router.get("/spaces", response_model=list[PluginInfo])
def list_spaces() -> list[PluginInfo]:
    return _plugins("space")


@router.get("/strategies", response_model=list[PluginInfo])
def list_strategies() -> list[PluginInfo]:
    return _plugins("strategy")


@router.get("/spec/schema")
def spec_schema() -> dict[str, Any]:
    from worker.nas.spec import SearchSpec

    return SearchSpec.model_json_schema()


def _idx_dir(candidates: list[Path]) -> Path | None:
    for folder in candidates:
        if all((folder / f).exists() or (folder / f"{f}.gz").exists() for f in _IDX_FILES):
            return folder
    return None


def dataset_status(name: str, dataset_dir: Path) -> DatasetInfo:
    """Whether a dataset can be loaded without a download, and from where."""
    if name == "digits":
        return DatasetInfo(name=name, available=True, where="bundled with scikit-learn")
    if name == "npz":
        return DatasetInfo(name=name, available=True, note="set dataset.path to an .npz file (x, y arrays)")
    if name == "table":  # looked up, not trained: a CSV in the table directory (NASBOARD_TABLE_DIR)
        return DatasetInfo(
            name=name,
            available=True,
            note="set dataset.path to a .csv benchmark table in the server's table directory, "
            "dataset.arch_column and dataset.choice_columns",
        )
    if name in ("fashion-mnist", "mnist"):
        # The same places the engine's loader looks (worker.nas.evaluation.datasets), minus torch.
        found = _idx_dir([dataset_dir / name, dataset_dir, SYSTEM_DATASET_DIR / name])
        note = None if found else f"put the four IDX files in {dataset_dir / name}"
        return DatasetInfo(
            name=name, available=found is not None, where=str(found) if found else None, note=note
        )
    if name == "cifar10":
        for folder in (dataset_dir / "cifar10", dataset_dir):
            nested = folder / "cifar-10-batches-bin"
            batches = nested if nested.is_dir() else folder
            if (batches / "data_batch_1.bin").exists():
                return DatasetInfo(name=name, available=True, where=str(batches))
        return DatasetInfo(
            name=name,
            available=False,
            note=f"put the CIFAR-10 binary version (cifar-10-batches-bin) in {dataset_dir / 'cifar10'}",
        )
    return DatasetInfo(name=name, available=False, note="unknown dataset")


@router.get("/datasets", response_model=list[DatasetInfo])
def list_datasets(settings: SettingsDep) -> list[DatasetInfo]:
    import typing

    from worker.nas.spec import DatasetName

    return [dataset_status(name, Path(settings.dataset_dir)) for name in typing.get_args(DatasetName)]


# The example specs users copy (benchmarks/*.yaml in a checkout): the form offers them as presets.
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@router.get("/spec/examples")
def spec_examples() -> list[dict[str, Any]]:
    """Each example spec as `{name, file, description, spec}`: description is the file's first comment
    line. Empty where the service runs without the repository's benchmarks folder."""
    import yaml

    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        spec = yaml.safe_load(text)
        if not isinstance(spec, dict):
            continue
        first = next((line for line in text.splitlines() if line.startswith("#")), "")
        name = str(spec.get("name") or path.stem)
        out.append({"name": name, "file": path.name, "description": first.lstrip("# ").strip(), "spec": spec})
    return out


class SpecText(BaseModel):
    text: str = Field(description="a search spec in YAML or JSON, as a spec file holds it")


class SpecTextProblem(BaseModel):
    message: str
    line: int | None = Field(None, description="1-based; null where the parser cannot place it")
    column: int | None = None


class ParsedSpec(BaseModel):
    spec: dict[str, Any] | None = Field(None, description="the mapping, not yet validated as a spec")
    error: SpecTextProblem | None = None


@router.post("/spec/parse", response_model=ParsedSpec)
def parse_spec(body: SpecText) -> ParsedSpec:
    """The form's paste/upload: the text read as `nasboard submit` reads a spec file, so a spec behaves
    the same in both. Text that does not parse is an answer (`error`), not a refusal; validating the spec
    is `POST /api/searches`' job."""
    from backend.spec_text import SpecTextError, parse_spec_text

    try:
        return ParsedSpec(spec=parse_spec_text(body.text))
    except SpecTextError as exc:
        return ParsedSpec(error=SpecTextProblem(message=exc.problem, line=exc.line, column=exc.column))
