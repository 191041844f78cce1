"""The one model registry: names and checkpoint files resolve to a loaded :class:`SRModel`.

Two tables, both data:

* ``FAMILIES``: every model family, in detection order, as (id, module). The module defines
  ``FAMILY``, a :class:`~engine.models.family.Family` with that id (``detect`` and ``load``, or
  for file-type families such as exported TorchScript / ONNX files, ``suffixes`` and
  ``load_file``). Ids are unique; a family module that cannot be imported is an error that names
  it and why, never skipped: the file at hand may well be that family's.
* Model cards: ``resources/models/*.json``, then ``$ARBSR_MODELS_DIR/*.json`` and the user's
  models folder (:func:`user_models_dir`, where ``engine models add`` writes), one per registered
  name: ``{"name", "family", "file", "bands", "scales", "description", "options"?, "config"?,
  "sha256"?, "license"?, "demonstration"?}``. The CLI's ``models`` command reads them through
  :func:`list_models`; the plugin reads the same files itself.

Adding a family = its folder (with ``family.py``) + one line in ``FAMILIES``
(see ``engine/models/README.md``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.device import nvidia_driver_visible, resolve_device
from engine.errors import ModelError
from engine.models.checkpoints import read_checkpoint
from engine.models.family import Family
from engine.models.sr_model import SRModel

if TYPE_CHECKING:
    import torch

#: Detection order matters: more specific layouts first.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("ldcsr", "engine.models.ldcsr.family"),
    ("moe", "engine.models.moe.family"),
    ("lmlte", "engine.models.lmlte.family"),
    ("fast", "engine.models.fast.family"),
    ("torchscript", "engine.models.exported.torchscript"),
    ("onnx", "engine.models.exported.onnx"),
)

#: Families with a CPU runtime that needs no PyTorch, as (id, module): the module defines
#: ``load_runtime(path, *, name, options, scale_range)``; the card names the runtime's file
#: (``"runtime"``). The raster pipeline asks for it (``load_model(..., runtime=True)``) because
#: importing torch alone takes longer than a GDAL resampling of a whole raster.
RUNTIMES: dict[str, str] = {
    "fast": "engine.models.fast.runtime",
}

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"


@dataclass(frozen=True)
class ModelCard:
    """A registered model: what ``engine models`` lists and ``--model NAME`` loads."""

    name: str
    family: str
    file: Path
    bands: int
    scale_range: tuple[float, float]
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    config: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The card file itself (``models remove`` deletes it; bundled cards are never removed).
    source: Path | None = field(default=None, compare=False)

    @property
    def bundled(self) -> bool:
        """True for the cards shipped in ``resources/models``."""
        return self.source is not None and self.source.parent.resolve() == RESOURCES

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for ``python -m engine models``."""
        return {
            "name": self.name,
            "family": self.family,
            "bands": self.bands,
            "scales": list(self.scale_range),
            "file": str(self.file),
            "description": self.description,
            "options": self.options,
            # Shown for every model, so that a list can hide the weights below GDAL cubic.
            "demonstration": False,
            **self.extra,
        }


def _default_user_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "arbsr" / "models"


def _env_dirs() -> list[Path]:
    return [Path(entry).expanduser()
            for entry in os.environ.get("ARBSR_MODELS_DIR", "").split(os.pathsep) if entry]


def user_models_dir() -> Path:
    """Where ``engine models add`` writes cards: the first ``$ARBSR_MODELS_DIR`` entry, else
    ``$XDG_DATA_HOME/arbsr/models`` (``~/.local/share/arbsr/models``)."""
    return (_env_dirs() or [_default_user_dir()])[0]


def model_dirs() -> list[Path]:
    """Folders searched for model cards: the bundled one, the ``$ARBSR_MODELS_DIR`` entries,
    then the default user folder (searched even when ``$ARBSR_MODELS_DIR`` is set, so that
    models registered before an extra folder was configured stay registered)."""
    dirs = [RESOURCES, *_env_dirs()]
    if _default_user_dir() not in dirs:
        dirs.append(_default_user_dir())
    return dirs


