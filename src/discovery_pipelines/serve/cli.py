"""``discovery`` command line: search an exported index, serve it over HTTP, export one.

Examples::

    discovery search "cordless drill" -k 10 --mode hybrid
    discovery search "cordless drill" --mode rerank --rerank-top-n 30
    discovery search "deck screws" --index data/07_model_output/index --category "Hardware" --json
    discovery serve --index data/07_model_output/index --port 8000
    discovery export --products data/03_primary/products.parquet --model all-MiniLM-L6-v2 --out DIR
    discovery info --index DIR
    discovery recommend --user 1 -k 10 [--model two_tower]
    discovery moderate titles.txt --daypart breakfast     # or: echo "Moldy bread" | discovery moderate -

Without ``discovery`` installed as a script: ``python -m discovery_pipelines.serve.cli ...``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from discovery_pipelines.serve.service import DEFAULT_INDEX_DIR, MAX_K, MODES

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Product search over an exported faiss index.")

IndexOpt = Annotated[Path, typer.Option("--index", help="exported index folder (env DISCOVERY_INDEX_DIR)")]
ModelOpt = Annotated[Optional[Path], typer.Option("--model", help="model folder (default data/06_models/production, "
                                                                    "else the manifest's model_path)")]


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="query text")],
    k: Annotated[int, typer.Option("-k", "--k", help=f"number of results (1..{MAX_K})")] = 10,
    mode: Annotated[Optional[str], typer.Option(help="dense | bm25 | hybrid | rerank | ltr (default: the index's default mode)")] = None,
    index: IndexOpt = DEFAULT_INDEX_DIR,
    model: ModelOpt = None,
    category: Annotated[Optional[str], typer.Option(help="category_path prefix")] = None,
    available_only: Annotated[bool, typer.Option("--available-only", help="only available products")] = False,
    store: Annotated[Optional[str], typer.Option(help="only products of store_<STORE>")] = None,
    product_id: Annotated[Optional[list[str]], typer.Option("--product-id", help="restrict to these ids (repeat)")] = None,
    candidates: Annotated[int, typer.Option(help="hybrid: depth of each fused list")] = 100,
    rerank_top_n: Annotated[Optional[int], typer.Option(help="rerank: hybrid candidates the cross-encoder re-scores "
                                                             "(default: the index's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Search the index in-process and print the top-k with per-retriever ranks."""
    from discovery_pipelines.search.index import IndexLoadError
    from discovery_pipelines.serve.service import Filters, QueryError, SearchService

    if mode is not None and mode not in MODES:
        _fail(f"--mode must be one of {list(MODES)}, got {mode!r}")
    try:
        svc = SearchService(index, model, poll_interval=0)
        res = svc.engine.search(query, k=k, mode=mode, candidates=candidates, rerank_top_n=rerank_top_n, filters=Filters(
            category=category, available_only=available_only, store=store,
            product_ids=tuple(product_id) if product_id else None))
    except (IndexLoadError, QueryError) as e:
        _fail(str(e))
        return
    if as_json:
        out = {k_: v for k_, v in res.__dict__.items() if k_ != "hits"}
        out["hits"] = [h.__dict__ for h in res.hits]
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{res.mode} | {res.query!r} | index {res.index_id[:8]} | {res.n_candidates} candidates | "
                    f"{res.took_ms:.1f} ms")
    for col in ("#", "product_id", "title", "score", "dense rank", "bm25 rank"):
        t.add_column(col)
    for h in res.hits:
        t.add_row(str(h.rank), h.product_id, h.title[:80], f"{h.score:.4f}",
                  str(h.ranks.get("dense", "-")), str(h.ranks.get("bm25", "-")))
    Console().print(t)


