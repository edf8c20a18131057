"""Two-tower retrieval trained with in-batch sampled softmax and log-Q correction.

Model (Covington et al. RecSys 2016 for the history tower; Yi et al. RecSys 2019 for the loss):

* item tower  ``v_j = normalize(MLP(E_id[j] + W_text t_j))``: an id embedding (zero-initialised, so
  an item never bought falls back on its text) plus a projection of the item's text embedding ``t_j``
  (the project's sentence model, :mod:`discovery_pipelines.search.embeddings`).
* user tower  ``u = normalize(MLP([attn_pool(v_h + E_rec[r_h]); E_dow[d]; E_hour[h]]))``: the last
  ``history_len`` purchase events ``h`` before the target basket (item vectors from the item tower
  plus an embedding of how many baskets ago ``r_h``), attention-pooled, concatenated with the target
  basket's context (day of week, hour).
* loss: softmax over the in-batch items, logits ``u_i . v_j / tau - log q_j`` where ``q_j`` is item
  ``j``'s share of training positives (the probability it is drawn as an in-batch negative; Yi et al.
  eq. 3, with exact frequencies instead of the streaming estimate). Same-item collisions in a batch are
  masked out of the negatives.

Training examples: for each user, the last ``targets_per_user`` *train* baskets that have history
before them; every distinct item of such a basket is a positive for that history snapshot.
Recall: exact dot product over the exported item vectors in a faiss ``IndexFlatIP``
(:func:`discovery_pipelines.search.index.build_faiss_index`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from discovery_pipelines.personalization.split import StageData

N_REC_BUCKETS = 16


def recency_bucket(baskets_ago: np.ndarray) -> np.ndarray:
    """Log-spaced buckets 0..15 of "baskets ago" (1 -> 0, 2 -> 1, 3-4 -> 2, ...)."""
    return np.minimum(np.floor(np.log2(np.maximum(baskets_ago, 1))).astype(np.int64) * 2
                      + (baskets_ago > 2 ** np.floor(np.log2(np.maximum(baskets_ago, 1)))), N_REC_BUCKETS - 1)


class TwoTower(nn.Module):
    """The two towers; see the module docstring. ``text`` is a float32 ``(n_items, d_text)`` buffer."""

    def __init__(self, n_items: int, text: torch.Tensor, dim: int = 64, tau: float = 0.05) -> None:
        super().__init__()
        self.tau = tau
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items)  # last row = padding
        nn.init.zeros_(self.item_id.weight)
        self.register_buffer("text", torch.cat([text, torch.zeros(1, text.shape[1])]))
        self.text_proj = nn.Linear(text.shape[1], dim)
        self.item_mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.rec = nn.Embedding(N_REC_BUCKETS, dim)
        self.attn = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))
        self.dow = nn.Embedding(7, 8)
        self.hour = nn.Embedding(25, 8)  # 24 = unknown
        self.user_mlp = nn.Sequential(nn.Linear(dim + 16, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """L2-normalised item vectors ``(*items.shape, dim)``."""
        x = self.item_id(items) + self.text_proj(self.text[items])
        return nn.functional.normalize(x + self.item_mlp(x), dim=-1)

    def user_vectors(self, hist: torch.Tensor, rec: torch.Tensor, dow: torch.Tensor, hour: torch.Tensor,
                     item_table: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised user vectors ``(B, dim)`` from history ``(B, H)`` item codes (padding =
        n_items), recency buckets ``(B, H)`` and context ``(B,)``. ``item_table``: precomputed
        ``(n_items + 1, dim)`` item vectors (serving; the item tower is not run)."""
        mask = hist != self.item_id.padding_idx
        if item_table is None:  # run the item tower once per distinct history item of the batch
            uniq, inv = torch.unique(hist, return_inverse=True)
            iv = self.item_vectors(uniq)[inv]
        else:
            iv = item_table[hist]
        h = iv + self.rec(rec)
        a = self.attn(h).squeeze(-1).masked_fill(~mask, -1e4)
        w = torch.softmax(a, dim=1) * mask.any(1, keepdim=True)
        pooled = (w.unsqueeze(-1) * h).sum(1)
        x = torch.cat([pooled, self.dow(dow), self.hour(hour)], dim=1)
        return nn.functional.normalize(pooled + self.user_mlp(x), dim=-1)


@dataclass
class Snapshots:
    """History snapshots: ``hist``/``rec`` int64 ``(n, H)``, ``dow``/``hour`` int64 ``(n,)``, ``user`` codes."""

    hist: np.ndarray
    rec: np.ndarray
    dow: np.ndarray
    hour: np.ndarray
    user: np.ndarray


def _events(history: pd.DataFrame) -> pd.DataFrame:
    return history[["u", "basket_pos", "i"]].sort_values(["u", "basket_pos", "i"], kind="stable").reset_index(drop=True)