def _read_card(path: Path) -> ModelCard:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError(f"{path} is not a JSON object")
    known = {"name", "family", "file", "bands", "scales", "scale_range", "description", "options",
             "config"}
    # "scale_range": the key's name before it became the CLI's "scales" (older user cards).
    scales = data.get("scales", data.get("scale_range", (1.0, 4.0)))
    return ModelCard(
        name=data["name"],
        family=data["family"],
        file=(path.parent / data["file"]).resolve(),
        bands=int(data.get("bands", 1)),
        scale_range=tuple(scales),  # type: ignore[arg-type]
        description=data.get("description", ""),
        options=dict(data.get("options", {})),
        config=(path.parent / data["config"]).resolve() if data.get("config") else None,
        extra={k: v for k, v in data.items() if k not in known},
        source=path,
    )


def list_models() -> list[ModelCard]:
    """Every registered model card, bundled first, sorted by name within a folder."""
    cards: dict[str, ModelCard] = {}
    for folder in model_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                card = _read_card(path)
            except (KeyError, TypeError, ValueError, OSError):
                continue  # not a model card (e.g. a CMSR table or a training config)
            cards.setdefault(card.name, card)
    return list(cards.values())


def find_card(name: str) -> ModelCard | None:
    """The card registered under ``name``, or None."""
    for card in list_models():
        if card.name == name:
            return card
    return None


DEFAULT_MODEL = "lmlte-default"


def _declared() -> tuple[tuple[str, str], ...]:
    """``FAMILIES``, checked: a duplicate id would make detection order ambiguous."""
    ids = [fid for fid, _module in FAMILIES]
    dupes = sorted({fid for fid in ids if ids.count(fid) > 1})
    if dupes:
        raise ModelError(f"model families registered twice: {', '.join(dupes)}; each family "
                         "appears once in engine.models.registry.FAMILIES")
    return FAMILIES


IMPORT_ADVICE = ("install the missing package into the engine's Python (pip install -r "
                 "requirements.txt) or repair the ArbSR installation")


def _support(fid: str, module_path: str) -> Family:
    """The ``FAMILY`` of ``module_path``.

    Raises:
        ModelError: the module cannot be imported (one line: the module and why), or it does not
            define its family object.
    """
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:  # noqa: BLE001 - whatever breaks the import, say which module
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        # An ImportError says it all ("No module named 'x'"); other errors need their type.
        why = first if isinstance(exc, ImportError) and first else f"{type(exc).__name__}: {first}"
        raise ModelError(f"model family '{fid}' is unavailable: module {module_path} cannot be "
                         f"imported ({why}); {IMPORT_ADVICE}") from exc
    family = getattr(module, "FAMILY", None)
    if not isinstance(family, Family) or family.id != fid:
        raise ModelError(f"module {module_path} does not define FAMILY = Family(id='{fid}', "
                         "...): repair the ArbSR installation")
    return family


def family_support(family: str) -> Family:
    """The :class:`Family` registered as ``family``.

    Raises:
        ModelError: unknown family, or its module cannot be imported (the message says why).
    """
    for fid, module_path in _declared():
        if fid == family:
            return _support(fid, module_path)
    raise ModelError(f"unknown model family '{family}'")


