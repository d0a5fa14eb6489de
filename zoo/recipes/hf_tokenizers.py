"""Hugging Face tokenizer.json files for the tests, written with the `tokenizers` library itself.

- `zoo/tokenizers/spam-bert/tokenizer.json`: a BERT-style WordPiece tokenizer over spam-bert's own
  8,000-word vocabulary (from `zoo/models/spam-bert/model.json`), built to give the ids the model
  was trained with: lowercasing, splitting on every character that is not [a-z0-9], `[CLS]` first,
  truncation to 128 tokens and padding with `[PAD]`.
- `zoo/tokenizers/tiny-bpe/tokenizer.json` and `zoo/tokenizers/tiny-unigram/tokenizer.json`: small
  BPE and Unigram tokenizers trained on the spam training split, with `expected.json` beside each:
  the ids this (Rust) implementation gives for the first serving texts, so a test can check another
  implementation against it without Python.

Run: python3 zoo/recipes/hf_tokenizers.py  (needs `pip install tokenizers`).
"""
import gzip
import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "zoo" / "tokenizers"
SAMPLES = 40


def texts(split):
    with gzip.open(ROOT / "zoo" / "data" / "spam" / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def write(tokenizer, name, expected_texts=None):
    target = OUT / name
    target.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(target / "tokenizer.json"), pretty=False)
    if expected_texts is not None:
        rows = []
        for text in expected_texts:
            encoding = tokenizer.encode(text)
            rows.append({"text": text, "ids": encoding.ids, "tokens": encoding.tokens})
        (target / "expected.json").write_text(json.dumps(rows, ensure_ascii=False) + "\n", encoding="utf-8")


def spam_bert():
    spec = json.loads((ROOT / "zoo" / "models" / "spam-bert" / "model.json").read_text())
    tok = spec["preprocessing"]["tokenizer"]
    vocab = {word: index for index, word in enumerate(tok["vocab"])}
    pad, unk, cls = (tok["vocab"][tok[key]] for key in ("padId", "unkId", "clsId"))
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk, max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.Lowercase()
    # Every run of characters outside [a-z0-9] separates words and is dropped.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("[^a-z0-9]+"), behavior="removed")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A", pair=f"{cls} $A $B", special_tokens=[(cls, tok["clsId"])]
    )
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens([pad, unk, cls])
    tokenizer.enable_truncation(max_length=tok["maxLength"])
    tokenizer.enable_padding(pad_id=tok["padId"], pad_token=pad, length=tok["maxLength"])
    write(tokenizer, "spam-bert")


def tiny(kind, train, serving):
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<unk>", "<s>", "</s>"])
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
    else:
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=400, special_tokens=["<pad>", "<unk>", "<s>", "</s>"], unk_token="<unk>"
        )
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(train, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B </s>", special_tokens=[("<s>", 2), ("</s>", 3)]
    )
    tokenizer.enable_truncation(max_length=64)
    tokenizer.enable_padding(pad_id=0, pad_token="<pad>", length=64)
    # Short texts (each e-mail's subject line) exercise the merges without making the expected ids
    # a large file; a few whole e-mails exercise truncation.
    subjects = [text.split("\n", 1)[0][:200] for text in serving[:SAMPLES]]
    write(tokenizer, f"tiny-{kind}", subjects + serving[SAMPLES : SAMPLES + 4])


if __name__ == "__main__":
    spam_bert()
    train, serving = texts("train"), texts("serving")
    tiny("bpe", train[:1500], serving)
    tiny("unigram", train[:1500], serving)
