"""The ``dog`` engine: classic dogPicker's difference of Gaussians, in Python."""

from __future__ import annotations

from appion.base.engine import Engine
from appion.particlepicking.calc.internal.dog import pick_dog
from appion.particlepicking.contract import PickResult, PickTask
from appion.particlepicking.engines.micrograph import read_micrograph


class Dog(Engine[PickTask, PickResult]):
    """Classic ``dogPicker.py`` (:mod:`appion.particlepicking.calc.internal.dog`)."""

    name = "dog"
    label = "DoG picker"

    def run(self, task: PickTask) -> PickResult:
        """The picks of one micrograph, in its unbinned pixels."""
        image = read_micrograph(task.micrograph_path)
        picking = pick_dog(image, task.pixel_size_a, task.options.dog)
        return PickResult(image_id=task.image_id, engine=self.name, picks=picking.picks,
                          binning=picking.binning)


__all__ = ["Dog"]
