"""What the structured-output reference's figures must show beyond passing (harness/labs/curriculum.py)."""


def reference(reports):
    (r,) = reports
    assert r.metrics["unconstrained_failure_rate"] > 0  # the same run shows the prompt alone failing
