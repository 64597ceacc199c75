"""Cases and pixels: the dataset loaders (``loaders/``), splits, pinned prompts, volumes as slices
or patches, method batches and out-of-fold masks."""
