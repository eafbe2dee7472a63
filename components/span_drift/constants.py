"""Keys of SpanDrift's inputs, output, parameters and artifact properties."""

STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
BASELINE_MODEL_KEY = "baseline_model"
ANOMALIES_KEY = "anomalies"
MAX_L_INFINITY_KEY = "max_l_infinity"
MAX_JS_DIVERGENCE_KEY = "max_js_divergence"
HALT_KEY = "halt_on_drift"
# Custom property of the output: 1 when a feature drifted, else 0.
DRIFTED_PROPERTY = "span_drifted"
COMPARED_SPLIT = "train"
