"""The statistics layer's own error: bad arrays handed to a scoring function."""

from cxrbench.errors import CxrbenchError


class StatsError(CxrbenchError):
    """Inputs to a statistic are malformed: mismatched lengths, non-finite scores, bad labels."""
