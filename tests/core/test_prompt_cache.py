"""Prompt embeddings shipped in the model directory (text/prompt_cache.py): served without
loading the text encoder, equal to what the encoder gives, ignored when another encoder wrote them."""
import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR, DanceModel
from dancemosaic_core.text import PromptTableEncoder, build_text_encoder
from dancemosaic_core.text.prompt_cache import PROMPT_EMBEDDINGS_FILE, read_prompt_embeddings, write_prompt_embeddings
from dancemosaic_core.text.prompts import genre_prompt
from dancemosaic_core.train.assemble import write_model_prompts
from tests.model_fixture import tiny_model_dir


@pytest.fixture()
def model_dir(tmp_path):
    return tiny_model_dir(tmp_path)


def test_genre_prompts_are_served_without_the_encoder(model_dir):
    assert write_model_prompts(model_dir) == 4                   # three genres and the empty prompt
    model = DanceModel.from_pretrained(model_dir, device="cpu")
    real = build_text_encoder(model.text_encoder.spec())
    for genre in model.genres:
        got = model.text_embedding(model.prompt(genre, None))
        assert torch.equal(got, real.encode([genre_prompt(genre)]))
    assert torch.equal(model.text_embedding(""), real.encode([""]))
    assert not model.text_encoder.loaded
    free = model.text_embedding("a person dances")              # not shipped: the encoder is built
    assert model.text_encoder.loaded and torch.equal(free, real.encode(["a person dances"]))
    again = DanceModel.from_pretrained(model_dir, device="cpu")
    assert again.text_encoder.load().loaded                       # what a live node does before the music


def test_embeddings_of_another_encoder_are_not_used(model_dir):
    other = PromptTableEncoder(["person dances on Jazz style", "something else"])
    write_prompt_embeddings(model_dir, other, ["person dances on Jazz style"])
    model = DanceModel.from_pretrained(model_dir, device="cpu")
    assert read_prompt_embeddings(model_dir, model.text_encoder.spec()) == {}
    model.text_embedding(model.prompt("Jazz", None))
    assert model.text_encoder.loaded


def test_a_broken_file_is_named(model_dir):
    (model_dir / PROMPT_EMBEDDINGS_FILE).write_bytes(b"not a torch file")
    with pytest.raises(DanceMosaicError, match="train assemble"):
        DanceModel.from_pretrained(model_dir, device="cpu")


def test_the_shipped_model_ships_its_encoders_embeddings():
    # a stale file (the encoder or the genres changed) would condition every dance on wrong text
    model = DanceModel.from_pretrained(DEFAULT_MODEL_DIR, device="cpu")
    shipped = read_prompt_embeddings(DEFAULT_MODEL_DIR, model.text_encoder.spec())
    assert set(shipped) == {""} | {genre_prompt(g) for g in model.genres}
    real = build_text_encoder(model.text_encoder.spec())
    for prompt in [genre_prompt(model.genres[0]), ""]:
        assert torch.allclose(shipped[prompt], real.encode([prompt])[0], atol=1e-6)
