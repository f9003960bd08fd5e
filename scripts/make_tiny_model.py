"""Write a tiny random DistilBERT classifier and its tokenizer to a directory, fully offline.

Tests and offline trials of `make run` use it in place of the default model: the same
architecture, files and code paths, a few hundred kilobytes, no download.

    python -m scripts.make_tiny_model OUT_DIR [--max-length 64] [--labels NEGATIVE,POSITIVE]
"""

import argparse
import json
import string
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


def build_tokenizer(max_length: int) -> Tokenizer:
    symbols = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    vocab_list = SPECIAL_TOKENS + symbols + [f"##{s}" for s in symbols] + sorted(set(WORDS))
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab_list))}
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
    out_dir: Path, max_length: int = 64, labels: tuple[str, ...] = (), slow_only: bool = False
) -> Path:
    """Write the model; with `slow_only`, ship vocab.txt and no tokenizer.json, as the default
    model does, so that scripts/prepare_model.py has something to convert."""
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
        tokenizer_object=build_tokenizer(max_length),
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
        vocab_size=len(tokenizer),
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=max_length,
        # Larger than the usual 0.02 so the random model gives clearly different
        # probabilities for different texts, which makes parity tests meaningful.
        initializer_range=0.5,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
    )
    model = DistilBertForSequenceClassification(config).eval()
    model.save_pretrained(out_dir)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--labels", default="NEGATIVE,POSITIVE")
    parser.add_argument("--slow-only", action="store_true", help="vocab.txt, no tokenizer.json")
    args = parser.parse_args()
    labels = tuple(args.labels.split(","))
    path = write_tiny_model(args.out_dir, args.max_length, labels, args.slow_only)
    print(f"tiny model written to {path}")


if __name__ == "__main__":
    main()
