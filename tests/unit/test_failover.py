"""Consistency levels, read retries and speculation of the driver profiles, without a cluster."""

from __future__ import annotations

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.policies import NoSpeculativeExecutionPolicy, RetryPolicy
from cassandra.query import SimpleStatement

from newsindex.errors import ConfigError
from newsindex.failover import ANN_PROFILE, ReplicaRetryPolicy, execution_profiles
from newsindex.settings import Settings

QUERY = SimpleStatement("SELECT 1")


def test_writes_and_key_reads_default_to_local_quorum_and_ann_to_local_one() -> None:
    profiles = execution_profiles(Settings())
    assert profiles[EXEC_PROFILE_DEFAULT].consistency_level == ConsistencyLevel.LOCAL_QUORUM
    assert profiles[ANN_PROFILE].consistency_level == ConsistencyLevel.LOCAL_ONE


def test_settings_choose_the_levels() -> None:
    profiles = execution_profiles(Settings(consistency="ONE", ann_consistency="ONE"))
    assert profiles[EXEC_PROFILE_DEFAULT].consistency_level == ConsistencyLevel.ONE
    assert profiles[ANN_PROFILE].consistency_level == ConsistencyLevel.ONE


def test_only_ann_queries_speculate_and_speculation_can_be_turned_off() -> None:
    profiles = execution_profiles(Settings(speculative_delay_ms=250))
    assert isinstance(profiles[EXEC_PROFILE_DEFAULT].speculative_execution_policy, NoSpeculativeExecutionPolicy)
    plan = profiles[ANN_PROFILE].speculative_execution_policy.new_plan("ks", QUERY)
    assert [plan.next_execution(None) for _ in range(3)] == [0.25, 0.25, -1]
    off = execution_profiles(Settings(speculative_delay_ms=0))
    assert isinstance(off[ANN_PROFILE].speculative_execution_policy, NoSpeculativeExecutionPolicy)


def test_every_profile_has_its_own_load_balancing_policy_instance() -> None:
    profiles = execution_profiles(Settings(cassandra_local_dc="dc1"))
    default, ann = profiles[EXEC_PROFILE_DEFAULT], profiles[ANN_PROFILE]
    assert default.load_balancing_policy is not ann.load_balancing_policy
    assert default.load_balancing_policy._child_policy.local_dc == "dc1"


def test_a_read_that_timed_out_waiting_for_a_dead_replica_goes_to_the_next_node() -> None:
    policy = ReplicaRetryPolicy(2)
    cl = ConsistencyLevel.LOCAL_ONE
    assert policy.on_read_timeout(QUERY, cl, 1, 0, False, 0) == (RetryPolicy.RETRY_NEXT_HOST, cl)
    assert policy.on_read_timeout(QUERY, cl, 1, 0, False, 1) == (RetryPolicy.RETRY_NEXT_HOST, cl)
    assert policy.on_read_timeout(QUERY, cl, 1, 0, False, 2) == (RetryPolicy.RETHROW, None)
    # the driver's default gives up at once in this case
    assert RetryPolicy().on_read_timeout(QUERY, cl, 1, 0, False, 0) == (RetryPolicy.RETHROW, None)


def test_enough_replies_without_data_retry_the_same_node() -> None:
    cl = ConsistencyLevel.LOCAL_QUORUM
    assert ReplicaRetryPolicy(2).on_read_timeout(QUERY, cl, 2, 2, False, 0) == (RetryPolicy.RETRY, cl)


def test_too_few_live_replicas_is_asked_of_another_coordinator_a_bounded_number_of_times() -> None:
    policy = ReplicaRetryPolicy(1)
    cl = ConsistencyLevel.LOCAL_QUORUM
    assert policy.on_unavailable(QUERY, cl, 2, 1, 0) == (RetryPolicy.RETRY_NEXT_HOST, cl)
    assert policy.on_unavailable(QUERY, cl, 2, 1, 1) == (RetryPolicy.RETHROW, None)
    assert ReplicaRetryPolicy(0).on_read_timeout(QUERY, cl, 2, 1, True, 0) == (RetryPolicy.RETHROW, None)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"consistency": "MOST"}, "NEWS_CONSISTENCY"),
        ({"ann_consistency": "LOCAL_QUORUM"}, "NEWS_ANN_CONSISTENCY must be ONE or LOCAL_ONE"),
        ({"speculative_delay_ms": -1}, "NEWS_SPECULATIVE_DELAY_MS"),
        ({"read_retries": -1}, "NEWS_READ_RETRIES"),
    ],
)
def test_impossible_consistency_settings_are_refused(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Settings(**changes)
