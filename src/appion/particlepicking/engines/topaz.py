"""The ``topaz`` engine: Topaz's pretrained ResNet16 detector (no training, no network).

Topaz (``pip install topaz-em``, with PyTorch) is an optional extra, so ``torch`` and
``topaz`` are imported inside the methods that use them, never at module level:
the registry, the worker and ``appion --help`` import this module on machines
without them.  The procedure is ``topaz extract``'s with the pretrained model:

1. downsample the micrograph in Fourier space (``topaz.utils.image.downsample``) so
   that the particle spans about 24 pixels
   (:func:`~appion.particlepicking.calc.internal.topaz.downsample_factor`);
2. normalise it with Topaz's Gaussian-mixture fit (``topaz.stats.normalize``, the
   ``topaz preprocess`` defaults: the fit on every 10th pixel, drawn by NumPy's global
   generator as Topaz does);
3. score every pixel with the classifier (``topaz.model.factory.load_model``, the
   weights shipped inside the topaz-em wheel), a log-likelihood ratio;
4. non-maximum suppression within about ¾ of the particle radius
   (``topaz.algorithms.non_maximum_suppression``), keeping scores above the
   ``--topaz-threshold``;
5. coordinates back to the micrograph's unbinned pixels.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from appion.base.engine import Engine
from appion.base.errors import EngineConfigError
from appion.particlepicking.calc.internal import topaz as topaz_calc
from appion.particlepicking.contract import Pick, PickResult, PickTask
from appion.particlepicking.engines.micrograph import read_micrograph

INSTALL_ADVICE = "topaz is not installed; pip install 'appion[topaz]' or use --engine dog"
#: The pretrained detectors shipped inside the topaz-em wheel.
PRETRAINED = ("resnet16", "resnet16_u32", "resnet16_u64", "resnet8", "resnet8_u32",
              "resnet8_u64")


def _import_topaz() -> tuple[Any, Any]:
    """``(torch, topaz)``, or the one-line :class:`EngineConfigError` that says how to get
    them.  Lazy on purpose: Topaz and PyTorch are an optional extra."""
    try:
        import topaz
        import topaz.algorithms
        import topaz.model.factory
        import topaz.stats
        import topaz.utils.image
        import torch
    except ImportError as error:
        raise EngineConfigError(f"{INSTALL_ADVICE} ({error})") from None
    return torch, topaz


@functools.lru_cache(maxsize=4)
def _model(name: str, device: str) -> Any:
    """The pretrained classifier ``name`` on ``device``, evaluating whole images (kept per
    process: the weights load once per worker)."""
    if name not in PRETRAINED:
        raise EngineConfigError(f"--topaz-model {name} is not one of Topaz's pretrained "
                                f"models ({', '.join(PRETRAINED)})")
    _import_topaz()
    from topaz.model.factory import load_model
    model = load_model(name)
    model.eval()
    model.fill()          # pad so that the score map has the input's shape
    return model.to(device)


def _device(requested: str) -> str:
    """``cuda`` when asked for (or ``auto``) and a GPU is there, else ``cpu``."""
    torch, _ = _import_topaz()
    available = bool(torch.cuda.is_available())
    if requested == "cuda" and not available:
        raise EngineConfigError("--device cuda was asked for but PyTorch sees no GPU; use "
                                "--device cpu or auto")
    if requested in ("cuda", "auto") and available:
        return "cuda"
    return "cpu"


class Topaz(Engine[PickTask, PickResult]):
    """Topaz's pretrained detector, run in this process on the CPU or a GPU."""

    name = "topaz"
    label = "Topaz"

    def find_program(self, executable: str | None = None) -> str | None:
        """Nothing to find on ``PATH``: check that ``topaz`` and ``torch`` import."""
        _import_topaz()
        return None

    def version(self) -> str:
        _, topaz = _import_topaz()
        return str(getattr(topaz, "__version__", ""))

    def score_map(self, image: np.ndarray, pixel_size_a: float, diameter_a: float,
                  model: str = "resnet16", device: str = "auto") -> tuple[np.ndarray, int]:
        """Topaz's log-likelihood ratio map of ``image`` and the downsampling it used."""
        torch, topaz = _import_topaz()
        factor = topaz_calc.downsample_factor(pixel_size_a, diameter_a)
        small = np.asarray(image, dtype=np.float32)
        if factor > 1:
            small = topaz.utils.image.downsample(small, factor)
        normalised, _ = topaz.stats.normalize(small, alpha=900, beta=1, num_iters=100,
                                              sample=10, method="gmm", use_cuda=False)
        where = _device(device)
        classifier = _model(model, where)
        with torch.no_grad():
            batch = torch.from_numpy(np.ascontiguousarray(normalised))[None, None].to(where)
            scores = classifier(batch)[0, 0].float().cpu().numpy()
        return scores, factor

    def pick(self, image: np.ndarray, pixel_size_a: float, diameter_a: float,
             threshold: float, model: str = "resnet16", device: str = "auto"
             ) -> tuple[tuple[Pick, ...], int]:
        """Picks (unbinned pixels, strongest first) and the downsampling factor."""
        _, topaz = _import_topaz()
        scores, factor = self.score_map(image, pixel_size_a, diameter_a, model, device)
        radius = topaz_calc.extract_radius_px(pixel_size_a, diameter_a, factor)
        values, coords = topaz.algorithms.non_maximum_suppression(scores, radius,
                                                                  threshold=threshold)
        ny, nx = image.shape
        sy, sx = scores.shape
        picks = tuple(Pick(x=topaz_calc.to_micrograph_px(x, nx, sx),
                           y=topaz_calc.to_micrograph_px(y, ny, sy),
                           score=float(value), diameter_a=float(diameter_a))
                      for value, (x, y) in zip(values, coords))
        return picks, factor

    def run(self, task: PickTask) -> PickResult:
        """The picks of one micrograph, in its unbinned pixels (score: Topaz's
        log-likelihood ratio)."""
        image = read_micrograph(task.micrograph_path)
        options = task.options
        picks, factor = self.pick(image, task.pixel_size_a, options.dog.diameter_a,
                                  options.topaz_threshold, options.topaz_model,
                                  options.device)
        return PickResult(image_id=task.image_id, engine=self.name, picks=picks,
                          binning=factor, engine_version=self.version())


__all__ = ["INSTALL_ADVICE", "Topaz"]
