"""Differentiable ATRC search with resource budgets.

Entry points: ``python -m atrc_nas.search CONFIG`` and
:func:`atrc_nas.search.run.run_search`. See ``docs/search.md``.
"""
