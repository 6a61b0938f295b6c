"""Sequence networks of the deep-learning family: a text CNN, LSTM and bidirectional-LSTM
classifiers, a small transformer encoder, and an end-to-end memory network for bAbI.

Inputs are int64 token ids, 0 = padding (see :func:`mabprune.data.text.encode`). Every model
ends with one hidden Dense layer before the output layer (the authors' pruned layer); its
units, and the text CNN's filters, are arms.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LSTMClassifier", "MemN2N", "TextCNN", "TransformerClassifier", "position_encoding"]


def _positive(model: str, **values) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{model}: {name} must be a positive integer, got {v!r}")


def _masked_mean(h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` (B, S, F) over the non-padding positions of ``tokens`` (B, S)."""
    keep = (tokens != 0).unsqueeze(-1).to(h.dtype)
    return (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)


class TextCNN(nn.Module):
    """A text CNN (Kim 2014; the Keras ``imdb_cnn`` example): embeddings → Conv1d (``filters``
    of width ``kernel``) → ReLU → max over time → Dense ``hidden`` → ReLU → classes.

    Examples
    --------
    >>> import torch
    >>> TextCNN(50, 2, embed_dim=8, filters=6, hidden=4)(torch.randint(1, 50, (3, 12))).shape
    torch.Size([3, 2])
    """

    def __init__(self, vocab_size: int, n_classes: int, *, embed_dim: int = 64, filters: int = 64, kernel: int = 3,
                 hidden: int = 64):
        super().__init__()
        _positive("TextCNN", vocab_size=vocab_size, n_classes=n_classes, embed_dim=embed_dim, filters=filters,
                  kernel=kernel, hidden=hidden)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.conv = nn.Conv1d(embed_dim, filters, kernel, padding=kernel // 2)
        self.dense = nn.Linear(filters, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(self.embedding(tokens).transpose(1, 2)))
        return self.out(torch.relu(self.dense(h.amax(2))))


class LSTMClassifier(nn.Module):
    """An LSTM text classifier (Hochreiter & Schmidhuber 1997; the Keras ``imdb_lstm`` and,
    with ``bidirectional=True``, ``imdb_bidirectional_lstm`` examples).

    ``embeddings → (Bi)LSTM → mean over the non-padding steps → Dense hidden → ReLU → classes``.
    Pooling over the real tokens, not the last step, because sequences are padded at the end.

    Examples
    --------
    >>> import torch
    >>> LSTMClassifier(50, 2, embed_dim=8, lstm=6, hidden=4, bidirectional=True)(torch.randint(1, 50, (3, 9))).shape
    torch.Size([3, 2])
    """

    def __init__(self, vocab_size: int, n_classes: int, *, embed_dim: int = 64, lstm: int = 64, hidden: int = 64,
                 bidirectional: bool = False):
        super().__init__()
        _positive("LSTMClassifier", vocab_size=vocab_size, n_classes=n_classes, embed_dim=embed_dim, lstm=lstm,
                  hidden=hidden)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, lstm, batch_first=True, bidirectional=bidirectional)
        self.dense = nn.Linear(lstm * (2 if bidirectional else 1), hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embedding(tokens))
        return self.out(torch.relu(self.dense(_masked_mean(h, tokens))))


