"""What the embeddings reference's figures must show beyond passing (harness/labs/curriculum.py)."""


def reference(reports):
    (r,) = reports
    assert r.metrics["questions"] == 200 and r.metrics["embedding_dim"] == 384
