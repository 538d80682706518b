"""What a data-parallel run cannot do, told before any rank starts (no torch imported)."""

from __future__ import annotations

from trainwise.errors import UserError


def refuse_unsupported(cfg) -> None:
    """Raise a ``UserError`` for an option the ranks could not train together.

    Raises:
        UserError: ``train.pseudo_label`` is on.
    """
    if cfg.train.pseudo_label.enabled:
        raise UserError("train.pseudo_label: pseudo-labelling changes the training rows as it "
                        "goes, which the ranks of a data-parallel run would each do apart; "
                        "train it in one process (without torchrun or --nproc).")
