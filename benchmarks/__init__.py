"""Side-by-side benchmarks of lume_widget: each figure of ours next to its floor or peer, with the ratio.

Run ``python -m benchmarks`` (``--quick`` for a reduced run); see docs/benchmarks.md.
"""
