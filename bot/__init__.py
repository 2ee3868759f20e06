"""ammkeeper: a keeper that rebalances liquidity in constant-product AMM pools."""

__version__ = "0.1.0"