def snapshots_before(events: pd.DataFrame, users: np.ndarray, positions: np.ndarray, dow: np.ndarray,
                     hour: np.ndarray, history_len: int, pad: int) -> Snapshots:
    """The last ``history_len`` events of each user before basket ``positions`` (vectorised gather)."""
    u_arr, p_arr, i_arr = (events[c].to_numpy() for c in ("u", "basket_pos", "i"))
    key = u_arr.astype(np.int64) * 1_000_000 + p_arr
    end = np.searchsorted(key, users.astype(np.int64) * 1_000_000 + positions, side="left")
    start = np.searchsorted(key, users.astype(np.int64) * 1_000_000, side="left")
    idx = end[:, None] - history_len + np.arange(history_len)[None, :]
    valid = idx >= start[:, None]
    idx = np.where(valid, idx, 0)
    hist = np.where(valid, i_arr[idx], pad)
    ago = np.where(valid, positions[:, None] - p_arr[idx], 1)
    return Snapshots(hist.astype(np.int64), recency_bucket(ago), dow.astype(np.int64),
                     np.where(pd.isna(hour), 24, hour).astype(np.int64), users.astype(np.int64))


def training_examples(sd: StageData, targets_per_user: int, history_len: int) -> tuple[Snapshots, np.ndarray, np.ndarray]:
    """``(snapshots, snapshot index per positive, positive item per example)`` from the train baskets of
    ``sd.history`` (only ``split == 'train'`` baskets are targets, so valid / test never leak)."""
    h = sd.history[sd.history["split"] == "train"]
    ev = _events(h)
    b = h.drop_duplicates("basket_id")[["u", "basket_id", "basket_pos", "day_of_week", "hour"]]
    b = b[b["basket_pos"] > 0].sort_values(["u", "basket_pos"])
    b = b.groupby("u").tail(targets_per_user).reset_index(drop=True)
    snaps = snapshots_before(ev, b["u"].to_numpy(), b["basket_pos"].to_numpy(), b["day_of_week"].to_numpy(),
                             b["hour"].to_numpy(dtype=float, na_value=np.nan), history_len, sd.n_items)
    pos = h.drop_duplicates(["basket_id", "i"])[["basket_id", "i"]].merge(
        b[["basket_id"]].reset_index().rename(columns={"index": "snap"}), on="basket_id")
    return snaps, pos["snap"].to_numpy(), pos["i"].to_numpy()


def next_basket_positions(events: pd.DataFrame, users: np.ndarray) -> np.ndarray:
    """Per user, the position right after their last history basket (0 for a user without history), so
    "baskets ago" means the same at training, evaluation and serving time."""
    last = events.groupby("u")["basket_pos"].max()
    return (last.reindex(users).fillna(-1).to_numpy() + 1).astype(np.int64)


def stage_snapshots(sd: StageData, history_len: int) -> Snapshots:
    """One snapshot per evaluated user: its whole stage history, the target basket's context."""
    ev = _events(sd.history)
    pos = next_basket_positions(ev, sd.users)
    ctx = sd.target_context
    return snapshots_before(ev, sd.users, pos, ctx["day_of_week"].to_numpy(),
                            ctx["hour"].to_numpy(dtype=float, na_value=np.nan), history_len, sd.n_items)


@dataclass
class TrainReport:
    """Throughput and loss of a two-tower fit."""

    examples: int
    epochs: int
    seconds: float
    examples_per_s: float
    final_loss: float
    device: str


def reduce_text(text: np.ndarray, dim: int | None, seed: int = 0, sample: int = 20_000) -> np.ndarray:
    """PCA of the text embeddings to ``dim`` components (float32), fitted on at most ``sample`` distinct rows;
    ``None`` or ``dim >= d`` returns ``text`` unchanged. Cuts the item tower's cost ~``d / dim`` times."""
    if dim is None or dim >= text.shape[1]:
        return np.ascontiguousarray(text, dtype=np.float32)
    uniq = np.unique(text, axis=0)
    if len(uniq) > sample:
        uniq = uniq[np.random.default_rng(seed).choice(len(uniq), sample, replace=False)]
    mean = uniq.mean(0)
    _, _, vt = np.linalg.svd(uniq - mean, full_matrices=False)
    return np.ascontiguousarray((text - mean) @ vt[:dim].T, dtype=np.float32)


def sampled_softmax_logq_loss(u: torch.Tensor, v: torch.Tensor, items: torch.Tensor, log_q: torch.Tensor,
                              tau: float) -> torch.Tensor:
    """In-batch sampled softmax with log-Q correction (Yi et al. 2019, eq. 3).

    Args:
        u, v: ``(B, d)`` user / positive-item vectors; row ``i`` is a positive pair.
        items: ``(B,)`` item codes (same-item columns are masked from row ``i``'s negatives).
        log_q: ``(B,)`` log sampling probability of each in-batch item.
    """
    logits = u @ v.T / tau - log_q[None, :]
    same = (items[:, None] == items[None, :]) & ~torch.eye(len(items), dtype=torch.bool, device=items.device)
    logits = logits.masked_fill(same, -1e4)
    return nn.functional.cross_entropy(logits, torch.arange(len(items), device=items.device))


