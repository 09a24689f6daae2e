"""Schema version 1: the tables of SAE Atlas as first shipped.

Every warehouse ran these statements; later versions (``data.schema.MIGRATIONS``) add to them.
Never edit them: a change is a new migration. Kept apart from data/schema.py so that the list
of migrations stays short enough to read.
"""

VERSION_1: list[str] = [
    # One row per document of the corpus. doc_id is dense and stable across re-ingests.
    """
    CREATE TABLE docs (
        doc_id      INTEGER PRIMARY KEY,
        arxiv_id    VARCHAR NOT NULL UNIQUE,
        title       VARCHAR NOT NULL,
        abstract    VARCHAR NOT NULL,
        categories  VARCHAR[] NOT NULL,
        published   DATE,
        version     INTEGER NOT NULL DEFAULT 1,
        text_hash   VARCHAR NOT NULL,
        source      VARCHAR NOT NULL
    )
    """,
    # Embedding cache, keyed by content, so a changed abstract is embedded again and an
    # unchanged one never is. Join to docs on text_hash.
    """
    CREATE TABLE embeddings (
        model       VARCHAR NOT NULL,
        text_hash   VARCHAR NOT NULL,
        dim         INTEGER NOT NULL,
        vec         FLOAT[] NOT NULL,
        PRIMARY KEY (model, text_hash)
    )
    """,
    # Batches that failed; retried on the next run, never stored as zero vectors.
    """
    CREATE TABLE embedding_failures (
        model        VARCHAR NOT NULL,
        text_hash    VARCHAR NOT NULL,
        error        VARCHAR NOT NULL,
        attempts     INTEGER NOT NULL,
        last_attempt TIMESTAMP NOT NULL,
        PRIMARY KEY (model, text_hash)
    )
    """,
    # Ingestion bookkeeping: skipped lines, resumable API cursors.
    """
    CREATE TABLE ingest_runs (
        run_id      VARCHAR PRIMARY KEY,
        source      VARCHAR NOT NULL,
        started_at  TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        stats       JSON,
        cursor      JSON
    )
    """,
    # One row per trained SAE. A run is visible to readers only once status = 'complete'.
    """
    CREATE TABLE saes (
        sae_id      INTEGER PRIMARY KEY,
        name        VARCHAR NOT NULL,
        corpus      VARCHAR NOT NULL,
        embed_model VARCHAR NOT NULL,
        d           INTEGER NOT NULL,
        n_latents   INTEGER NOT NULL,
        k           INTEGER NOT NULL,
        k_aux       INTEGER NOT NULL,
        config      JSON NOT NULL,
        metrics     JSON,
        checkpoint  VARCHAR,
        status      VARCHAR NOT NULL,
        created_at  TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )
    """,
    # Sparse activations: the top-k latents of every document. Inserted ordered by
    # (sae_id, latent, value DESC) so one feature's rows sit together and zone maps prune.
    """
    CREATE TABLE activations (
        sae_id  INTEGER NOT NULL,
        doc_id  INTEGER NOT NULL,
        latent  INTEGER NOT NULL,
        value   FLOAT NOT NULL
    )
    """,
    # Per-latent statistics written by the trainer.
    """
    CREATE TABLE latents (
        sae_id      INTEGER NOT NULL,
        latent      INTEGER NOT NULL,
        density     DOUBLE NOT NULL,
        mean_act    DOUBLE NOT NULL,
        max_act     DOUBLE NOT NULL,
        enc_dec_cos DOUBLE NOT NULL,
        PRIMARY KEY (sae_id, latent)
    )
    """,
    # Nearest / farthest latents by decoder cosine (kind = 'nearest' | 'farthest').
    """
    CREATE TABLE latent_neighbors (
        sae_id   INTEGER NOT NULL,
        latent   INTEGER NOT NULL,
        kind     VARCHAR NOT NULL,
        rank     INTEGER NOT NULL,
        neighbor INTEGER NOT NULL,
        cosine   DOUBLE NOT NULL
    )
    """,
    # A label per (latent, explainer); is_proxy marks the offline keyword path.
    """
    CREATE TABLE interpretations (
        sae_id            INTEGER NOT NULL,
        latent            INTEGER NOT NULL,
        explainer         VARCHAR NOT NULL,
        predictor         VARCHAR NOT NULL,
        is_proxy          BOOLEAN NOT NULL,
        label             VARCHAR,
        reasoning         VARCHAR,
        pearson           DOUBLE,
        f1                DOUBLE,
        auroc             DOUBLE,
        balanced_accuracy DOUBLE,
        random_pearson    DOUBLE,
        random_f1         DOUBLE,
        random_auroc      DOUBLE,
        random_balanced_accuracy DOUBLE,
        n_scored          INTEGER,
        parse_failures    INTEGER NOT NULL DEFAULT 0,
        status            VARCHAR NOT NULL,
        error             VARCHAR,
        created_at        TIMESTAMP NOT NULL,
        PRIMARY KEY (sae_id, latent, explainer)
    )
    """,
    # The examples behind each label and score (role: explain_* or score_*), reproducible.
    """
    CREATE TABLE interp_examples (
        sae_id     INTEGER NOT NULL,
        latent     INTEGER NOT NULL,
        explainer  VARCHAR NOT NULL,
        role       VARCHAR NOT NULL,
        doc_id     INTEGER NOT NULL,
        activation FLOAT NOT NULL,
        prediction FLOAT
    )
    """,
    # Persistent LLM response cache keyed by a hash of (model, messages, parameters).
    """
    CREATE TABLE llm_cache (
        cache_key         VARCHAR PRIMARY KEY,
        model             VARCHAR NOT NULL,
        request           JSON NOT NULL,
        response          VARCHAR NOT NULL,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        created_at        TIMESTAMP NOT NULL
    )
    """,
    # Top co-occurring latents per latent (for the feature page and the family graph).
    """
    CREATE TABLE cooccurrence (
        sae_id   INTEGER NOT NULL,
        latent   INTEGER NOT NULL,
        other    INTEGER NOT NULL,
        count    INTEGER NOT NULL,
        weight   DOUBLE NOT NULL
    )
    """,
    """
    CREATE TABLE families (
        sae_id       INTEGER NOT NULL,
        family_id    INTEGER NOT NULL,
        root_latent  INTEGER NOT NULL,
        pass         INTEGER NOT NULL,
        n_children   INTEGER NOT NULL,
        label        VARCHAR,
        is_proxy     BOOLEAN,
        pearson      DOUBLE,
        f1           DOUBLE,
        auroc        DOUBLE,
        PRIMARY KEY (sae_id, family_id)
    )
    """,
    """
    CREATE TABLE family_members (
        sae_id        INTEGER NOT NULL,
        family_id     INTEGER NOT NULL,
        latent        INTEGER NOT NULL,
        parent_latent INTEGER,
        depth         INTEGER NOT NULL
    )
    """,
    # Feature splitting: every latent of a larger SAE matched to its nearest in a smaller one.
    """
    CREATE TABLE splits (
        small_sae_id INTEGER NOT NULL,
        large_sae_id INTEGER NOT NULL,
        large_latent INTEGER NOT NULL,
        small_latent INTEGER NOT NULL,
        cosine       DOUBLE NOT NULL
    )
    """,
    """
    CREATE TABLE steering_results (
        run_id       VARCHAR NOT NULL,
        sae_id       INTEGER NOT NULL,
        method       VARCHAR NOT NULL,
        query        VARCHAR NOT NULL,
        up_latent    INTEGER,
        down_latent  INTEGER,
        u            DOUBLE,
        d            DOUBLE,
        cos_qq       DOUBLE,
        up_success   DOUBLE,
        down_success DOUBLE,
        overlap      DOUBLE,
        judge        VARCHAR
    )
    """,
    """
    CREATE TABLE fidelity (
        sae_id      INTEGER NOT NULL,
        n_queries   INTEGER NOT NULL,
        recall_at_10 DOUBLE NOT NULL,
        ndcg_at_10  DOUBLE NOT NULL,
        created_at  TIMESTAMP NOT NULL
    )
    """,
    # Summary statistics of an evaluation (families, splits, steering): name -> JSON.
    """
    CREATE TABLE eval_summaries (
        sae_id     INTEGER NOT NULL,
        eval       VARCHAR NOT NULL,
        summary    JSON NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (sae_id, eval)
    )
    """,
]
