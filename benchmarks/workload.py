"""The texts every measurement classifies: product, service and film reviews of mixed lengths.

Deterministic (a fixed seed), so runs compare. Most texts fit one 512-token window, as most
reviews do; a few are long enough to need two, so windowing and multi-window jobs are part
of what is measured. The pipeline, the naive pipeline and the batched forward all classify
exactly these texts.
"""

import random
from pathlib import Path

from contracts import PreprocessOutput
from preprocess_worker.settings import PreprocessSettings
from preprocess_worker.stage import preprocess
from preprocess_worker.windows import WindowTokenizer

SENTENCES = [
    "The delivery was late and the box was damaged, but support replaced it within two days.",
    "Honestly one of the best purchases I have made this year.",
    "The battery barely lasts an afternoon, which is not what the listing promised.",
    "Great value for the price, and it feels solid in the hand.",
    "I wanted to love this film, but the plot falls apart in the second half.",
    "The acting is wonderful and the soundtrack stayed with me for days.",
    "Customer service never answered my emails, so I returned it.",
    "Setup took five minutes and everything worked the first time.",
    "The food was cold when it arrived and the portions were tiny.",
    "Our waiter was friendly and the dessert menu is worth the trip alone.",
    "It broke after three weeks of normal use.",
    "The screen is bright and sharp, even outside in the sun.",
    "I would not recommend this hotel: the room smelled of smoke and the staff did not care.",
    "Pretty good overall, although the instructions could be clearer.",
    "The characters are flat and the ending felt rushed.",
    "My kids watched it twice in one weekend and asked for the sequel.",
    "Shipping was quick and the packaging was excellent.",
    "The sound quality is fine for calls but music sounds thin.",
    "After the update the app crashes every time I open the camera.",
    "Comfortable shoes, true to size, and they still look new after months of walking.",
    "The coffee is bitter and overpriced for what you get.",
    "A lovely little restaurant with a seasonal menu and a quiet terrace.",
    "The seller refunded me immediately when the item turned out to be the wrong color.",
    "I expected more from a brand with this reputation.",
    "The story is slow to start, but the last three episodes are brilliant.",
    "Cheap plastic, loose buttons, and a cable that stopped charging after a week.",
    "The apartment was clean, close to the station, and exactly as pictured.",
    "Nothing special, but it does the job and the price was right.",
    "The director clearly cared about every scene, and it shows.",
    "Two stars, because the replacement worked better than the original.",
    "I have ordered from them for years and they have never let me down.",
    "The laptop runs hot and the fan is loud even when it does nothing.",
    "Beautiful visuals cannot save a script this boring.",
    "The staff went out of their way to help us with a late check-in.",
    "It arrived with a cracked lid and a missing charger.",
    "Light, easy to clean, and surprisingly sturdy.",
    "The chicken was dry, the pizza was soggy, and we waited an hour for both.",
    "A thoughtful, funny book that I finished in one sitting.",
    "Mixed feelings: great design, disappointing battery, average camera.",
    "Would buy again without a second thought.",
]
# Sentences per text: short reviews dominate, as they do on review sites.
SHORT_LENGTHS = [1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12]
LONG_LENGTH = 40  # about 600 tokens: two windows of a 512-token model
LONG_EVERY = 16  # one text in sixteen is long


def review_texts(count: int = 64, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(count):
        length = LONG_LENGTH if i % LONG_EVERY == LONG_EVERY // 2 else rng.choice(SHORT_LENGTHS)
        texts.append(" ".join(rng.choice(SENTENCES) for _ in range(length)))
    return texts


# One sentence: the orchestrator's cost per hop is measured with the cheapest real request,
# where it is the largest share of the time and the model's own noise the smallest.
SHORT_REVIEW = SENTENCES[0]


def preprocessed(texts: list[str], model_dir: Path) -> list[PreprocessOutput]:
    """Each text as the preprocess worker, with its default settings, turns it into windows:
    the exact token ids the pipeline's inference worker receives."""
    settings = PreprocessSettings()
    tokenizer = WindowTokenizer(
        model_dir, settings.window_overlap_tokens, settings.max_tokens_per_window
    )
    return [preprocess({"text": text}, tokenizer) for text in texts]
