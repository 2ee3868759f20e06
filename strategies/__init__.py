"""Rebalancing strategies: one small pure module each (BookView -> Targets | Hold)."""
