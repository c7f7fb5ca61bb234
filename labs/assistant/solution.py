"""Reference solution of the assistant lab: route each item to a calculator or a search tool,
call the tool with arguments that match its JSON schema, answer, and keep a trace.

What a 135M model cannot do is done by code: the routing (a rule: a text with two numbers or
more is arithmetic), the numbers (a regex), the arithmetic (an ast evaluator), the search query
(the question itself). The model does the two steps it can do: pick one expression out of a
schema's enum of "a op b" candidates, and copy a short answer out of two retrieved sentences.
"""

from __future__ import annotations

import ast
import json
import operator
import re
import time

import faiss
import numpy as np

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"])")
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
K = 2  # sentences per search

SEARCH_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 3, "maxLength": 300}},
    "required": ["query"],
    "additionalProperties": False,
}

# Worked examples as earlier turns of the chat: a 135M model copies the pattern of a previous
# reply better than it follows a description (written for this lab, in SVAMP's style).
EXAMPLES = [
    ("Jake has 9 fewer peaches than Steven. Steven has 16 peaches. How many peaches does Jake have?", "16 - 9"),
    ("There are 5 baskets with 12 apples in each basket. How many apples are there?", "12 * 5"),
    ("Mary had 23 books. She bought 7 more books and read 2. How many books does she have now?", "23 + 7"),
    ("Paul has 48 candies. He puts them equally into 6 bags. How many candies are in each bag?", "48 / 6"),
    ("Ann picked 35 flowers and Bob picked 18 flowers. How many more flowers did Ann pick than Bob?", "35 - 18"),
]
CHOOSE_SYSTEM = "Pick the arithmetic expression that answers the math word problem."
ANSWER_SYSTEM = "Answer the question with a short phrase copied from the passages."


def calculator_schema(expressions: list[str]) -> dict:
    """The calculator's arguments: one of these expressions, nothing else."""
    return {
        "type": "object",
        "properties": {"expression": {"type": "string", "enum": list(expressions)}},
        "required": ["expression"],
        "additionalProperties": False,
    }


def tool_schemas(item: dict) -> dict:
    """The JSON schema of each tool's arguments for this item: the calculator takes one "a op b"
    over the item's own numbers (an enum), the search a query."""
    return {"calculator": calculator_schema(candidates(item["text"])), "search": SEARCH_SCHEMA}


def numbers(text: str) -> list[float]:
    """The numbers written with digits, in order of appearance, each once ("1,200" -> 1200)."""
    out: list[float] = []
    for m in NUMBER.findall(text):
        x = float(m.replace(",", ""))
        if x not in out:
            out.append(x)
    return out


def route(llm, embedder, item: dict) -> str:
    """A rule, neither the chat model nor the embedder: a word problem gives at least two
    numbers to compute with; a question about an article rarely writes two."""
    return "calculator" if len(numbers(item["text"])) >= 2 else "search"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6f}".rstrip("0").rstrip(".")


def candidates(text: str) -> list[str]:
    """Every "a op b" over two different numbers of the text, the larger number first (a count
    is never negative, a share is not below 1), no division by zero."""
    nums = numbers(text)
    out = []
    for i, a in enumerate(nums):
        for b in nums[i + 1 :]:
            hi, lo = _num(max(a, b)), _num(min(a, b))
            out += [f"{hi} + {lo}", f"{hi} - {lo}", f"{hi} * {lo}"] + ([f"{hi} / {lo}"] if min(a, b) else [])
    return out


