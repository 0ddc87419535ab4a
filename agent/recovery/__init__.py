"""Recovery: the retry policy, the stall ledger and the fallback chain."""
