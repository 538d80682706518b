"""The ``data.augment`` section: random, per-sample changes to image-like training batches.

Every op is off by default. A flip or 90° rotation is switched on by its probability; the
others by their size (``rotate: 15``), and then act on each sample with probability
``<op>_p`` (0.5 unless set, as in albumentations). Whether an op suits the data's shape is
checked when the augmenter is built (``training/augment.py``): the config does not know it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from trainwise.config.section import Section

Probability = Annotated[float, Field(ge=0.0, le=1.0)]

# Each sized op: its size key, its probability key, and the size at which it does nothing.
SIZED_OPS = {
    "rotate": ("rotate_p", 0.0),
    "shift": ("shift_p", 0.0),
    "brightness": ("brightness_p", 0.0),
    "contrast": ("contrast_p", 0.0),
    "blur_sigma": ("blur_p", (0.0, 0.0)),
    "noise_std": ("noise_p", 0.0),
    "time_shift": ("time_shift_p", 0.0),
    "amplitude": ("amplitude_p", (1.0, 1.0)),
}
# Ops switched on by their probability alone.
PROBABILITY_OPS = ("hflip", "vflip", "rot90")


class AugmentConfig(Section):
    # Two-dimensional samples (C, H, W) only: flips, 90° turns, rotation and shift.
    hflip: Probability = 0.0  # probability of mirroring a sample left-right
    vflip: Probability = 0.0  # probability of mirroring a sample top-bottom
    rot90: Probability = 0.0  # probability of turning by 90, 180 or 270° (square samples)
    rotate: float = Field(0.0, ge=0.0, le=180.0)  # rotate by an angle in [-rotate, rotate] degrees
    rotate_p: Probability = 0.5  # ...with this probability per sample
    shift: float = Field(0.0, ge=0.0, lt=1.0)  # translate by up to this fraction of height/width
    shift_p: Probability = 0.5  # ...with this probability per sample
    # rotate/shift: what fills the uncovered border (Keras' fill_mode; zeros = the scaled mean)
    fill_mode: Literal["reflection", "border", "zeros"] = "reflection"
    # Any sample: (C, L) frames or (C, H, W) images, with any number of channels.
    brightness: float = Field(0.0, ge=0.0)  # add an offset in [-brightness, brightness]
    brightness_p: Probability = 0.5  # ...with this probability per sample
    contrast: float = Field(0.0, ge=0.0, le=1.0)  # scale about each channel's mean by 1 ± this
    contrast_p: Probability = 0.5  # ...with this probability per sample
    blur_sigma: tuple[float, float] = (0.0, 0.0)  # Gaussian blur, sigma in this range (pixels)
    blur_p: Probability = 0.5  # ...with this probability per sample (frames: along L)
    noise_std: float = Field(0.0, ge=0.0)  # add Gaussian noise of this standard deviation
    noise_p: Probability = 0.5  # ...with this probability per sample
    time_shift: float = Field(0.0, ge=0.0, le=0.5)  # roll the last axis by up to this fraction
    time_shift_p: Probability = 0.5  # ...with this probability per sample (circular)
    amplitude: tuple[float, float] = (1.0, 1.0)  # multiply by a factor in this range
    amplitude_p: Probability = 0.5  # ...with this probability per sample

    @field_validator("blur_sigma", "amplitude")
    @classmethod
    def _ordered_range(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        low, high = bounds
        if not 0.0 <= low <= high:
            raise ValueError(f"give a range [low, high] with 0 <= low <= high (got {list(bounds)})")
        return bounds

    @model_validator(mode="after")
    def _probability_needs_a_size(self) -> AugmentConfig:
        # A probability given for an op whose size is still "off" would silently do nothing.
        for size_key, (p_key, off) in SIZED_OPS.items():
            # (A saved config lists every key at its value, so only a changed one counts.)
            changed = getattr(self, p_key) != type(self).model_fields[p_key].default
            if changed and getattr(self, p_key) > 0 and getattr(self, size_key) == off:
                raise ValueError(f"{p_key} is set but {size_key} is {off}, which does "
                                 f"nothing: give {size_key} a size to switch the op on")
        return self

    def active(self) -> tuple[str, ...]:
        """The keys of the ops that will change samples (a flip's probability, else its size)."""
        flips = tuple(key for key in PROBABILITY_OPS if getattr(self, key) > 0)
        sized = tuple(size_key for size_key, (p_key, off) in SIZED_OPS.items()
                      if getattr(self, size_key) != off and getattr(self, p_key) > 0)
        return flips + sized

    @property
    def enabled(self) -> bool:
        """Whether any op is on."""
        return bool(self.active())
