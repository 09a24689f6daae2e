"""The warehouse schema: every table of SAE Atlas, versioned and migrated on open.

``data`` owns all DDL. A new table or column is a new entry at the end of ``MIGRATIONS``;
never edit an entry that has shipped, because existing warehouses already ran it. Version 1, the
base tables, lives in data/schema_v1.py.
"""

from __future__ import annotations

import duckdb

from data.schema_v1 import VERSION_1
from data.split import DEFAULT_TEST_FRACTION, split_sql

# Each entry: (version, statements). Applied in order inside one transaction per version.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, VERSION_1),  # the base tables (data/schema_v1.py)
    (
        2,
        [
            # The test split (data/split.py): a stable hash of the id; existing documents at 10%.
            "ALTER TABLE docs ADD COLUMN split VARCHAR DEFAULT 'train'",
            f"UPDATE docs SET split = {split_sql(fraction=repr(DEFAULT_TEST_FRACTION))}",
        ],
    ),
    (
        3,
        [
            # The paper's "clean" (interpretable) label, decided once by the writer (interp's CleanConfig:
            # Pearson, F1, and the stored latents.density); every reader uses this flag, none re-derives it.
            "ALTER TABLE interpretations ADD COLUMN clean BOOLEAN",
            # A family is clean when its label's Pearson and F1 pass and its members fire on few enough docs.
            "ALTER TABLE families ADD COLUMN clean BOOLEAN",
            # Rows written before: flagged with the thresholds of the time (0.8, 0.8, density < 0.2).
            """
            UPDATE interpretations SET clean = coalesce(
                interpretations.pearson >= 0.8 AND interpretations.f1 >= 0.8 AND l.density < 0.2, false)
            FROM latents l WHERE l.sae_id = interpretations.sae_id AND l.latent = interpretations.latent
            """,
            "UPDATE interpretations SET clean = false WHERE clean IS NULL",
            "UPDATE families SET clean = coalesce(pearson >= 0.8 AND f1 >= 0.8, false)",
            # One metrics vocabulary: validation FVU is `val_fvu`, L0 `val_l0`; older rows used nmse/fvu/l0.
            """
            UPDATE saes SET metrics = json_merge_patch(metrics, json_object(
                'val_fvu', coalesce(metrics->'val_fvu', metrics->'nmse', metrics->'fvu'),
                'val_l0', coalesce(metrics->'val_l0', metrics->'l0'),
                'nmse', NULL, 'fvu', NULL, 'l0', NULL))
            WHERE (metrics->'nmse') IS NOT NULL OR (metrics->'fvu') IS NOT NULL OR (metrics->'l0') IS NOT NULL
            """,
            # The SAEs readers may use (data.saes.SaeStatus.COMPLETE); new saes columns show up here too.
            "CREATE VIEW complete_saes AS SELECT * FROM saes WHERE status = 'complete'",
            # The best label of each latent (one rule for every reader): an LLM label before a proxy one,
            # then the higher Pearson, then the higher F1, then the explainer name (deterministic).
            """
            CREATE VIEW best_labels AS
            SELECT sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, auroc, balanced_accuracy, clean
            FROM interpretations
            WHERE status = 'complete' AND label IS NOT NULL AND trim(label) <> ''
            QUALIFY row_number() OVER (
                PARTITION BY sae_id, latent
                ORDER BY is_proxy, pearson DESC NULLS LAST, f1 DESC NULLS LAST, explainer) = 1
            """,
        ],
    ),
    (
        4,
        [
            # The Matryoshka level of each latent (0 = the coarsest prefix); 0 for every latent of a plain SAE.
            "ALTER TABLE latents ADD COLUMN level INTEGER NOT NULL DEFAULT 0",
        ],
    ),
    (
        5,
        [
            # Retrieval fidelity of test queries per searched set (evals/fidelity.py): 'all' (every other
            # document) or 'test' (test documents only). Rows from before the split: 'sampled' (random queries).
            "ALTER TABLE fidelity ADD COLUMN searched VARCHAR DEFAULT 'sampled'",
        ],
    ),
    (
        6,
        [
            # Concept trends (evals/trends): one row per latent of an SAE, replaced on re-run.
            """
            CREATE TABLE trends (
                sae_id              INTEGER NOT NULL,
                latent              INTEGER NOT NULL,
                active_docs         INTEGER NOT NULL,
                slope               DOUBLE,
                z                   DOUBLE,
                dispersion          DOUBLE,
                p_value             DOUBLE,
                q_value             DOUBLE,
                recent_prevalence   DOUBLE,
                previous_prevalence DOUBLE,
                ratio               DOUBLE,
                direction           VARCHAR NOT NULL,
                PRIMARY KEY (sae_id, latent)
            )
            """,
            # The calendar months a trends run saw: documents per month, whether the month was tested (else
            # why not: too few documents, or a category mix unlike the corpus's other months) and which
            # effect-size period (recent / previous) it belongs to.
            """
            CREATE TABLE trend_months (
                sae_id   INTEGER NOT NULL,
                month    DATE NOT NULL,
                n_docs   INTEGER NOT NULL,
                eligible BOOLEAN NOT NULL,
                excluded VARCHAR,
                period   VARCHAR,
                PRIMARY KEY (sae_id, month)
            )
            """,
            # Contrasts (evals/contrast): one row per (SAE, target expression, selection method).
            """
            CREATE TABLE contrasts (
                sae_id           INTEGER NOT NULL,
                target           VARCHAR NOT NULL,
                method           VARCHAR NOT NULL,
                kind             VARCHAR NOT NULL,
                n_features       INTEGER NOT NULL,
                n_train          INTEGER NOT NULL,
                n_test           INTEGER NOT NULL,
                train_mean       DOUBLE NOT NULL,
                test_mean        DOUBLE NOT NULL,
                metric           VARCHAR NOT NULL,
                features_score   DOUBLE,
                embedding_score  DOUBLE,
                created_at       TIMESTAMP NOT NULL,
                PRIMARY KEY (sae_id, target, method)
            )
            """,
            # The features a contrast selected on the train split, evaluated on the test split.
            """
            CREATE TABLE contrast_features (
                sae_id        INTEGER NOT NULL,
                target        VARCHAR NOT NULL,
                method        VARCHAR NOT NULL,
                rank          INTEGER NOT NULL,
                latent        INTEGER NOT NULL,
                train_score   DOUBLE NOT NULL,
                n_with        INTEGER NOT NULL,
                mean_with     DOUBLE,
                mean_without  DOUBLE,
                effect        DOUBLE,
                p_value       DOUBLE,
                q_value       DOUBLE,
                PRIMARY KEY (sae_id, target, method, rank)
            )
            """,
        ],
    ),
    (
        7,
        [
            # Any text collection: its other columns, as a JSON object (NULL for arXiv documents).
            # Query with docs.metadata->>'stars', or through the long view below.
            "ALTER TABLE docs ADD COLUMN metadata JSON",
            # One row per (document, metadata column): GROUP BY key, value without knowing the columns.
            """
            CREATE VIEW doc_metadata AS
            SELECT d.doc_id, m.key, m.value ->> '$' AS value FROM docs d, json_each(d.metadata) m
            """,
            # What each cached model is: its width, sequence limit and normalisation, recorded with its
            # vectors. fingerprint: of a local model folder, so a changed model is not mixed with its old vectors.
            """
            CREATE TABLE embedding_models (
                model          VARCHAR PRIMARY KEY,
                backend        VARCHAR NOT NULL,
                source         VARCHAR,
                dim            INTEGER NOT NULL,
                max_seq_length INTEGER,
                normalized     BOOLEAN,
                precision      VARCHAR,
                fingerprint    VARCHAR,
                recorded_at    TIMESTAMP NOT NULL
            )
            """,
        ],
    ),
    (
        8,
        [
            # Labels a researcher can trust (issue 10): held-out AUROC against random and against hard
            # (nearest non-activating) negatives apart, each with its other-label baseline (random_*).
            "ALTER TABLE interpretations ADD COLUMN auroc_random DOUBLE",
            "ALTER TABLE interpretations ADD COLUMN auroc_hard DOUBLE",
            "ALTER TABLE interpretations ADD COLUMN random_auroc_random DOUBLE",
            "ALTER TABLE interpretations ADD COLUMN random_auroc_hard DOUBLE",
            # A near-duplicate label (same content words) points at the latent that keeps it.
            "ALTER TABLE interpretations ADD COLUMN duplicate_of INTEGER",
            # Family coherence: mean pairwise co-occurrence lift of the members, and the label-free
            # coherence (mean pairwise centred cosine of the family's top documents).
            "ALTER TABLE families ADD COLUMN cooccurrence_lift DOUBLE",
            "ALTER TABLE families ADD COLUMN coherence DOUBLE",
            # best_labels keeps its rule and gains the new scores.
            """
            CREATE OR REPLACE VIEW best_labels AS
            SELECT sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, auroc, balanced_accuracy, clean,
                   auroc_random, auroc_hard, random_auroc_random, random_auroc_hard, duplicate_of
            FROM interpretations
            WHERE status = 'complete' AND label IS NOT NULL AND trim(label) <> ''
            QUALIFY row_number() OVER (
                PARTITION BY sae_id, latent
                ORDER BY is_proxy, pearson DESC NULLS LAST, f1 DESC NULLS LAST, explainer) = 1
            """,
        ],
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    return row[0] or 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema up to ``SCHEMA_VERSION``; each version is applied atomically."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP)")
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"warehouse schema version {version} is newer than this code ({SCHEMA_VERSION}); "
            "upgrade SAE Atlas before opening it"
        )
    for target, statements in MIGRATIONS:
        if target <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [target])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = target
    return version