def train_two_tower(sd: StageData, text: np.ndarray, *, dim: int = 64, tau: float = 0.05, epochs: int = 3,
                    batch_size: int = 1024, lr: float = 3e-3, history_len: int = 64, targets_per_user: int = 20,
                    seed: int = 0, device: str | None = None, max_seconds: float | None = None,
                    text_dim: int | None = 64, progress: bool = True) -> tuple[TwoTower, TrainReport]:
    """Fit :class:`TwoTower` on the train baskets of ``sd``; CUDA when present unless ``device`` is given.

    Args:
        text: float32 ``(n_items, d_text)`` item text embeddings (row = item code).
        text_dim: PCA the text embeddings to this many dimensions first (:func:`reduce_text`).
        max_seconds: stop early (after a full step) once training has run this long.

    Returns:
        ``(model in eval mode on CPU, TrainReport)``.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    snaps, snap_of, item_of = training_examples(sd, targets_per_user, history_len)
    counts = np.bincount(item_of, minlength=sd.n_items).astype(np.float64)
    log_q = torch.tensor(np.log(np.maximum(counts, 1) / counts.sum()), dtype=torch.float32, device=dev)
    text = reduce_text(text, text_dim, seed)
    model = TwoTower(sd.n_items, torch.tensor(text, dtype=torch.float32), dim=dim, tau=tau).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    t = {k: torch.tensor(getattr(snaps, k), device=dev) for k in ("hist", "rec", "dow", "hour")}
    snap_t, item_t = torch.tensor(snap_of, device=dev), torch.tensor(item_of, device=dev)
    n = len(item_of)
    steps = epochs * math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    t0, done, loss_v = time.perf_counter(), 0, float("nan")
    bar = tqdm(total=steps, desc="two-tower", disable=not progress, leave=False)
    for _ in range(epochs):
        perm = torch.tensor(rng.permutation(n), device=dev)
        for s in range(0, n, batch_size):
            b = perm[s : s + batch_size]
            sn, it = snap_t[b], item_t[b]
            u = model.user_vectors(t["hist"][sn], t["rec"][sn], t["dow"][sn], t["hour"][sn])
            v = model.item_vectors(it)
            loss = sampled_softmax_logq_loss(u, v, it, log_q[it], tau)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            done += len(b)
            loss_v = float(loss.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{loss_v:.3f}")
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                break
        else:
            continue
        break
    bar.close()
    secs = time.perf_counter() - t0
    model.eval().cpu()
    return model, TrainReport(done, epochs, secs, done / max(secs, 1e-9), loss_v, str(dev))


@torch.no_grad()
def all_item_vectors(model: TwoTower, n_items: int, batch: int = 8192) -> np.ndarray:
    """float32 ``(n_items, dim)`` item vectors (row = item code)."""
    out = [model.item_vectors(torch.arange(s, min(s + batch, n_items))) for s in range(0, n_items, batch)]
    return torch.cat(out).numpy().astype(np.float32)


@torch.no_grad()
def user_vectors(model: TwoTower, snaps: Snapshots, batch: int = 1024) -> np.ndarray:
    """float32 ``(n_snapshots, dim)`` user vectors."""
    out = []
    for s in range(0, len(snaps.user), batch):
        sl = slice(s, s + batch)
        out.append(model.user_vectors(torch.tensor(snaps.hist[sl]), torch.tensor(snaps.rec[sl]),
                                      torch.tensor(snaps.dow[sl]), torch.tensor(snaps.hour[sl])))
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, model.item_id.embedding_dim), np.float32)


def faiss_recall(item_vecs: np.ndarray, user_vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-``k`` ``(items int64, scores float32)`` via a faiss ``IndexFlatIP``."""
    from discovery_pipelines.search.index import build_faiss_index

    index = build_faiss_index(item_vecs, "Flat", "ip")
    scores, items = index.search(np.ascontiguousarray(user_vecs, dtype=np.float32), k)
    return items.astype(np.int64), scores.astype(np.float32)


class TwoTowerScorer:
    """Dense scorer over all items for the users of one stage (for :func:`baselines.top_k` and features)."""

    name = "two_tower"

    def __init__(self, item_vecs: np.ndarray, user_vecs: np.ndarray, users: np.ndarray) -> None:
        self.item_vecs, self.row = item_vecs, {int(u): r for r, u in enumerate(users)}
        self.user_vecs = user_vecs

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_vecs[[self.row[int(u)] for u in users]] @ self.item_vecs.T
