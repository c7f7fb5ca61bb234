"""What the vector-index reference's figures must show beyond passing (harness/labs/curriculum.py)."""


def reference(reports):
    (r,) = reports
    assert r.metrics["hnsw_index"] == "IndexHNSWFlat" and r.metrics["ivf_index"] == "IndexIVFFlat"
    assert len(r.metrics["hnsw_sweep"]) == 5 and len(r.metrics["ivf_sweep"]) == 6
