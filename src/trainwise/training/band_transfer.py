"""Start a raster model's first convolution from a run trained on other bands.

A run on RGB and a run on six bands share every tensor but the first convolution's weight,
``(out, bands, k, k)``. Rather than leave it at a fresh initialisation (which throws away
the filters the rest of the network was trained to read), ``adapt_first_conv`` builds it
from the source's filters, one input channel (band) at a time. The rules, in order:

1. ``model.band_map`` names a source band for a new band: it takes that band's filter.
2. Otherwise a band with the same name in the source takes its own filter.
3. Otherwise, if no band of either run shares a name (and there is no band_map), the bands
   take the source's filters in turn: band ``i`` takes source band ``i % C_src``.
4. Any band left (named bands, some shared): zero weights.

Then each filter is divided by the number of new bands drawing on the same source band
(``1 / k``), so the copies of one source band add up to its filter once.

Why. Inputs are standardised per band, and bands of one scene are strongly correlated
(visible bands especially). Where a copied band carries the signal its source did, the
``1 / k`` split keeps the first layer's response, and so everything downstream, what it was
in the source run: ``sum_k (w / k) * x = w * x``. When bands are less correlated the response
shrinks (to ``1 / sqrt(k)`` of its spread for independent bands), never grows, so training
does not start from an exploded activation. With names in common (RGB -> RGB + NIR + SWIR)
the shared bands keep their filters at scale 1 and the new bands start at zero, so the
pretrained network's output is exactly preserved at the start; the new bands' weights still
receive gradients (the gradient of a weight is its input times the output's gradient) and
grow as they prove useful. Repeating RGB filters onto NIR instead, as in the published
recipe for new bands (CoinNet; Sharma & Ross 2020: repeat the filters and scale by
``3 / C_new``), would halve the RGB filters and read NIR, which is anti-correlated with red
over vegetation, as if it were a visible band: the start is no longer the trained network.
That recipe is rule 3, used only when no names match, and there it equals ``3 / C_new`` when
``C_new`` is a multiple of 3 (``1 / k`` differs only for uneven counts, where it keeps each
source band's total exactly). Every rule is a function of the names and their order only:
deterministic.

The report (``init_from.json``, ``first_conv.bands``) gives per new band its source band
(None: zeros), the scale and the rule.
"""

from __future__ import annotations

from collections import Counter

import torch

from trainwise.errors import UserError


def adapt_first_conv(source_weight: torch.Tensor, source_bands: list[str],
                     target_bands: list[str], band_map: dict[str, str] | None = None
                     ) -> tuple[torch.Tensor, list[dict]]:
    """The first convolution's weight for ``target_bands``, built from ``source_weight``.

    Args:
        source_weight: ``(out, C_src, k, k)``: the source run's first convolution weight.
        source_bands: its bands' names, ``C_src`` of them, in channel order.
        target_bands: this run's bands' names, in channel order.
        band_map: ``{new band: source band}`` (``model.band_map``); empty or None: by name.

    Returns:
        ``(weight (out, C_tgt, k, k), bands)``: the new weight (same dtype and device), and
        per target band ``{"band", "from" (a source band name or None), "scale", "rule"}``.

    Raises:
        UserError: ``band_map`` names a band that is not among the new bands or a source
            band that is not among the source's (each side's valid names listed).

    Example:
        >>> weight, bands = adapt_first_conv(torch.ones(2, 3, 1, 1), ["blue", "green", "red"],
        ...                                  ["blue", "green", "red", "nir"], {"nir": "red"})
        >>> weight[0, :, 0, 0].tolist()
        [1.0, 1.0, 0.5, 0.5]
        >>> [(item["band"], item["from"], item["scale"]) for item in bands][2:]
        [('red', 'red', 0.5), ('nir', 'red', 0.5)]
    """
    if source_weight.dim() < 2 or source_weight.shape[1] != len(source_bands):
        raise ValueError(f"the source weight {tuple(source_weight.shape)} has "
                         f"{source_weight.shape[1] if source_weight.dim() > 1 else 0} input "
                         f"channels, but {len(source_bands)} band names were given")
    band_map = dict(band_map or {})
    _check_band_map(band_map, source_bands, target_bands)
    origins = _origins(source_bands, target_bands, band_map)
    shares = Counter(index for index, _ in origins if index is not None)
    shape = (source_weight.shape[0], len(target_bands), *source_weight.shape[2:])
    weight = torch.zeros(shape, dtype=source_weight.dtype, device=source_weight.device)
    bands = []
    for channel, (band, (index, rule)) in enumerate(zip(target_bands, origins)):
        if index is None:
            bands.append({"band": band, "from": None, "scale": 0.0, "rule": rule})
            continue
        scale = 1.0 / shares[index]
        weight[:, channel] = source_weight[:, index] * scale
        bands.append({"band": band, "from": source_bands[index], "scale": scale,
                      "rule": rule})
    return weight, bands


def _origins(source_bands: list[str], target_bands: list[str],
             band_map: dict[str, str]) -> list[tuple[int | None, str]]:
    """Per target band: (the source channel it copies or None, the rule that chose it)."""
    position = {name: index for index, name in reversed(list(enumerate(source_bands)))}
    if not band_map and not set(target_bands) & set(position):
        return [(channel % len(source_bands), "repeated: no band names in common")
                for channel in range(len(target_bands))]
    origins = []
    for band in target_bands:
        if band in band_map:
            origins.append((position[band_map[band]], "model.band_map"))
        elif band in position:
            origins.append((position[band], "same name"))
        else:
            origins.append((None, "new band: starts at zero"))
    return origins


def _check_band_map(band_map: dict[str, str], source_bands: list[str],
                    target_bands: list[str]) -> None:
    unknown_new = [band for band in band_map if band not in target_bands]
    unknown_source = [band for band in band_map.values() if band not in source_bands]
    problems = []
    if unknown_new:
        problems.append(f"{', '.join(map(repr, unknown_new))} not among this run's bands "
                        f"({', '.join(target_bands)})")
    if unknown_source:
        problems.append(f"{', '.join(map(repr, dict.fromkeys(unknown_source)))} not among "
                        f"the source run's bands ({', '.join(source_bands)})")
    if problems:
        raise UserError(f"model.band_map maps new band -> source band, but "
                        f"{'; and '.join(problems)}; use those names (a scene's band names "
                        "are its band descriptions, or band1, band2, ... without them)")


def describe_first_conv(section: dict) -> str:
    """Two lines for ``describe_init_report``: which bands became which, at what scale."""
    source, target = section["from_bands"], section["to_bands"]
    parts = []
    for item in section["bands"]:
        if item["from"] is None:
            parts.append(f"{item['band']}=0")
        else:
            scale = "" if item["scale"] == 1.0 else f"×{item['scale']:.3g}"
            parts.append(f"{item['band']}={item['from']}{scale}")
    return (f"  adapted {section['name']} from {len(source)} bands ({', '.join(source)}) to "
            f"{len(target)} ({', '.join(target)}):\n    {', '.join(parts)}")
