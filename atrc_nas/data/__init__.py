"""Datasets, augmentation, data module and the `python -m atrc_nas.data` tools."""
