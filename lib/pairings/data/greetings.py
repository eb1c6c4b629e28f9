"""Greetings (seed card 003): a generated greeting → an assistant reply, as the seed's samples look."""

from __future__ import annotations

import random
from dataclasses import dataclass

from datasets import Dataset

from pairings.data.base import PairData, Retrieval, Task
from pairings.data.sources import DATA_SEED, Loaded
from pairings.evaluate import metrics

GREETING_PREFIXES = ("Hi", "Hello", "Hey there", "Greetings")
# intent: (openers, replies). The last opener of each intent is held out: test prompts use only it.
GREETING_INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "assist": (
        ("May I assist you in any way?", "How can I help you right now?", "Is there anything I can do for you?"),
        ("It’s my pleasure to help. How can I assist?", "I am at your service. Kindly tell me how I can help."),
    ),
    "guide": (
        ("Would you like me to guide you through something?", "Do you need any guidance right now?",
         "Shall I walk you through anything?"),
        ("Absolutely! I would be happy to guide you.", "I am here to make things easier for you. What do you need?"),
    ),
    "feeling": (
        ("How are you feeling today?", "How is your day going so far?", "How have you been lately?"),
        ("I am listening patiently. Please tell me how I may help.", "I am here for you. How may I support you today?"),
    ),
    "brighten": (
        ("How can I make your day better?", "What would make today great for you?", "How can I brighten your day?"),
        ("With pleasure! How may I serve you today?", "Let us make today a good one. Tell me what you need."),
    ),
    "questions": (
        ("Do you have any questions for me?", "Is there something you want to ask?", "Any questions on your mind?"),
        ("Please feel free to ask me anything, I am here for you.", "Ask away, I will do my best to answer."),
    ),
}
GREETING_REPLIES = tuple(r for _, replies in GREETING_INTENTS.values() for r in replies)
PAIRINGS = ("random", "by_intent")


def generate_greetings(n: int, pairing: str = "random") -> Loaded:
    """n (prompt, reply) training pairs: "<prefix>, <opener>" → an assistant reply.

    ``random`` pairs each prompt with any reply, as the seed's data do (its samples answer the same
    prompt with different replies); ``by_intent`` draws the reply from the opener's intent.
    """
    rng = random.Random(DATA_SEED)
    rows = {"prompt": [], "reply": [], "intent": []}
    intents = list(GREETING_INTENTS)
    for _ in range(n):
        intent = rng.choice(intents)
        openers, replies = GREETING_INTENTS[intent]
        prompt = f"{rng.choice(GREETING_PREFIXES)}, {rng.choice(openers[:-1])}"
        reply = rng.choice(GREETING_REPLIES if pairing == "random" else replies)
        rows["prompt"].append(prompt)
        rows["reply"].append(reply)
        rows["intent"].append(intent)
    return Loaded(Dataset.from_dict(rows), f"generated ({pairing})", n)


def retrieval_task() -> Retrieval:
    """Held-out prompts (the held-out opener of each intent × every prefix) → the replies of their intent."""
    corpus = {f"r{i}": reply for i, reply in enumerate(GREETING_REPLIES)}
    queries, relevant = {}, {}
    for intent, (openers, replies) in GREETING_INTENTS.items():
        for prefix in GREETING_PREFIXES:
            qid = f"q{len(queries)}"
            queries[qid] = f"{prefix}, {openers[-1]}"
            relevant[qid] = {cid for cid, text in corpus.items() if text in replies}
    return Retrieval("greetings-heldout", queries, corpus, relevant)


class ReplyRetrieval(Task):
    """Each held-out prompt ranks the distinct replies (the relevant ones: its intent's); and collapse:
    the mean cosine between distinct replies."""

    metric = "mrr@10"

    def __init__(self):
        super().__init__()
        self.retrieval = retrieval_task()

    def transfer(self, model) -> float:
        return self.retrieval.evaluate(model)[self.metric]

    def evaluate(self, model, loss) -> dict[str, float]:
        return {**self.retrieval.evaluate(model),
                "reply_cosine": metrics.mean_pairwise_cosine(model, list(self.retrieval.corpus.values()))}


class Greetings(PairData):
    name, title, pairing, card = "greetings", "Greetings", "greetings-mnrl", "003_d628127e892d8a4e"
    @dataclass(frozen=True)
    class Options:
        greetings_pairing: str = "random"  # random (as the seed) | by_intent (replies that answer the opener)
    text_columns = pair = ("prompt", "reply")
    generated = True
    recipe = {"train_data": "generated", "test_data": "generated", "train_pairs": 3000,
              "loss": "mnrl", "batch_size": 8, "epochs": 4, "max_seq_length": 256}

    def validate(self, p, fail):
        if p.options.greetings_pairing not in PAIRINGS:
            fail("greetings_pairing", "must be 'random' (as the seed) or 'by_intent'")

    def load(self, p):
        return generate_greetings(p.train_pairs or self.recipe["train_pairs"], p.options.greetings_pairing), ReplyRetrieval(), {}

    def stand_in(self, p):
        return "the seed's generator is not published: pairings.data.greetings imitates its samples"

    def record_data(self, p, prep):
        return {"train_source": f"generated ({p.options.greetings_pairing} pairing)", "test_source": "generated (held-out openers)",
                "test_queries": len(prep.task.retrieval.queries)}
