"""The harness's tests. Their fixtures (model paths, real_labs, lab_threads) and the CPU sharing
between xdist workers are in the root conftest.py, which labs/<id>/tests/ share."""

# The fault suite's summary is printed where the reports arrive (the xdist controller too).
pytest_plugins = ["faults.summary"]
