"""How the driver behaves on a cluster where a node can die: consistency levels, retries, speculation.

Two execution profiles, both chosen by settings:
- the default one (writes and key reads: articles, manifest, BM25 statistics) at NEWS_CONSISTENCY,
  LOCAL_QUORUM by default: with 3 replicas it needs 2, so one node may be down;
- `ANN_PROFILE` for vector queries at NEWS_ANN_CONSISTENCY (SAI allows only ONE / LOCAL_ONE), which
  also speculates: an ANN query unanswered after NEWS_SPECULATIVE_DELAY_MS goes to another node too.

Why both matter: when a node dies (kill -9), the driver notices at once (its sockets close), but the
other nodes' failure detectors take seconds to tens of seconds. Meanwhile a coordinator may still
send its part of a read to the dead replica and wait for it until `read_request_timeout`; retrying
on (or speculating to) another coordinator gets the answer from the live replicas instead.
"""

from __future__ import annotations

from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    RetryPolicy,
    TokenAwarePolicy,
)

from newsindex.settings import Settings

ANN_PROFILE = "ann"
SPECULATIVE_EXECUTIONS = 2  # at most two extra coordinators per ANN query


class ReplicaRetryPolicy(RetryPolicy):  # type: ignore[misc]
    """The driver's RetryPolicy, except that reads go on to the next node, up to `read_retries` times.

    The driver's default rethrows a read timeout unless enough replicas answered, which is exactly
    what happens while a replica has just died and its coordinator still counts on it. A read changes
    nothing, so sending it to another coordinator is always safe. Writes keep the driver's behaviour
    (the ingest writer retries idempotent writes itself, with backoff).
    """

    def __init__(self, read_retries: int) -> None:
        super().__init__()
        self.read_retries = read_retries

    def on_read_timeout(
        self,
        query: Any,
        consistency: Any,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> tuple[int, Any]:
        if retry_num >= self.read_retries:
            return self.RETHROW, None
        if received_responses >= required_responses and not data_retrieved:
            return self.RETRY, consistency  # the replicas answered, only the data was missing
        return self.RETRY_NEXT_HOST, consistency

    def on_unavailable(
        self, query: Any, consistency: Any, required_replicas: int, alive_replicas: int, retry_num: int
    ) -> tuple[int, Any]:
        if retry_num >= self.read_retries:
            return self.RETHROW, None
        return self.RETRY_NEXT_HOST, consistency


def execution_profiles(settings: Settings, *, load_balancing: bool = True) -> dict[Any, ExecutionProfile]:
    """{EXEC_PROFILE_DEFAULT: ..., ANN_PROFILE: ...}; without `load_balancing` the cluster's own stays (Astra)."""

    def common() -> dict[str, Any]:
        out: dict[str, Any] = {
            "request_timeout": settings.request_timeout_s,
            "retry_policy": ReplicaRetryPolicy(settings.read_retries),
        }
        if load_balancing:  # one policy instance per profile: the driver initialises each separately
            out["load_balancing_policy"] = TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc or None)
            )
        return out

    speculative = (
        ConstantSpeculativeExecutionPolicy(settings.speculative_delay_ms / 1000, SPECULATIVE_EXECUTIONS)
        if settings.speculative_delay_ms
        else None
    )
    return {
        EXEC_PROFILE_DEFAULT: ExecutionProfile(
            consistency_level=ConsistencyLevel.name_to_value[settings.consistency], **common()
        ),
        ANN_PROFILE: ExecutionProfile(
            consistency_level=ConsistencyLevel.name_to_value[settings.ann_consistency],
            speculative_execution_policy=speculative,
            **common(),
        ),
    }


def apply_to_existing(cluster: Any, settings: Settings) -> None:
    """For a cluster someone else built (cassio's Astra session): our consistency, retries and ANN profile."""
    ours = execution_profiles(settings, load_balancing=False)
    default = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
    default.consistency_level = ours[EXEC_PROFILE_DEFAULT].consistency_level
    default.retry_policy = ours[EXEC_PROFILE_DEFAULT].retry_policy
    if ANN_PROFILE not in cluster.profile_manager.profiles:
        cluster.add_execution_profile(ANN_PROFILE, ours[ANN_PROFILE])
