"""A tiny pretrained-style encoder built in the test, nothing downloaded: a WordPiece tokenizer built from local
review text and a two-layer DistilBERT of width 32 with random weights, saved as a hub model folder would be.

It learns the synthetic reviews of ``tests.training.sm_helpers.make_reviews`` (sentiment words) in a few dozen
steps, which is all the recipe's tests need: the plumbing, not the accuracy of a real checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.training.sm_helpers import make_reviews

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_POSITIONS = 128


def train_tokenizer(texts: list[str]):
    """A lower-casing WordPiece tokenizer (BERT-style special tokens) with the words and characters of ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    # The vocabulary is built here rather than learned: WordPieceTrainer picks among tied merges and numbers its
    # tokens in hash-map order, which changes from one process to the next (huggingface/tokenizers issue 1794), and
    # the tiny model's answers changed with it. Every whole word of ``texts``, then each character alone and as a
    # continuation, in a fixed order: the same ids in every run.
    normalize = normalizers.BertNormalizer(lowercase=True).normalize_str
    split = pre_tokenizers.BertPreTokenizer().pre_tokenize_str
    words = sorted({word for text in texts for word, _ in split(normalize(text))})
    characters = sorted({character for word in words for character in word})
    ordered = [*SPECIAL_TOKENS, *characters, *(f"##{c}" for c in characters),
               *(word for word in words if word not in characters)]
    tokenizer.model = models.WordPiece({token: i for i, token in enumerate(ordered)}, unk_token="[UNK]")
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    wrapped = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    wrapped.model_max_length = MAX_POSITIONS  # saved as 1e30 otherwise
    return wrapped


def build_tiny_pretrained(folder: Path, seed: int = 0) -> Path:
    """Save a tiny DistilBERT and its tokenizer into ``folder`` (what `ds-on-aws stage-model` would upload)."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(seed)
    tokenizer = train_tokenizer([r["text"] for r in make_reviews(400, seed=99)])
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=64, n_layers=1, n_heads=2, hidden_dim=128,
                              max_position_embeddings=MAX_POSITIONS, pad_token_id=tokenizer.pad_token_id,
                              dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, initializer_range=0.1)
    folder.mkdir(parents=True, exist_ok=True)
    DistilBertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
