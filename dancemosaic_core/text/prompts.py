"""The text prompts the model is trained and queried with.

The paper's genre prompt (DanceMosaic section 3.1), the one place it is written: training
captions (data.dataset) and inference (inference.loader.DanceModel.prompt) both read it here.
"""

GENRE_PROMPT = "person dances on {genre} style"


def genre_prompt(genre: str) -> str:
    return GENRE_PROMPT.format(genre=genre)