def load_model(name_or_path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
               *, config: str | os.PathLike[str] | None = None, runtime: bool = False,
               **options: Any) -> SRModel:
    """Load a registered model by name, or any supported checkpoint file.

    Args:
        name_or_path: a name from :func:`list_models` (default ``lmlte-default``) or a path to a
            checkpoint (official LMF ``.pth``, LDCSR Lightning ``.ckpt``, our own, or an exported
            ``.pt`` / ``.onnx``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        config: YAML config for checkpoints that need one (LDCSR).
        runtime: on the CPU, return the family's torch-free runtime when its card has one
            (:data:`RUNTIMES`; the raster pipeline's choice): it takes and returns NumPy
            arrays (``array_api == "numpy"``). Without onnxruntime, or when a GPU may be
            there for ``auto``, the torch model is returned as usual.
        options: family options (``mode=`` for LDCSR, ...), overriding the card's.

    Raises:
        ModelError: unknown name, unreadable or unsupported checkpoint.
        DeviceError: the device is not available.
    """
    spec = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    card = find_card(spec)
    if runtime and card is not None and card.extra.get("runtime") and on_cpu(device):
        fast = _load_runtime(card, {**card.options, **options})
        if fast is not None:
            return fast
    dev = resolve_device(device)
    if card is not None:
        support = family_support(card.family)
        merged = {**card.options, **options}
        cfg = str(config) if config else (str(card.config) if card.config else None)
        if not card.file.is_file():
            raise ModelError(f"the weights of model '{card.name}' are missing ({card.file}): "
                             "reinstall the plugin or re-clone the repository")
        return _load_path(card.file, name=card.name, device=dev, config=cfg, options=merged,
                          family=card.family, support=support, scale_range=card.scale_range)
    path = Path(spec).expanduser()
    if not path.exists():
        names = ", ".join(c.name for c in list_models()) or "none"
        raise ModelError(f"unknown model '{spec}': use one of [{names}] "
                         "(python -m engine models) or the path of a checkpoint file")
    if not path.is_file():
        raise ModelError(f"model path '{spec}' is not a file: give a checkpoint file")
    return _load_path(path, name=str(path), device=dev, config=str(config) if config else None,
                      options=options)


def on_cpu(device: str | torch.device | None) -> bool:
    """True when ``device`` means the CPU without asking torch: ``cpu``, or ``auto`` on a machine
    where no NVIDIA driver is visible (then torch could not pick CUDA either)."""
    spec = str(device or "auto").strip().lower()
    return spec == "cpu" or (spec == "auto" and not nvidia_driver_visible())


def _load_runtime(card: ModelCard, options: dict[str, Any]) -> Any:
    """The card's torch-free runtime, or None when onnxruntime or threadpoolctl is not
    installed (optional: the torch model runs then)."""
    module_path = RUNTIMES.get(card.family)
    if module_path is None or importlib.util.find_spec("threadpoolctl") is None:
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    module = importlib.import_module(module_path)
    path = (card.source.parent if card.source else RESOURCES) / str(card.extra["runtime"])
    return module.load_runtime(path.resolve(), name=card.name, options=options,
                               scale_range=card.scale_range)


def _load_path(path: Path, *, name: str, device: torch.device, config: str | None,
               options: dict[str, Any], family: str | None = None,
               support: Family | None = None,
               scale_range: tuple[float, float] | None = None) -> SRModel:
    # File-type families (exported models) are recognised by suffix, before any unpickling.
    for fid, module_path in _declared():
        if family not in (None, fid):
            continue
        fam = _support(fid, module_path)
        if fam.load_file is not None and path.suffix.lower() in fam.suffixes:
            return fam.load_file(path, name=name, device=device, config=config, options=options,
                                 scale_range=scale_range)
    if support is not None and support.load is not None:
        return support.load(read_checkpoint(path), name=name, device=device, config=config,
                            options=options, **_scale_range(scale_range))
    return load_by_content(path, name=name, device=device, config=config, options=options)


def load_by_content(path: Path, *, name: str, device: torch.device, config: str | None,
                    options: dict[str, Any],
                    scale_range: tuple[float, float] | None = None) -> SRModel:
    """Load a checkpoint file with the first family whose ``detect`` accepts its content.

    Raises:
        ModelError: unreadable file, a family module that cannot be imported, or no family
            accepts the file.
    """
    checkpoint = read_checkpoint(path)
    for fid, module_path in _declared():
        fam = _support(fid, module_path)
        if fam.detect is not None and fam.load is not None and fam.detect(checkpoint):
            return fam.load(checkpoint, name=name, device=device, config=config, options=options,
                            **_scale_range(scale_range))
    raise ModelError(f"'{path}' is not a checkpoint ArbSR can read (expected an LMF .pth, an "
                     "LDCSR .ckpt, an ArbSR checkpoint or an exported .pt/.onnx model)")


def _scale_range(scale_range: tuple[float, float] | None) -> dict[str, Any]:
    """The ``scale_range`` keyword of a family's ``load``: the card's, else the family default."""
    if scale_range is None:
        return {}
    return {"scale_range": (float(scale_range[0]), float(scale_range[1]))}