def calculator_arguments(llm, text: str, exclude: list[str] = ()) -> dict | None:
    """The model picks one expression: the schema's enum holds only the candidates not tried
    yet (a narrower schema than the tool's), so whatever it writes is a valid call; None when
    none is left."""
    options = [c for c in candidates(text) if c not in exclude]
    if not options:
        return None
    schema = calculator_schema(options)
    messages = [{"role": "system", "content": CHOOSE_SYSTEM}]
    for problem, expression in EXAMPLES:
        messages += [
            {"role": "user", "content": problem},
            {"role": "assistant", "content": json.dumps({"expression": expression})},
        ]
    messages.append({"role": "user", "content": text})
    reply = llm.chat(messages, max_tokens=40, temperature=0.0, seed=0, schema=schema)
    return json.loads(reply.text)


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def calculator(arguments: dict) -> float:
    """The calculator tool: "a op b" parsed by ast, never eval(); anything else is a ValueError."""
    expression = arguments.get("expression") if isinstance(arguments, dict) else None
    if not isinstance(expression, str) or len(expression) > 64:
        raise ValueError("expected {'expression': 'a op b'}")
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise ValueError(f"not an expression: {expression!r}") from None
    if not (
        isinstance(node, ast.BinOp)
        and type(node.op) in _BINARY
        and all(isinstance(x, ast.Constant) and type(x.value) in (int, float) for x in (node.left, node.right))
    ):
        raise ValueError(f"only 'a op b' over two numbers: {expression!r}")
    if isinstance(node.op, ast.Div) and node.right.value == 0:
        raise ValueError("division by zero")
    return float(_BINARY[type(node.op)](node.left.value, node.right.value))


class Index:
    """Sentence vectors (unit length) in a FAISS HNSW index, and the sentences."""

    def __init__(self, vectors: np.ndarray, texts: list[str]):
        self.texts = texts
        self.faiss = faiss.IndexHNSWFlat(vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        self.faiss.hnsw.efConstruction = 40
        self.faiss.add(vectors)
        self.faiss.hnsw.efSearch = 64


def build_index(embedder, docs: list[dict]) -> Index:
    """One chunk per sentence, embedded with its article's title in front (so that a question
    naming the topic finds it). Sentences, not paragraphs: two of them make a prompt about a
    quarter as long as two paragraphs, and the 135M model copies the answer out of it more often."""
    sentences = [s for d in docs for s in SENTENCE_END.split(d["text"].strip()) if s.strip()]
    titled = [f"{d['title']}: {s}" for d in docs for s in SENTENCE_END.split(d["text"].strip()) if s.strip()]
    vectors = np.asarray(embedder.embed(titled, normalize=True), dtype=np.float32)
    return Index(vectors, sentences)


def search(embedder, index: Index, arguments: dict) -> list[str]:
    """The search tool: the K sentences nearest to the query, best first."""
    q = np.asarray(embedder.embed([arguments["query"]], normalize=True), dtype=np.float32)
    _, ids = index.faiss.search(q, K)
    return [index.texts[i] for i in ids[0] if i >= 0]


def _plausible(result) -> bool:
    """A word problem's answer counts things: a whole number, not negative."""
    return isinstance(result, float) and result >= 0 and result.is_integer()


def _step(tools, tool: str, arguments: dict) -> dict:
    t0 = time.perf_counter()
    try:
        result = tools[tool](arguments)
    except ValueError as e:
        result = f"error: {e}"
    return {"tool": tool, "arguments": arguments, "result": result, "seconds": time.perf_counter() - t0}


def answer(llm, embedder, tools: dict, item: dict, max_steps: int) -> dict:
    """Route, call the tool (at most max_steps calls), answer; every call goes in the trace."""
    trace: list[dict] = []
    if route(llm, embedder, item) == "calculator":
        tried: list[str] = []
        while len(trace) < max_steps:
            arguments = calculator_arguments(llm, item["text"], exclude=tried)
            if arguments is None:
                break
            step = _step(tools, "calculator", arguments)
            trace.append(step)
            if _plausible(step["result"]):
                return {"answer": _num(step["result"]), "trace": trace}
            tried.append(arguments["expression"])  # implausible: ask again without it
        return {"answer": "", "trace": trace}
    step = _step(tools, "search", {"query": item["text"]})
    trace.append(step)
    passages = step["result"] if isinstance(step["result"], list) else []
    context = "\n\n".join(passages)
    q = item["text"]
    messages = [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": f"Question: {q}\n\nPassages:\n{context}\n\nQuestion: {q}"},
    ]
    reply = llm.chat(messages, max_tokens=24, temperature=0.0, seed=0)
    return {"answer": reply.text, "trace": trace}
