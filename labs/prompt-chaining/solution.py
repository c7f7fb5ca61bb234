"""prompt-chaining, reference solution.

A one-operation SVAMP problem solved as a chain of steps that each do one job:
  1. extract_numbers: a regex takes the numbers out of the problem's body;
  2. candidate_expressions: Python writes every "a op b" the answer could be (a - b and a / b
     with the larger number first);
  3. choose_expression: the model picks ONE of them, constrained by a JSON-schema enum, after a
     few worked examples (the same fixed prefix every time, so the prompt cache skips it);
  4. safe_eval: Python computes it with an ast-walking evaluator - never eval().
solve_single is the baseline: one prompt, the same worked examples, the answer constrained to a
JSON number.
"""

from __future__ import annotations

import ast
import itertools
import json
import operator
import re

NUMBER = re.compile(r"\d+(?:\.\d+)?")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")  # "1,200" -> "1200"

# Worked examples written for this lab (not SVAMP problems, so none is also a graded item).
EXAMPLES = [
    ("Tom had 12 apples. He gave 5 apples to his sister.", "How many apples does Tom have now?", "12 - 5"),
    ("A box holds 6 pencils. Sara has 4 boxes.", "How many pencils does Sara have?", "6 * 4"),
    ("There are 9 red balls and 7 blue balls in a bag.", "How many balls are in the bag?", "9 + 7"),
    ("A baker made 24 cakes and put them equally on 3 plates.", "How many cakes are on each plate?", "24 / 3"),
]
CHOOSE_SYSTEM = "Write the arithmetic expression that answers the question."
SINGLE_SYSTEM = "Answer the math problem with a number."
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "number"}},
    "required": ["answer"],
    "additionalProperties": False,
}

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_ABS = 1e12  # refuse absurd intermediate values instead of computing them


def extract_numbers(body: str) -> list[float]:
    """The numbers of the body, in the order they appear, each once."""
    return list(dict.fromkeys(float(m) for m in NUMBER.findall(THOUSANDS.sub("", body))))


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def candidate_expressions(numbers: list[float]) -> list[str]:
    """Every "a op b" over two of the numbers: a + b and a * b once per pair, a - b and a / b
    with the larger number first (one-step word problems never go below zero or below one)."""
    out = []
    for a, b in itertools.combinations(numbers, 2):
        big, small = max(a, b), min(a, b)
        out += [f"{_fmt(a)} + {_fmt(b)}", f"{_fmt(big)} - {_fmt(small)}", f"{_fmt(a)} * {_fmt(b)}"]
        if small != 0:
            out.append(f"{_fmt(big)} / {_fmt(small)}")
    return list(dict.fromkeys(out))


def _problem(body: str, question: str) -> str:
    return f"{body}\n{question}"


def choose_expression(llm, body: str, question: str, candidates: list[str]) -> str:
    """The model picks one candidate: a JSON-schema enum lets it write nothing else. The
    candidates are in the schema only, not in the prompt (listing them there made this model
    worse: it copied the first ones). The system line and the examples come first and never
    change, so only the problem itself is evaluated after the first call."""
    messages = [{"role": "system", "content": CHOOSE_SYSTEM}]
    for b, q, e in EXAMPLES:
        messages += [
            {"role": "user", "content": _problem(b, q)},
            {"role": "assistant", "content": json.dumps({"expression": e})},
        ]
    messages.append({"role": "user", "content": _problem(body, question)})
    schema = {
        "type": "object",
        "properties": {"expression": {"type": "string", "enum": candidates}},
        "required": ["expression"],
        "additionalProperties": False,
    }
    reply = llm.chat(messages, max_tokens=48, temperature=0.0, schema=schema)
    return json.loads(reply.text)["expression"]  # an enum of short strings: the JSON is complete


def safe_eval(expression: str) -> float:
    """+ - * / and parentheses over numbers; anything else (names, calls, attributes,
    **, strings) raises ValueError. The string is parsed, never executed."""
    if not isinstance(expression, str) or len(expression) > 200:
        raise ValueError("expected an expression string of at most 200 characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from e
    return float(_eval(tree.body))


def _eval(node) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError("division by zero")
        value = _BINARY[type(node.op)](left, right)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        value = _UNARY[type(node.op)](_eval(node.operand))
    else:
        raise ValueError(f"not allowed in an arithmetic expression: {type(node).__name__}")
    if abs(value) > MAX_ABS:
        raise ValueError("value out of range")
    return value


def solve_chain(llm, body: str, question: str) -> float | None:
    """Numbers -> candidates -> the model's choice -> Python's arithmetic. None when the body
    has fewer than two numbers (nothing to choose from)."""
    numbers = extract_numbers(body)
    candidates = candidate_expressions(numbers)
    if not candidates:
        return None
    expression = choose_expression(llm, body, question, candidates)
    return safe_eval(expression)


def solve_single(llm, body: str, question: str) -> float | None:
    """Baseline: one prompt, the same worked examples with their answers, the answer constrained
    to a JSON number. None when the reply is not complete JSON (a runaway number)."""
    messages = [{"role": "system", "content": SINGLE_SYSTEM}]
    for b, q, e in EXAMPLES:
        messages += [
            {"role": "user", "content": _problem(b, q)},
            {"role": "assistant", "content": json.dumps({"answer": int(safe_eval(e))})},
        ]
    messages.append({"role": "user", "content": _problem(body, question)})
    reply = llm.chat(messages, max_tokens=24, temperature=0.0, schema=ANSWER_SCHEMA)
    try:
        return float(json.loads(reply.text)["answer"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
