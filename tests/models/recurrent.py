"""Recurrent test models: a text classifier (embedding + 2-layer bidirectional LSTM), a GRU
sequence-to-sequence encoder, a CRNN (conv features + bidirectional LSTM + per-step linear), and
single-layer wrappers that take their initial states as inputs.

Every input has the batch first (irc-import prepends the batch to the per-sample shapes); initial
states are taken as [batch, layers*directions, hidden] and transposed to PyTorch's layout inside."""

from __future__ import annotations

import torch
from torch import nn


class LSTMTextClassifier(nn.Module):
    """Token ids [batch, seq] -> class logits [batch, classes]: mean of the output sequence and the last
    layer's final hidden state of both directions."""

    def __init__(self, vocab=50, embed=16, hidden=24, classes=5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(4 * hidden, classes)

    def forward(self, ids):
        out, (h, _c) = self.lstm(self.embedding(ids))
        feats = torch.cat([out.mean(1), h[-2], h[-1]], 1)
        return self.fc(feats)


class GRUEncoder(nn.Module):
    """A seq2seq encoder (Bahdanau style): embedding, sequence-first bidirectional 2-layer GRU; returns the
    encoder outputs [seq, batch, 2*hidden] and the decoder's initial hidden state tanh(fc([h_fwd, h_bwd]))."""

    def __init__(self, vocab=40, embed=12, hidden=20, dec_hidden=18):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, dec_hidden)

    def forward(self, ids):
        emb = self.embedding(ids).transpose(0, 1)  # [seq, batch, embed]
        outputs, h = self.rnn(emb)
        hidden = torch.tanh(self.fc(torch.cat([h[-2], h[-1]], 1)))
        return outputs, hidden


class CRNN(nn.Module):
    """Text-line recognition: image [batch, 1, 32, width] -> conv/BN/ReLU/pool features [batch, 32, 8,
    width/4] -> a sequence over the width [batch, width/4, 256] -> bidirectional LSTM -> per-step
    log-probabilities [batch, width/4, classes]."""

    def __init__(self, classes=11, hidden=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.rnn = nn.LSTM(32 * 8, hidden, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        f = self.features(x).flatten(1, 2)  # [batch, 256, width/4]
        seq, _ = self.rnn(f.transpose(1, 2))
        return self.fc(seq).log_softmax(-1)


class WithStates(nn.Module):
    """One recurrent module fed explicit initial states ([batch, layers*directions, hidden] inputs); returns
    every output (sequence [batch, seq, ...], h_n, and c_n for an LSTM)."""

    def __init__(self, kind, input_size=6, hidden=7, **kw):
        super().__init__()
        self.kind = kind
        self.rnn = getattr(nn, kind)(input_size, hidden, **kw)

    def forward(self, x, h0, c0=None):
        """x [batch, seq, feature] (made sequence-first for a module that is)."""
        h0 = h0.transpose(0, 1).contiguous()
        if not self.rnn.batch_first:
            x = x.transpose(0, 1)
        if self.kind == "LSTM":
            y, (h, c) = self.rnn(x, (h0, c0.transpose(0, 1).contiguous()))
            rest = [h, c]
        else:
            y, h = self.rnn(x, h0)
            rest = [h]
        return (y if self.rnn.batch_first else y.transpose(0, 1), *rest)
