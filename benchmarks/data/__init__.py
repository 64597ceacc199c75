"""Dataset adapters (one module per dataset, see ``base.py`` for the contract)."""
