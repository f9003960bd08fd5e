"""Write a random DistilBERT classifier and its tokenizer to a directory, fully offline.

Tests and offline trials of `make run` use the tiny one in place of the default model: the
same architecture, files and code paths, a few hundred kilobytes, no download. `make
benchmark` uses `--size base`, the default model's shape (DistilBERT-base: 66 M parameters,
a 30,522-token vocabulary, 512 positions), so its timings are the real model's without it.

    python -m scripts.make_tiny_model OUT_DIR [--size tiny|base] [--max-length N]
        [--labels NEGATIVE,POSITIVE] [--slow-only]
"""

import argparse
import itertools
import json
import random
import shutil
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an and or but not no is are was were be been it this that i you he she we they "
    "me my your our their good great bad terrible awful love hate like movie film product "
    "service food very really so too much more most less best worst happy sad angry nice fine "
    "okay ok well day time people thing way work works worked working buy bought price quality "
    "fast slow would could should will can do does did have has had get got make made go went "
    "see saw with without for from to of in on at by about as if then than when what which who "
    "how why"
).split()


# Everyday words of product, service and film reviews: with them in its vocabulary, the base
# model's tokenizer splits review text into about as many tokens as the default model's does.
REVIEW_WORDS = (
    "after again all also always am any anyone anything around away back because before being "
    "better between both came come comes coming day days delivery didn doesn don down each "
    "easy even ever every everything experience few first found friendly from full gave give "
    "going gone half hard help helpful here high highly home hour hours into item just keep "
    "kind know last least left little long look looked looking lot made many maybe minutes "
    "money month months must need needed never new next night now off once one only order "
    "ordered other out over own part perfect place pretty probably put quick quite rather "
    "recommend right said same say second seems set several since small some something soon "
    "still story stuff such sure take taken tell thank thanks there these think those though "
    "three through times today told took top tried try trying two under until up us use used "
    "using value want wanted wasn week weeks went where while whole worth wrong year years yet "
    "able actually almost already amazing anyway app arrived average awesome battery beautiful "
    "big box broke broken cheap clean cold comfortable customer damaged decent definitely "
    "delicious design different disappointed disappointing easily enough especially excellent "
    "expected expensive fantastic favorite feel feels fixed funny glad hot however ideal "
    "impressed instead issue issues large late light loved lovely meal menu minor mixed nothing "
    "okay overall package packaging poor problem problems product quality ready real refund "
    "reliable replaced replacement return returned review room screen seller shipping size "
    "slightly solid sound staff star stars started support sweet table taste terrible thought "
    "tiny totally unfortunately update useful waiting waste watch watched water wonderful "
    "acting actor actors beginning boring character characters cinema director ending episode "
    "felt plot scene scenes script season series show soundtrack visuals book author chapter "
    "read reading writing restaurant hotel waiter service price prices apartment car phone "
    "laptop camera headphones shoes shirt coffee pizza chicken dinner lunch breakfast cake"
).split()
# Filler so the base tokenizer has exactly the base model's vocabulary size: word pieces of
# two and three letters, which unknown words split into, as real WordPiece vocabularies do.
BASE_VOCAB_SIZE = 30522


@dataclass(frozen=True)
class ModelSize:
    dim: int
    n_layers: int
    n_heads: int
    hidden_dim: int
    max_length: int
    # None: as many tokens as the tokenizer has.
    vocab_size: int | None
    initializer_range: float


SIZES = {
    # Larger than the usual 0.02 initializer so the random model gives clearly different
    # probabilities for different texts, which makes parity tests meaningful.
    "tiny": ModelSize(32, 2, 2, 64, 64, None, 0.5),
    "base": ModelSize(768, 6, 12, 3072, 512, BASE_VOCAB_SIZE, 0.02),
}


def _vocabulary(vocab_size: int | None) -> list[str]:
    symbols = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    vocab_list = SPECIAL_TOKENS + symbols + [f"##{s}" for s in symbols] + sorted(set(WORDS))
    if vocab_size is None:
        return list(dict.fromkeys(vocab_list))
    letters = string.ascii_lowercase
    pairs = ["".join(p) for p in itertools.product(letters, repeat=2)]
    triples = ["".join(p) for p in itertools.product(letters, repeat=3)]
    vocab_list += sorted(set(REVIEW_WORDS)) + pairs + [f"##{p}" for p in pairs] + triples
    vocab = list(dict.fromkeys(vocab_list))
    known = set(vocab)
    endings = [f"##{t}" for t in triples if f"##{t}" not in known]
    vocab += sorted(random.Random(0).sample(endings, vocab_size - len(vocab)))
    return vocab


def build_tokenizer(vocab_size: int | None = None) -> Tokenizer:
    vocab = {token: i for i, token in enumerate(_vocabulary(vocab_size))}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


def write_tiny_model(
    out_dir: Path,
    max_length: int | None = None,
    labels: tuple[str, ...] = (),
    slow_only: bool = False,
    size: str = "tiny",
) -> Path:
    """Write the model; with `slow_only`, ship vocab.txt and no tokenizer.json, as the default
    model does, so that scripts/prepare_model.py has something to convert."""
    shape = SIZES[size]
    max_length = max_length or shape.max_length
    # Heavy imports here: the tokenizer part above stays usable without torch.
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    labels = labels or ("NEGATIVE", "POSITIVE")
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(shape.vocab_size),
        model_max_length=max_length,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=True,
    )
    tokenizer.save_pretrained(out_dir)
    if slow_only:
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        (out_dir / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab))
        (out_dir / "tokenizer.json").unlink()
        config = {"do_lower_case": True, "model_max_length": max_length}
        (out_dir / "tokenizer_config.json").write_text(json.dumps(config))

    torch.manual_seed(0)
    config = DistilBertConfig(
        vocab_size=shape.vocab_size or len(tokenizer),
        dim=shape.dim,
        n_layers=shape.n_layers,
        n_heads=shape.n_heads,
        hidden_dim=shape.hidden_dim,
        max_position_embeddings=max_length,
        initializer_range=shape.initializer_range,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
    )
    model = DistilBertForSequenceClassification(config).eval()
    model.save_pretrained(out_dir)
    return out_dir


def ensure_random_model(out_dir: Path, size: str = "tiny") -> Path:
    """The random model at `out_dir`, written first if it is not there (whole or not at all:
    an interrupted write leaves nothing behind that a later run would take for a model)."""
    if (out_dir / "config.json").exists() and any(out_dir.glob("*.safetensors")):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        write_tiny_model(staging, size=size)
        shutil.rmtree(out_dir, ignore_errors=True)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--max-length", type=int, help="default: the size's (64 tiny, 512 base)")
    parser.add_argument("--labels", default="NEGATIVE,POSITIVE")
    parser.add_argument("--slow-only", action="store_true", help="vocab.txt, no tokenizer.json")
    args = parser.parse_args()
    labels = tuple(args.labels.split(","))
    path = write_tiny_model(args.out_dir, args.max_length, labels, args.slow_only, args.size)
    print(f"{args.size} random model written to {path}")


if __name__ == "__main__":
    main()