@app.command()
def serve(
    index: IndexOpt = DEFAULT_INDEX_DIR,
    model: ModelOpt = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    poll: Annotated[float, typer.Option(help="seconds between index manifest checks (hot swap); 0 = off")] = 2.0,
    device: Annotated[Optional[str], typer.Option(help="torch device for exact search (default cuda if present)")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch and faiss CPU threads per operation "
                                                        "(1 = lowest latency on a shared box)")] = None,
    env: Annotated[Optional[str], typer.Option(help="Kedro config env whose credentials hold "
                                                    "search_admin.token (default $KEDRO_ENV or local)")] = None,
    conf_source: Annotated[Path, typer.Option(help="Kedro conf folder (credentials)")] = Path("conf"),
    allowed_host: Annotated[Optional[list[str]], typer.Option(
        help="Host names /admin/reload answers to (repeatable; default the bind host, localhost, 127.0.0.1, ::1)")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) with hot swap of newly promoted indexes.

    ``/admin/reload`` is on only when the credentials (``--env``) hold ``search_admin.token``."""
    import uvicorn

    if threads:
        import faiss
        import torch

        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)

    from discovery_pipelines.search.index import IndexLoadError
    from discovery_pipelines.serve.api import DEFAULT_ALLOWED_HOSTS, admin_token_from_credentials, create_app
    from discovery_pipelines.serve.service import SearchService

    try:
        svc = SearchService(index, model, device=device, poll_interval=poll or 2.0)
    except IndexLoadError as e:
        _fail(str(e))
        return
    token = admin_token_from_credentials(str(conf_source), env)
    hosts = allowed_host or [*DEFAULT_ALLOWED_HOSTS, host]
    if token is None:
        typer.echo("admin API off (no search_admin.token in credentials)", err=True)
    app_ = create_app(svc, watch=poll > 0, admin_token=token, allowed_hosts=hosts)
    uvicorn.run(app_, host=host, port=port, log_level="info")


@app.command()
def export(
    products: Annotated[Path, typer.Option(help="contract products Parquet")],
    out: Annotated[Path, typer.Option(help="index folder to write (replaced atomically)")],
    model: Annotated[str, typer.Option(help="model name or folder")] = "all-MiniLM-L6-v2",
    factory: Annotated[str, typer.Option(help="faiss index_factory string")] = "Flat",
    text_field: Annotated[Optional[list[str]], typer.Option("--text-field", help="product columns to encode")] = None,
    no_embeddings: Annotated[bool, typer.Option("--no-embeddings", help="skip embeddings.npy")] = False,
) -> None:
    """Encode a products table and write an index folder (see discovery_pipelines.search.index.export_index)."""
    import pandas as pd

    from discovery_pipelines.search.index import export_index

    df = pd.read_parquet(products)
    path = export_index(out, model, df, factory=factory, text_fields=tuple(text_field or ("title",)),
                        save_embeddings=not no_embeddings)
    typer.echo(str(path))


@app.command()
def info(index: IndexOpt = DEFAULT_INDEX_DIR) -> None:
    """Print an index folder's manifest (after checking it loads)."""
    from discovery_pipelines.search.index import IndexLoadError, load_index

    try:
        li = load_index(index, load_embeddings=False)
    except IndexLoadError as e:
        _fail(str(e))
        return
    typer.echo(json.dumps(li.manifest, indent=2))


@app.command()
def recommend(
    user: Annotated[str, typer.Option("--user", help="user / household id")],
    k: Annotated[int, typer.Option("-k", "--k", help="number of products")] = 10,
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="recommender bundle (default "
                                                   "data/06_models/personalization/completejourney/recommender.pkl, "
                                                   "env DISCOVERY_RECOMMENDER)")] = None,
    day_of_week: Annotated[Optional[int], typer.Option(help="basket context: 0 = Monday .. 6")] = None,
    hour: Annotated[Optional[int], typer.Option(help="basket context: hour 0..23")] = None,
    model: Annotated[str, typer.Option(help="full_stack (ranker + blend + explore slots) | two_tower")] = "full_stack",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Personalised recommendations (the full stack: candidates, LambdaRank, blend, explore slots; the
    user's usual day / hour unless given); unknown users get popularity, labelled."""
    from discovery_pipelines.personalization.recommender import Recommender
    from discovery_pipelines.serve.recommend_api import DEFAULT_BUNDLE

    try:
        rec = Recommender.load(bundle or DEFAULT_BUNDLE).recommend(user, k=k, day_of_week=day_of_week, hour=hour,
                                                                   model=model)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
        return
    if as_json:
        typer.echo(json.dumps(rec.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"user {rec.user_id}: {rec.source}")
    for c in ("rank", "product_id", "title", "score", "slot"):
        t.add_column(c)
    for it in rec.items:
        t.add_row(str(it["rank"]), it["product_id"], it["title"],
                  "" if it["score"] is None else f"{it['score']:.4f}", it["slot"])
    Console().print(t)


@app.command()
def moderate(
    file: Annotated[str, typer.Argument(help="one carousel title per line (optionally TAB daypart); - for stdin")],
    daypart: Annotated[Optional[str], typer.Option(help="breakfast | lunch | dinner | late | any (lines may "
                                                        "override it after a TAB)")] = None,
    backend: Annotated[Optional[str], typer.Option(help="rules | llm (default: carousels.moderation.backend)")] = None,
    conf: Annotated[Path, typer.Option(help="Kedro conf folder with parameters_carousels.yml")] = Path("conf"),
) -> None:
    """Moderate carousel titles with the configured jury: one JSON line per title (verdict, blocked_by)."""
    from discovery_pipelines.carousels.jury import configured_jury, moderate_lines

    if file != "-" and not Path(file).is_file():
        _fail(f"no such file: {file}")
    try:
        jury = configured_jury(str(conf), backend=backend)
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        rows = moderate_lines(text.splitlines(), jury, daypart=daypart)
    except ValueError as e:
        _fail(str(e))
        return
    for r in rows:
        typer.echo(json.dumps(r, ensure_ascii=False))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
