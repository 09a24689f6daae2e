"""The dashboard's query layer: parameterised SQL over short-lived read-only connections.

One module per concern (``core``: connections and the cache key; ``runs``; ``features``;
``feature_detail``; ``families``; ``instruments``; ``sql``). This package re-exports their public
names so pages read ``queries.name`` without knowing which module holds it.
"""

from dashboard.queries.core import BUSY_WAIT_S, Version, reader, warehouse_version, writer_active
from dashboard.queries.families import families, family_cooccurrence, family_members
from dashboard.queries.feature_detail import FeatureDetail, SaeTables, feature_detail, sae_tables
from dashboard.queries.features import (
    NO_CONCEPT,
    common_features,
    explainers,
    feature_table,
    label_pattern,
    label_search,
    labels_of,
    weak_label_sql,
)
from dashboard.queries.instruments import (
    contrast_features,
    contrasts,
    docs_by_id,
    monthly_active,
    monthly_documents,
    period_examples,
    trend_months,
    trends,
)
from dashboard.queries.runs import RUN_METRICS, Overview, StoredEvaluations, overview, runs, stored_evaluations
from dashboard.queries.sql import DEFAULT_TIMEOUT_S, QueryTimeout, RejectedQuery, SelectResult, run_select, schema

__all__ = [
    "BUSY_WAIT_S",
    "DEFAULT_TIMEOUT_S",
    "NO_CONCEPT",
    "RUN_METRICS",
    "FeatureDetail",
    "Overview",
    "QueryTimeout",
    "RejectedQuery",
    "SaeTables",
    "SelectResult",
    "StoredEvaluations",
    "Version",
    "common_features",
    "contrast_features",
    "contrasts",
    "docs_by_id",
    "explainers",
    "families",
    "family_cooccurrence",
    "family_members",
    "feature_detail",
    "feature_table",
    "label_pattern",
    "label_search",
    "labels_of",
    "monthly_active",
    "monthly_documents",
    "overview",
    "period_examples",
    "reader",
    "run_select",
    "runs",
    "sae_tables",
    "schema",
    "stored_evaluations",
    "trend_months",
    "trends",
    "warehouse_version",
    "weak_label_sql",
    "writer_active",
]
