"""Run the carousels stages end to end against a real local LLM (llama.cpp OpenAI-compatible server with
JSON-schema constrained output) and write the figures next to the rules backend's.

    scripts/serve_local_gguf.sh &            # or GGUF_* variables for another packaged model
    export OPENAI_BASE_URL=http://127.0.0.1:8088/v1 OPENAI_API_KEY=local DISCOVERY_LLM_MODEL=<alias>
    .venv/bin/python scripts/carousels_local_llm.py --dataset instacart_histories --users 12 --jury-titles 60

The stages are the pipeline's own node functions (pipelines/carousels/nodes.py), called in order with
``generation``, ``moderation`` and ``rewrite`` on the ``llm`` backend (the same users also run with the
rules backend for comparison). Writes ``results/carousels/local_llm_<dataset>.json`` and ``.md`` with the
command, machine, load average and date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="instacart_histories")
    ap.add_argument("--users", type=int, default=12)
    ap.add_argument("--jury-titles", type=int, default=60, help="held-out labelled titles sent to the LLM jury")
    ap.add_argument("--rewrite-n", type=int, default=20,
                    help="ambiguous queries and relevance titles sent to query rewriting / collection generation")
    ap.add_argument("--response-format", default="json_object", help="json_object (llama.cpp schema) | json_schema")
    ap.add_argument("--no-system-role", action="store_true",
                    help="fold the system prompt into the user turn (chat templates without a system role: Gemma)")
    ap.add_argument("--out", default=str(ROOT / "results" / "carousels"))
    a = ap.parse_args()
    if not os.environ.get("DISCOVERY_LLM_MODEL"):
        sys.exit("set OPENAI_BASE_URL, OPENAI_API_KEY and DISCOVERY_LLM_MODEL (see docs/local_llm.md)")
    from discovery_pipelines.carousels.jury import heldout_mask
    from discovery_pipelines.data.ingest import load_completejourney, load_instacart_histories
    from discovery_pipelines.pipelines.carousels import nodes

    root = Path(os.environ.get("DISCOVERY_DATA_ROOT", ROOT.parent / "shared" / "datasets"))
    h = (load_instacart_histories if a.dataset == "instacart_histories" else load_completejourney)(root / a.dataset)
    labels = ROOT / "src" / "discovery_pipelines" / "carousels" / "labels"
    rel = yaml.safe_load((labels / "relevance.yaml").read_text())
    rws = yaml.safe_load((labels / "rewrites.yaml").read_text())
    titles = pd.read_csv(labels / "jury_titles.csv", keep_default_na=False)
    llm = {"settings": {"max_concurrency": 1, "max_retries": 1, "invalid_retries": 1, "timeout_s": 180,
                        "temperature": 0.0, "max_tokens": 400, "response_format": a.response_format,
                        "system_role": not a.no_system_role,
                        "cache_dir": str(ROOT / "data" / "02_intermediate" / "llm_cache")}}
    out: dict = {}
    for backend in ("rules", "llm"):
        params = {"dataset": a.dataset, "profiles": {"max_users": a.users},
                  "generation": {"backend": backend, "llm": llm}, "moderation": {"backend": backend, "llm": llm},
                  "rewrite": {"backend": backend, "llm": llm}, "retrieval": {"faiss_queries": 50},
                  "rerank": {"grid_alpha": [1.0], "grid_beta": [1.0], "grid_block_size": [5]}}
        t0 = time.perf_counter()
        prof, ctx, hist, nxt, ps = nodes.build_user_profiles(h.lines, h.products, params)
        gen, gs = nodes.generate_carousels(prof, ctx, hist, h.products, params)
        # the pipeline's moderation node sends the whole labelled set; here a held-out sample keeps CPU time bounded
        held = titles[heldout_mask(titles["title"])].head(a.jury_titles).reset_index(drop=True)
        mod, jr = nodes.moderate_carousels(gen, held, h.products, params)
        cands, stores, kr = nodes.retrieve_carousel_items(mod, hist, h.products, params)
        items, rr = nodes.rerank_carousel_items(cands, hist, nxt, params)
        rw = nodes.rewrite_queries(rws[: a.rewrite_n], rel[: a.rewrite_n], hist, h.products, params)
        metrics, html = nodes.evaluate_carousels(items, mod, stores, prof, hist, nxt, h.products, rel, ps, gs, jr, kr,
                                                 rr, rw, params)
        lab = jr["labelled_set"].get(backend, jr["labelled_set"]["rules"])["all"]
        out[backend] = {
            "seconds": round(time.perf_counter() - t0, 1), "users": len(prof), "carousels": len(gen),
            "generation": {k: gs.get(k) for k in ("backend", "carousels", "users_short_of_n")} | {"llm": gs.get("llm")},
            "valid_json_rate": (gs["llm"].get("answers_valid", 0) / max(1, gs["llm"].get("answers_valid", 0) +
                                gs["llm"].get("answers_invalid", 0))) if gs.get("llm") else None,
            "jury_on_heldout_sample": {j: lab[j] for j in ("safety", "appetite", "policy", "veto")} | {"n": lab["n"]},
            "jury_llm_accounting": jr.get("llm"), "precision@10": metrics["precision@10"],
            "hit_rate@10": metrics["hit_rate@10"], "query_rewriting": {k: rw[k] for k in rw if k in ("raw", "rules", "llm")},
            "hierarchical_rag": rw["hierarchical_rag"]}
    load = os.getloadavg()
    cpu = subprocess.run(["bash", "-c", "lscpu | grep 'Model name' | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    amx = "amx" in Path("/proc/cpuinfo").read_text()
    meta = {"command": " ".join(sys.argv), "model": os.environ.get("DISCOVERY_LLM_MODEL"), "machine": cpu,
            "amx": amx, "cores": os.cpu_count(), "load_average": load, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "python": platform.python_version()}
    res = {"meta": meta, **out}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    from discovery_pipelines.data.io import write_json, write_text
    write_json(res, Path(a.out) / f"local_llm_{a.dataset}.json")
    rows = ["| backend | valid JSON | jury recall (bad) | jury false-block (good) | precision@10 | hit-rate@10 | s |",
            "|---|---|---|---|---|---|---|"]
    for b, r in out.items():
        v = r["jury_on_heldout_sample"]["veto"]
        rows.append(f"| {b} | {r['valid_json_rate'] if r['valid_json_rate'] is not None else '-'} | "
                    f"{v['recall_bad']:.3f} | {v['false_block_good']:.3f} | {r['precision@10']:.3f} | "
                    f"{r['hit_rate@10']['carousel']:.3f} | {r['seconds']} |")
    write_text("\n".join([f"# carousels against a local LLM ({meta['model']})", "", f"`{meta['command']}` on "
                          f"{cpu} (AMX {amx}), load average {load}, {meta['date']}", "", *rows, ""]),
               Path(a.out) / f"local_llm_{a.dataset}.md")
    print(json.dumps(res, indent=1, default=str)[:4000])


if __name__ == "__main__":
    main()
