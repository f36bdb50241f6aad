"""Measuring reconstructions: the Table 2 protocol (``protocol``), the errors and image metrics it reports
(``metrics``, ``quality``, ``lpips``), Mahendran & Vedaldi's optimisation as a baseline method (``optimize``), and
what is written from the results (``report``: HTML and tables; ``figures``: the paper's figures)."""

from .protocol import PAPER_TABLE2, EvalResult, evaluate

__all__ = ["PAPER_TABLE2", "EvalResult", "evaluate"]
