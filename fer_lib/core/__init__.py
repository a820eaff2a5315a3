"""The machinery every paper shares: the one training loop and its config (train, train_config, packed), batched
on-device augmentation (augment), resolution degradation and its batch_fns (degrade), metrics, atomic writes and
the one checkpoint format (io), dataset parts for a GPU machine (datapack), where the study lives on disk (paths)."""
