"""Dataset loaders, one module per loader id (``benchmarks/data/loaders/<id>.py``, found by
``core.registry.list_loaders``); their shared types and helpers are ``benchmarks.data.base``."""
