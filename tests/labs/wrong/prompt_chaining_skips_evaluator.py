"""WRONG on purpose (tests): the chain skips the evaluator - the model writes the answer.

prompt-chaining, reference solution modified.

A GSM8K problem solved as a chain of steps that each do one thing:
  1. write_expression: the model writes ONE arithmetic expression (constrained by a JSON
     schema whose string pattern only allows digits, operators, parentheses and spaces);
  2. safe_eval: Python computes it with an ast-walking evaluator - never eval();
  3. format_answer: the number is written the way GSM8K writes answers.
solve_single is the baseline: one prompt asking for the answer directly.
"""

from __future__ import annotations

import ast
import json
import operator
import re

EXPRESSION_SCHEMA = {
    "type": "object",
    "properties": {"expression": {"type": "string", "pattern": "^[0-9][0-9+*/(). -]{0,48}$"}},
    "required": ["expression"],
    "additionalProperties": False,
}

EXPRESSION_PROMPT = (
    "Write one arithmetic expression that computes the answer to the math problem. "
    "Use only numbers and + - * / ( ). Reply as JSON: {\"expression\": \"...\"}"
)

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_ABS = 1e12  # refuse absurd intermediate values instead of computing them


def write_expression(llm, problem: str) -> str:
    messages = [{"role": "system", "content": EXPRESSION_PROMPT}, {"role": "user", "content": problem}]
    reply = llm.chat(messages, max_tokens=64, temperature=0.0, schema=EXPRESSION_SCHEMA)
    return json.loads(reply.text)["expression"]  # the schema bounds it, so the JSON is complete


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


def format_answer(value: float) -> str:
    """GSM8K style: 72 not 72.0; at most 2 decimals otherwise (0.5, 2.25)."""
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


def solve_chain(llm, problem: str) -> str:
    # Skips step 2: the model's "expression" is taken as the answer when it is a number.
    expression = write_expression(llm, problem)
    numbers = re.findall(r"\d+(?:\.\d+)?", expression)
    return format_answer(float(numbers[-1])) if numbers else ""


def solve_single(llm, problem: str) -> str:
    """Baseline: one prompt, the answer read from the reply's last number."""
    messages = [{"role": "system", "content": "Solve the math problem. End with: The answer is N."},
                {"role": "user", "content": problem}]
    reply = llm.chat(messages, max_tokens=96, temperature=0.0)
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", reply.text)
    return numbers[-1].replace(",", "") if numbers else ""
