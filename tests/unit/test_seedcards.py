"""What the seed cards report is read correctly (these figures are set beside ours in every report)."""

import numpy as np
import pytest

from pairings.data import seed_pairings, seedcards


@pytest.mark.parametrize("pairing", list(seed_pairings()))
def test_every_card_parses(pairing):
    card = seedcards.load(pairing)
    assert len(card.example) == 3 and card.dataset_size > 0


def test_snli_card():
    card = seedcards.load("snli-softmax")
    assert card.dataset_size == 549367 and card.loss_log[0] == (0.0291, 500, 1.0795)
    assert card.loss_log[-1] == (3.99, 68500, 0.908) and len(card.loss_log) == 137
    assert card.reported_similarity is None  # it printed only the shape


def test_greetings_card_shows_collapse():
    card = seedcards.load("greetings-mnrl")
    assert card.log_losses == [2.1334, 2.0782, 2.0752]
    assert card.example[1] == "It’s my pleasure to help. How can I assist?"  # mojibake undone
    np.testing.assert_allclose(card.reported_similarity[0], [1.0, 0.9837, 0.9853])


def test_ncert_card_has_no_normalize_and_512_positions():
    card = seedcards.load("ncert-mnrl")
    assert not card.has_normalize and card.max_seq_length == 512
    assert seedcards.load("quora-mnrl").has_normalize


def test_ncert_example_is_shown_without_its_passage():
    card = seedcards.load("ncert-mnrl")
    assert len(card.example[0].split()) > 40  # the card quotes a whole NCERT passage
    shown = card.shown_example
    assert shown[0] == f"[the card's NCERT passage, {len(card.example[0].split())} words]"
    assert shown[1:] == card.example[1:]  # its short answer phrases stay
    assert seedcards.load("greetings-mnrl").shown_example == seedcards.load("greetings-mnrl").example
