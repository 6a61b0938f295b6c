"""The analysis: do the records support the paper's claims?

- :mod:`~mabprune.analysis.stats`: Friedman and Nemenyi (after Demšar, 2006), Wilcoxon–Holm,
  critical-difference diagrams;
- :mod:`~mabprune.analysis.evidence`: effects with uncertainty (bootstraps, the Bayesian
  signed-rank test, seed-to-seed noise);
- :mod:`~mabprune.analysis.claims`: the claims C1–C10 and the rule that decides each;
- :mod:`~mabprune.analysis.costs`: the rule of C10 on the cost of the runs;
- :mod:`~mabprune.analysis.verdict`: the scoreboard recomputed under each protocol choice.
"""
