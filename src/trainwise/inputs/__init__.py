"""Input kinds: how a run's samples are read, split, preprocessed, batched and read back at
predict time (tables today). The contract is ``trainwise.inputs.base.InputKind``; the
registry is ``trainwise.inputs.registry``."""
