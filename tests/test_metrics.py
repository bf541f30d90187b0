"""The /metrics histogram: each observation counted once per bucket it fits, cumulative as Prometheus reads it."""

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from alxapi.http.metrics import BUCKETS, Metrics

NO_CACHE = SimpleNamespace(hits=0, misses=0, entries=0, bytes=0)


@given(
    durations=st.lists(
        st.one_of(st.sampled_from(BUCKETS), st.floats(min_value=0, max_value=60, allow_nan=False)),
        max_size=40,
    )
)
def test_histogram_buckets_count_every_observation_at_or_below_their_bound(durations):
    metrics = Metrics()
    for seconds in durations:
        metrics.observe("v1_course_progress", 200, seconds)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render(NO_CACHE, {}))}
    samples = families["alx_http_request_duration_seconds"].samples if durations else []
    buckets = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket")}
    expected = {repr(float(b)): sum(1 for d in durations if d <= b) for b in BUCKETS}
    if durations:
        expected["+Inf"] = len(durations)
        assert {le if le == "+Inf" else repr(float(le)): n for le, n in buckets.items()} == expected
    else:
        assert buckets == {}
