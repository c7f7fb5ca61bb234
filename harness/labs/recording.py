"""A chat model that keeps what it replied, so that a grader can check what the learner's code
did with the model: that an answer is the model's, that a schema was passed."""

from __future__ import annotations


class RecordingLLM:
    """The chat model as the learner's code sees it: every call goes through, and every reply is kept."""

    def __init__(self, llm):
        self._llm = llm
        self.replies: list[str] = []
        self.schemas: list[bool] = []

    def chat(self, messages, **kw):
        c = self._llm.chat(messages, **kw)
        self.replies.append(c.text)
        self.schemas.append(kw.get("schema") is not None)
        return c

    def complete(self, prompt, **kw):
        c = self._llm.complete(prompt, **kw)
        self.replies.append(c.text)
        self.schemas.append(kw.get("schema") is not None)
        return c

    def stream(self, messages, **kw):
        parts = []
        for chunk in self._llm.stream(messages, **kw):
            parts.append(chunk.text or "")
            if chunk.done:
                self.replies.append(chunk.completion.text if chunk.completion else "".join(parts))
                self.schemas.append(kw.get("schema") is not None)
            yield chunk

    def __getattr__(self, name):
        return getattr(self._llm, name)
