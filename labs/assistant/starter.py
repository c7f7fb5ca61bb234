"""Assistant lab: route each request to a calculator or a search tool, call the tool with
arguments that match its JSON schema, answer, and keep a trace of every call.

The items are one-operation math word problems (SVAMP) and questions about Wikipedia articles
(SQuAD), mixed. The grader calls your functions like this:

    schemas = tool_schemas(item)                     # item: {"id": "item-07", "text": "..."}
    route(llm, embedder, item)                       # "calculator" or "search"
    index = build_index(embedder, docs)              # docs: [{"id", "title", "text"}], one per paragraph
    # tools = {"calculator": f(arguments), "search": f(arguments)}: YOUR calculator() and
    # search(embedder, index, arguments), wrapped by the grader, which records every call
    out = answer(llm, embedder, tools, item, max_steps)
    # out = {"answer": "42", "trace": [{"tool", "arguments", "result", "seconds"}, ...]}

Graded: routing accuracy; your schemas (they must accept good arguments and refuse bad ones);
every tool call's arguments valid against your schema for that item; at most max_steps calls
per item; the trace = the calls made (the grader's record); each half's answers against the
same model answering bare (no tool), paired; the time per item.

`llm.chat(messages, max_tokens=..., temperature=0.0, seed=0, schema=None)` -> Completion
(`.text`); with schema=<JSON schema>, llama.cpp constrains the reply to match it.
`embedder.embed(texts, normalize=True)` -> float32 array (len(texts), 384), unit rows.

Run `harness check assistant` to grade this file, `harness hint assistant` when stuck.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def tool_schemas(item: dict) -> dict:
    """{"calculator": schema, "search": schema}: the JSON schema of each tool's arguments for
    this item. The calculator takes {"expression": "a op b"}, the search {"query": "..."}.
    A schema must refuse what the tool cannot take (e.g. a number that is not in the item,
    code, a sentence, an extra key)."""
    # TODO: e.g. the calculator's "expression" as an enum of every "a op b" over two numbers
    #       of item["text"]; "required" and "additionalProperties": False in both schemas.
    raise NotImplementedError("tool_schemas")


def route(llm, embedder, item: dict) -> str:
    """ "calculator" for a word problem, "search" for a question about an article."""
    # TODO: measure before you trust the model with this (see the README): a rule over the
    #       text, or embedding similarity to a few examples of each kind.
    raise NotImplementedError("route")


def calculator(arguments: dict) -> float:
    """The calculator tool: {"expression": "12 + 5"} -> 17.0. Parse with ast, never eval();
    raise ValueError for anything that is not one arithmetic operation on two numbers."""
    # TODO: ast.parse(expression, mode="eval").body must be an ast.BinOp of two numeric
    #       ast.Constant with Add/Sub/Mult/Div.
    raise NotImplementedError("calculator")


def build_index(embedder, docs: list[dict]):
    """Chunk and embed the documents once; return whatever search() needs."""
    # TODO: chunks (paragraphs or sentences, with the title in front), vectors =
    #       embedder.embed(chunks, normalize=True), a FAISS index over them.
    raise NotImplementedError("build_index")


def search(embedder, index, arguments: dict) -> list[str]:
    """The search tool: {"query": "..."} -> the best few chunks' texts, best first."""
    # TODO: embed arguments["query"] the same way, index.search(q, k).
    raise NotImplementedError("search")


def calculator_arguments(llm, text: str, exclude: list[str] = ()) -> dict | None:
    """The model fills the calculator's arguments, constrained by a JSON schema."""
    # TODO: llm.chat(messages, schema=..., temperature=0.0) and json.loads(reply.text).
    raise NotImplementedError("calculator_arguments")


def answer(llm, embedder, tools: dict, item: dict, max_steps: int) -> dict:
    """Route, call the tool through tools[name](arguments) (at most max_steps calls), answer.
    Return {"answer": str, "trace": [{"tool", "arguments", "result", "seconds"}, ...]}, one step
    per call, in order; where a tool raised, the step's result is the error's text."""
    # TODO: the loop. For a word problem the answer is the calculator's result; for a
    #       question, the model's short reply from the passages the search returned.
    raise NotImplementedError("answer")
