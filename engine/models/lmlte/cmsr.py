"""CMSR: controllable multi-scale rendering of LMLTE (LMF, Sec. 3.4), inference and table building.

Above the training scale (x4) most LR pixels are smooth: their latent modulations are small and
rendering them at a coarser grid then resampling bilinearly is as good as rendering every output
pixel. A *scale-to-modulation table* says, for a target scale, up to which mean |shift modulation|
(``mod_mean``) a pixel may be rendered at each coarser decode scale.

Table format (the official ``configs/cmsr/result/*.yaml``)::

    6:            # target scale
      1: 0.12     # decode scale: max mod_mean rendered at that scale
      2: 0.15
      4: 0.215
      6: 1

JSON tables ``{"mse_threshold", "tables": [{"target_scale", "entries": [[s, t], ...]}]}`` are read
too. :func:`render_cmsr` reproduces the official ``query_rgb_cmsr`` (level grids are bilinear
resizes of the LR coordinate grid; merge from the LR input upwards; final bilinear resample when
the last level is below the target). :func:`update_table` is the official ``update_scale2mean``
(with one safety fix, see there).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from engine.errors import ModelError
from engine.models.lmlte.coords import cell_factor, cell_size, make_coord
from engine.models.lmlte.network import LMLTE, RENDER_TABLES, default_chunk, map_modulations

Tables = dict[float, dict[float, float]]

#: Decode scales the official table builder starts from (those <= the target are used).
INIT_SCALES = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def _num(v: Any) -> float:
    return float(v)


def load_table(src: str | os.PathLike[str] | Mapping[Any, Any]) -> Tables:
    """Parse a CMSR table (YAML or JSON path, or an already parsed mapping), sorted by scale.

    Raises:
        ModelError: unreadable file or not a CMSR table.
    """
    data: Any = src
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelError(f"cannot read the CMSR table '{path}' ({exc.strerror}): give the "
                             "path of a table made by 'python -m engine cmsr'") from exc
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # yaml / json syntax errors have many types
            raise ModelError(f"'{path}' is not a valid CMSR table ({type(exc).__name__}): give "
                             "the YAML written by 'python -m engine cmsr'") from exc
    try:
        if isinstance(data, Mapping) and "tables" in data:
            raw = {t["target_scale"]: dict((s, v) for s, v in t["entries"]) for t in data["tables"]}
        else:
            raw = data
        tables = {_num(k): {_num(s): _num(t) for s, t in sorted(v.items(), key=lambda kv: _num(kv[0]))}
                  for k, v in sorted(raw.items(), key=lambda kv: _num(kv[0]))}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError("the CMSR table is not in the official layout {target: {scale: "
                         "threshold}}: rebuild it with 'python -m engine cmsr'") from exc
    if not tables or any(not v for v in tables.values()):
        raise ModelError("the CMSR table is empty: rebuild it with 'python -m engine cmsr'")
    return tables


def _key(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def save_table(path: str | os.PathLike[str], tables: Tables) -> Path:
    """Write ``tables`` in the official YAML layout (integral scales as ints)."""
    import yaml

    path = Path(path)
    out = {_key(k): {_key(s): float(t) if not float(t).is_integer() else int(t) for s, t in v.items()}
           for k, v in sorted(tables.items())}
    path.write_text(yaml.safe_dump(out, sort_keys=True), encoding="utf-8")
    return path


def mod_mean(net: LMLTE, mod: torch.Tensor) -> torch.Tensor:
    """The CMSR signal: mean |shift modulation| per LR pixel, (B, 1, h, w)."""
    return mod[:, net.mod_dim // 2:net.mod_dim].abs().mean(1, keepdim=True)


def plan(tables: Tables, scale: float) -> tuple[float, list[float], list[float]]:
    """(table target, decode scales, thresholds with leading 0 / trailing 1) for ``scale``."""
    target, chosen = None, None
    for k, v in tables.items():
        target, chosen = k, v
        if k >= scale:
            break
    assert chosen is not None
    decode, thresholds = [], [0.0]
    for s, t in chosen.items():
        if s >= scale:
            break
        decode.append(s)
        thresholds.append(t)
    if thresholds[-1] < 1:
        decode.append(scale)
        thresholds.append(1.0)
    return float(target), decode, thresholds  # type: ignore[arg-type]


def _sample(img: torch.Tensor, coord: torch.Tensor, mode: str) -> torch.Tensor:
    """grid_sample of img (1, C, h, w) at coord (1, N, 2) -> (N, C)."""
    kw: dict[str, Any] = {"padding_mode": "border"} if mode == "bilinear" else {}
    return F.grid_sample(img, coord.flip(-1).unsqueeze(1), mode=mode, align_corners=False,
                         **kw)[0, :, 0, :].t()


def render_cmsr(net: LMLTE, lut: dict[str, Any], mod: torch.Tensor, ys: torch.Tensor,
                xs: torch.Tensor, tables: Tables, *, chunk: int | None = None,
                stats: dict[str, Any] | None = None) -> torch.Tensor:
    """Render the grid ``ys`` x ``xs`` with CMSR; returns (B, C, H, W) in normalised units.

    Args:
        net: the network; ``lut``/``mod``: its tables and modulations for the LR input (made
            with the clipped cell of the target scale, as the reference forward does).
        ys, xs: float32 output pixel-centre coordinates (H,), (W,).
        tables: parsed CMSR tables.
        stats: filled with the plan and the number of rendered queries (for tests and logs).
    """
    inp: torch.Tensor = lut["inp"]
    chunk = chunk or default_chunk(inp.device)
    bs, _, h, w = inp.shape
    hh, ww = ys.numel(), xs.numel()
    qn = hh * ww
    scale = math.sqrt(qn / h / w)
    target, decode, thresholds = plan(tables, scale)
    mm = mod_mean(net, mod).float()
    feat_coord = make_coord(h, w, inp.device).permute(2, 0, 1)[None]
    outs = []
    rendered = 0
    level_sizes: list[tuple[int, int]] = []
    for b in range(bs):
        lut_b = _slice_lut(lut, b) if bs > 1 else lut
        levels = []
        i_start, i_end = 0, len(decode) - 1
        for i, s in enumerate(decode):
            if s < 1:
                i_start += 1
                continue
            qh, qw = int(h * s), int(w * s)
            q_coord = F.interpolate(feat_coord, size=(qh, qw), mode="bilinear",
                                    align_corners=False).permute(0, 2, 3, 1).reshape(1, qh * qw, 2)
            if i == i_end or i == i_start:
                m = _sample(mm[b:b + 1], q_coord, "nearest")[:, 0]
                sel = m >= thresholds[i] if i == i_end else m <= thresholds[i + 1]
            else:
                lo, hi = thresholds[i], thresholds[i + 1]
                mid, r = (hi + lo) / 2, (hi - lo) / 2
                m = _sample((mm[b:b + 1] - mid).abs(), q_coord, "nearest")[:, 0]
                sel = m <= r
            idx = torch.nonzero(sel).flatten()
            levels.append((s, qh, qw, q_coord, idx))
            if b == 0:
                level_sizes.append((qh, qw))
        # Render all selected queries of all levels, chunk by chunk.
        ret = lut_b["inp"]
        for s, qh, qw, q_coord, idx in levels:
            if idx.numel() == 0:
                continue
            coords = q_coord[0, idx][None]
            factor = cell_factor(s, s)
            cval = torch.tensor((cell_size(qh, factor), cell_size(qw, factor)), device=inp.device)
            cells = cval.view(1, 1, 2).expand(1, coords.shape[1], 2)
            pred = net.render(lut_b, coords, cells, chunk).float()[0]
            rendered += idx.numel()
            flat = _sample(ret.float(), q_coord, "bilinear")  # (qh*qw, C)
            flat[idx] = pred
            ret = flat.t().reshape(1, -1, qh, qw)
        if tuple(ret.shape[-2:]) != (hh, ww):
            # Last rendered level below the target: bilinear resample to the query grid.
            ret = _resample_rows(ret.float(), ys, xs, chunk)
        outs.append(ret)
    if stats is not None:
        stats.update({"table_target": target, "decode_scales": decode, "thresholds": thresholds,
                      "level_grid_size": level_sizes, "rendered_queries": rendered})
    return torch.cat(outs, 0)


def _slice_lut(lut: dict[str, Any], b: int) -> dict[str, Any]:
    n = lut["cells"]
    sl = slice(b * n, (b + 1) * n)
    out = dict(lut)
    out.update({name: lut[name][sl] for name in RENDER_TABLES})
    out.update(inp=lut["inp"][b:b + 1], bs=1, lookup=lut["lookup"][b:b + 1],
               mods=map_modulations(lut["mods"], lambda t: t[sl]))
    return out


def _resample_rows(img: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, chunk: int) -> torch.Tensor:
    """Bilinear (border) resample of img (1, C, qh, qw) at the grid ys x xs, row block by block."""
    hh, ww = ys.numel(), xs.numel()
    out = torch.empty(1, img.shape[1], hh, ww, dtype=img.dtype, device=img.device)
    rows = max(1, chunk // ww)
    for r0 in range(0, hh, rows):
        r1 = min(hh, r0 + rows)
        gy, gx = torch.meshgrid(ys[r0:r1], xs, indexing="ij")
        grid = torch.stack((gx, gy), -1)[None]
        out[:, :, r0:r1] = F.grid_sample(img, grid, mode="bilinear", padding_mode="border",
                                         align_corners=False)
    return out


# --------------------------------------------------------------------------------------------
# table building (official update_scale2mean)

def initial_table(target: int | float) -> dict[float, float]:
    """Starting table for ``target``: every official decode scale <= target with threshold 1."""
    return {float(s): 1.0 for s in INIT_SCALES if s <= target}


@torch.no_grad()
def update_table(net: LMLTE, inp: torch.Tensor, target: float, table: dict[float, float],
                 mse_threshold: float, chunk: int | None = None) -> dict[float, float]:
    """One image's update of the scale-to-modulation table at ``target`` (official algorithm).

    Args:
        inp: LR image (1, C, h, w) normalised to [-1, 1].
        table: ``{decode scale: max mod_mean}`` updated in place (and returned).
        mse_threshold: largest MSE (normalised units) between the coarse-then-resampled and the
            full rendering for a modulation bin to count as renderable at the coarse scale.
    """
    chunk = chunk or default_chunk(inp.device)
    h, w = inp.shape[-2:]
    hh, ww = round(h * target), round(w * target)
    factor = cell_factor(target, target)
    coord = make_coord(hh, ww, inp.device).view(1, -1, 2)
    cell = torch.tensor((cell_size(hh, factor), cell_size(ww, factor)),
                        device=inp.device).view(1, 1, 2)
    lat = net.encode(inp)
    mod = net.modulations(lat, cell)
    lut = net.tables(lat, mod)
    max_pred = net.render(lut, coord, cell.expand(1, coord.shape[1], 2), chunk)[0].float()
    mm = _sample(mod_mean(net, mod).float(), coord, "nearest")[:, 0]
    samples = [0.5 * i / 100 for i in range(101)]
    max_scale = math.sqrt(coord.shape[1] / h / w)
    for scale in sorted(table):
        if scale >= max_scale:
            break
        qh, qw = int(h * scale), int(w * scale)
        q_coord = make_coord(qh, qw, inp.device).view(1, -1, 2)
        q_cell = torch.tensor((cell_size(qh, 1.0), cell_size(qw, 1.0)),
                              device=inp.device).view(1, 1, 2)
        q_pred = net.render(lut, q_coord, q_cell.expand(1, q_coord.shape[1], 2), chunk)[0].float()
        pred = _sample(q_pred.t().reshape(1, -1, qh, qw), coord, "bilinear")
        best = table[scale]
        seen = passed = False
        for mid in list(samples):
            sel = (mm - mid).abs() <= 0.001
            if not bool(sel.any()):
                continue  # empty bin: the official MSE is NaN and the bin is skipped
            seen = True
            loss = float(((pred[sel] - max_pred[sel]) ** 2).mean())
            if loss <= mse_threshold:
                samples.remove(mid)
                best, passed = mid, True
            else:
                break
        if seen and not passed:
            # Deviation from the reference, which then keeps the entry at its start value 1
            # ("render everything at this coarse scale"): the first populated bin already fails,
            # so nothing may be rendered at this scale.
            best = 0.0
        table[scale] = min(best, table[scale])
        for s in table:
            if s < scale and table[s] > table[scale]:
                table[s] = table[scale]
    if samples:
        key = next((s for s in table if math.isclose(s, max_scale)), max_scale)
        table[key] = samples[-1]
        for s in table:
            if s < key and table[s] > table[key]:
                table[s] = table[key]
    return table