class TransformerClassifier(nn.Module):
    """A small transformer-encoder text classifier (Vaswani et al. 2017, encoder only):
    token + learned position embeddings → ``layers`` × ``nn.TransformerEncoderLayer`` →
    mean over non-padding positions → Dense hidden → ReLU → classes.

    Padding positions are not masked inside attention (a key-padding mask changes the traced
    graph Torch-Pruning builds); they carry the padding embedding and are left out of the pool.
    The feed-forward hidden units of every layer and the Dense units are arms; the residual
    width is coupled to LayerNorm and is rejected as an arm by :func:`mabprune.arms.find_arms`.

    Examples
    --------
    >>> import torch
    >>> TransformerClassifier(50, 2, d_model=8, heads=2, ff=12, hidden=4, max_len=10)(torch.randint(1, 50, (3, 10))).shape
    torch.Size([3, 2])
    """

    def __init__(self, vocab_size: int, n_classes: int, *, d_model: int = 64, heads: int = 4, ff: int = 128,
                 layers: int = 2, hidden: int = 64, max_len: int = 64, dropout: float = 0.1):
        super().__init__()
        _positive("TransformerClassifier", vocab_size=vocab_size, n_classes=n_classes, d_model=d_model, heads=heads,
                  ff=ff, layers=layers, hidden=hidden, max_len=max_len)
        if d_model % heads:
            raise ValueError(f"TransformerClassifier: d_model={d_model} is not divisible by heads={heads}")
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(1, max_len, d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=ff, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.dense = nn.Linear(d_model, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.position.shape[1]:
            raise ValueError(f"TransformerClassifier: sequences of {tokens.shape[1]} tokens exceed max_len="
                             f"{self.position.shape[1]}")
        h = self.encoder(self.embedding(tokens) + self.position[:, : tokens.shape[1]])
        return self.out(torch.relu(self.dense(_masked_mean(h, tokens))))


def position_encoding(sentence_len: int, dim: int) -> torch.Tensor:
    """The position encoding of Sukhbaatar et al. (2015), section 4.1: ``l_kj = (1 − j/J) −
    (k/d)(1 − 2j/J)`` for word ``j`` of ``J`` and embedding dimension ``k`` of ``d`` (1-based).

    Returns a ``(J, d)`` tensor.

    Examples
    --------
    >>> position_encoding(2, 2).tolist()
    [[0.5, 0.5], [0.5, 1.0]]
    """
    j = torch.arange(1, sentence_len + 1, dtype=torch.float32)[:, None]
    k = torch.arange(1, dim + 1, dtype=torch.float32)[None, :]
    big_j = float(sentence_len)
    return (1 - j / big_j) - (k / dim) * (1 - 2 * j / big_j)


class MemN2N(nn.Module):
    """End-to-end memory network (Sukhbaatar et al. 2015) for bAbI: position encoding,
    temporal encoding, ``hops`` hops with adjacent weight tying (``A^{k+1} = C^k``, ``B = A^1``).

    Input: one int64 tensor ``(B, M + 1, J)``: ``M`` story sentences (the latest last, empty
    rows all 0) and the question in the last row, ``J`` words each. Each hop attends over the
    memories, ``p = softmax(u · m_i)``, ``o = Σ p_i c_i``, ``u ← u + o``. The answer layer
    differs from the paper in one way: instead of ``W = C^K`` transposed over the vocabulary,
    a hidden Dense layer (ReLU) and an answer Linear over the answer classes follow, so that
    the network has the one Dense layer the authors pruned; its units are the arms (the
    embeddings are not pruned: their dimension couples every hop and the attention softmax).

    Examples
    --------
    >>> import torch
    >>> MemN2N(30, 5, dim=8, memory_size=4, sentence_len=6, hidden=6)(torch.randint(0, 30, (2, 5, 6))).shape
    torch.Size([2, 5])
    """

    def __init__(self, vocab_size: int, n_answers: int, *, dim: int = 32, hops: int = 3, memory_size: int = 50,
                 sentence_len: int = 12, hidden: int = 64):
        super().__init__()
        _positive("MemN2N", vocab_size=vocab_size, n_answers=n_answers, dim=dim, hops=hops, memory_size=memory_size,
                  sentence_len=sentence_len, hidden=hidden)
        self.memory_size, self.sentence_len = memory_size, sentence_len
        # hops + 1 embeddings: A^1 (= B), C^1 = A^2, ..., C^K; likewise for the temporal terms.
        self.embeddings = nn.ModuleList(nn.Embedding(vocab_size, dim, padding_idx=0) for _ in range(hops + 1))
        for e in self.embeddings:
            nn.init.normal_(e.weight, std=0.1)
            with torch.no_grad():
                e.weight[0].zero_()
        self.temporal = nn.Parameter(torch.randn(hops + 1, memory_size, dim) * 0.1)
        self.register_buffer("encoding", position_encoding(sentence_len, dim), persistent=False)
        self.dense = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, n_answers)

    def _embed(self, k: int, words: torch.Tensor) -> torch.Tensor:
        return (self.embeddings[k](words) * self.encoding).sum(-2)  # bag of words, position-weighted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.memory_size + 1 or x.shape[2] != self.sentence_len:
            raise ValueError(f"MemN2N takes (B, {self.memory_size + 1}, {self.sentence_len}) token ids, "
                             f"got {tuple(x.shape)}")
        story, question = x[:, :-1], x[:, -1]
        u = self._embed(0, question)
        used = (story != 0).any(-1)  # empty memory slots get no attention
        for k in range(len(self.embeddings) - 1):
            m = self._embed(k, story) + self.temporal[k]
            c = self._embed(k + 1, story) + self.temporal[k + 1]
            scores = torch.einsum("bmd,bd->bm", m, u).masked_fill(~used, -1e9)
            u = u + torch.einsum("bm,bmd->bd", torch.softmax(scores, -1), c)
        return self.out(torch.relu(self.dense(u)))
