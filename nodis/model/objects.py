"""Object classification with the object ODE (O-ODE), paper Sec. 3.2 / facts sheet §3.1.

``x_i = W1 [f_i ; softmax(l_i) E ; pos(b_i)]`` (``decoder_lin1``), evolved by ``dx/dt = BiLSTM(x)``
over the sequence of objects of one image (``decoder_lin2``), decoded by ``decoder_lin3``.
Names match the official ``context.*`` checkpoint keys.
"""
from __future__ import annotations

import torch
from torch import nn

from .box_ops import center_size
from .ode import build_ode_block


class ObjectContext(nn.Module):
    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.obj_embed = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        self.pos_embed = nn.Sequential(nn.BatchNorm1d(4, momentum=0.001), nn.Linear(4, cfg.pos_dim),
                                       nn.ReLU(inplace=True), nn.Dropout(0.1))
        self.decoder_lin1 = nn.Linear(cfg.roi_dim + cfg.embed_dim + cfg.pos_dim, cfg.state_dim)
        self.decoder_lin2 = build_ode_block(cfg.state_dim, cfg.hidden_dim, cfg)
        self.decoder_lin3 = nn.Linear(cfg.state_dim, cfg.num_classes)

    def initial_state(self, obj_fmaps: torch.Tensor, obj_logits: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``(N, roi_dim)``, ``(N, C)`` detector logits, ``(N, 4)`` boxes (input pixels) -> ``(N, D)``.

        ``pos_embed`` runs in every mode (in predcls too, as released: its BN statistics update)."""
        soft = torch.softmax(obj_logits, 1) @ self.obj_embed.weight
        pos = self.pos_embed(center_size(boxes))
        return self.decoder_lin1(torch.cat((obj_fmaps, soft, pos), 1))

    def solve(self, seq: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(T, B, D)`` sequences -> states ``(G, T, B, D)`` over ``times`` and the NFE.

        With ``cfg.object_ode = False`` (ablation) the state does not evolve."""
        if not self.cfg.object_ode:
            return seq.unsqueeze(0).expand(times.numel(), *seq.shape), 0
        return self.decoder_lin2(seq, times)

    def decode(self, states: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., num_classes)`` logits."""
        return self.decoder_lin3(states)
