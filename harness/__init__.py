"""local-lab-harness: graded AI-engineering labs and benchmarks on small local models."""

__version__ = "0.1.0"
