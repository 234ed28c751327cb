use super::*;
use crate::fake::{FakeEnv, config};

fn key<'a>(function: &'a str, version: &'a str, revision: &'a str) -> PoolKey<'a> {
    PoolKey {
        function,
        version,
        revision,
    }
}

fn ids(envs: &[FakeEnv]) -> Vec<u32> {
    let mut ids: Vec<u32> = envs.iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

#[test]
fn a_given_back_environment_serves_its_configuration_again_most_recent_first() {
    let mut pools = Pools::default();
    let t = Instant::now();
    let k = key("f", "$LATEST", "r1");
    // Nothing is warm before a first invocation.
    let (env, stale) = pools.take(k);
    assert!(env.is_none() && stale.is_empty());
    assert!(pools.give(k, FakeEnv::idle(1, t)).is_none());
    assert!(pools.give(k, FakeEnv::idle(2, t)).is_none());
    assert_eq!(pools.idle(), 2);
    assert_eq!(pools.take(k).0.map(|e| e.id), Some(2));
    assert_eq!(pools.take(k).0.map(|e| e.id), Some(1));
    assert!(pools.take(k).0.is_none());
}

#[test]
fn the_key_is_the_configuration_of_a_version() {
    let c = config("f", "3", "rev-a");
    assert_eq!(PoolKey::of(&c), key("f", "3", "rev-a"));
}

#[test]
fn other_functions_and_versions_are_other_pools() {
    let mut pools = Pools::default();
    let t = Instant::now();
    pools.take(key("f", "1", "r"));
    pools.take(key("f", "2", "r"));
    pools.take(key("g", "1", "r"));
    pools.give(key("f", "1", "r"), FakeEnv::idle(1, t));
    assert!(pools.take(key("f", "2", "r")).0.is_none());
    assert!(pools.take(key("g", "1", "r")).0.is_none());
    assert_eq!(pools.take(key("f", "1", "r")).0.map(|e| e.id), Some(1));
}

#[test]
fn an_environment_of_another_revision_of_the_same_version_is_drained_never_reused() {
    let mut pools = Pools::default();
    let t = Instant::now();
    let old = key("f", "$LATEST", "r1");
    let new = key("f", "$LATEST", "r2");
    pools.take(old);
    pools.give(old, FakeEnv::idle(1, t));
    pools.give(old, FakeEnv::idle(2, t));
    // The configuration changed: the next invocation drains the old environments.
    let (env, stale) = pools.take(new);
    assert!(env.is_none());
    assert_eq!(ids(&stale), [1, 2]);
    assert_eq!(pools.idle(), 0);
    // One of the old revision still busy is refused when it comes back.
    let refused = pools.give(old, FakeEnv::idle(3, t));
    assert_eq!(refused.map(|e| e.id), Some(3));
    // The new revision's environments are kept.
    assert!(pools.give(new, FakeEnv::idle(4, t)).is_none());
    assert_eq!(pools.take(new).0.map(|e| e.id), Some(4));
}

#[test]
fn an_environment_that_died_while_idle_is_drained_not_handed_an_event() {
    let mut pools = Pools::default();
    let t = Instant::now();
    let k = key("f", "1", "r");
    pools.take(k);
    pools.give(k, FakeEnv::idle(1, t));
    let mut dead = FakeEnv::idle(2, t);
    dead.exited = true;
    pools.give(k, dead);
    let (env, stale) = pools.take(k);
    assert_eq!(env.map(|e| e.id), Some(1));
    assert_eq!(ids(&stale), [2]);
}

#[test]
fn nothing_is_given_back_to_a_configuration_never_taken() {
    let mut pools = Pools::default();
    let refused = pools.give(key("f", "1", "r"), FakeEnv::idle(1, Instant::now()));
    assert_eq!(refused.map(|e| e.id), Some(1));
}

#[test]
fn environments_idle_for_200_ms_are_due_for_freezing_once() {
    let mut pools = Pools::default();
    let t0 = Instant::now();
    let k = key("f", "1", "r");
    pools.take(k);
    pools.give(k, FakeEnv::idle(1, t0));
    pools.give(k, FakeEnv::idle(2, t0 + Duration::from_millis(150)));
    assert!(
        pools
            .due_for_freeze(t0 + Duration::from_millis(199))
            .is_empty()
    );
    let due = pools.due_for_freeze(t0 + Duration::from_millis(200));
    assert_eq!(due.len(), 1);
    let (due_key, mut env) = due.into_iter().next().unwrap();
    assert_eq!((due_key.as_key(), env.id), (k, 1));
    // Out for freezing: not in the pool meanwhile.
    assert_eq!(pools.idle(), 1);
    env.frozen = true;
    assert!(pools.give(due_key.as_key(), env).is_none());
    // A frozen environment is not frozen again; the other one is due in its turn.
    let later = pools.due_for_freeze(t0 + Duration::from_secs(5));
    let later: Vec<u32> = later.iter().map(|(_, e)| e.id).collect();
    assert_eq!(later, [2]);
}

#[test]
fn an_environment_frozen_while_its_version_changed_is_refused() {
    let mut pools = Pools::default();
    let t0 = Instant::now();
    let old = key("f", "1", "r1");
    pools.take(old);
    pools.give(old, FakeEnv::idle(1, t0));
    let (due_key, env) = pools
        .due_for_freeze(t0 + FREEZE_AFTER)
        .into_iter()
        .next()
        .unwrap();
    pools.take(key("f", "1", "r2"));
    assert_eq!(pools.give(due_key.as_key(), env).map(|e| e.id), Some(1));
}

#[test]
fn idle_environments_are_reaped_after_the_idle_timeout() {
    let mut pools = Pools::default();
    let t0 = Instant::now();
    let (a, b) = (key("f", "1", "r"), key("g", "1", "r"));
    pools.take(a);
    pools.take(b);
    pools.give(a, FakeEnv::idle(1, t0));
    pools.give(b, FakeEnv::idle(2, t0 + Duration::from_secs(300)));
    let idle = Duration::from_secs(600);
    assert!(
        pools
            .expired(t0 + Duration::from_secs(599), idle)
            .is_empty()
    );
    assert_eq!(ids(&pools.expired(t0 + idle, idle)), [1]);
    assert_eq!(pools.idle(), 1);
    // Reaping forgets no configuration: an environment of it is still taken back.
    assert!(pools.give(a, FakeEnv::idle(3, t0)).is_none());
}

#[test]
fn a_deleted_function_drains_all_its_versions_and_refuses_busy_ones() {
    let mut pools = Pools::default();
    let t = Instant::now();
    let keys = [
        (1, key("f", "1", "r")),
        (2, key("f", "2", "r")),
        (3, key("g", "1", "r")),
    ];
    for (id, k) in keys {
        pools.take(k);
        pools.give(k, FakeEnv::idle(id, t));
    }
    assert_eq!(ids(&pools.remove_function("f")), [1, 2]);
    assert_eq!(pools.idle(), 1);
    assert!(
        pools
            .give(key("f", "1", "r"), FakeEnv::idle(4, t))
            .is_some()
    );
    assert!(pools.remove_function("nobody").is_empty());
}

#[test]
fn a_retired_version_drains_only_that_version() {
    let mut pools = Pools::default();
    let t = Instant::now();
    let (one, two) = (key("f", "1", "r"), key("f", "2", "r"));
    for (id, k) in [(1, one), (2, two)] {
        pools.take(k);
        pools.give(k, FakeEnv::idle(id, t));
    }
    assert_eq!(ids(&pools.remove_version("f", "1")), [1]);
    assert!(pools.give(one, FakeEnv::idle(3, t)).is_some());
    assert_eq!(pools.take(two).0.map(|e| e.id), Some(2));
    assert!(pools.remove_version("f", "9").is_empty());
}

#[test]
fn drain_takes_every_idle_environment() {
    let mut pools = Pools::default();
    let t = Instant::now();
    for (id, k) in [(1, key("f", "1", "r")), (2, key("g", "1", "r"))] {
        pools.take(k);
        pools.give(k, FakeEnv::idle(id, t));
    }
    assert_eq!(ids(&pools.drain()), [1, 2]);
    assert_eq!(pools.idle(), 0);
}

#[tokio::test]
async fn the_pool_freezes_what_sat_idle_and_keeps_it_and_reaps_what_expired() {
    let pool: Pool<FakeEnv> = Pool::new();
    let (a, b) = (key("f", "1", "r"), key("g", "1", "r"));
    assert!(pool.take(a).is_none() && pool.take(b).is_none());
    let now = Instant::now();
    pool.give(a, FakeEnv::idle(1, now - Duration::from_secs(1)));
    pool.give(b, FakeEnv::idle(2, now));
    pool.freeze_idle().await;
    let env = pool.take(a).expect("kept after freezing");
    assert!(env.frozen);
    pool.give(a, env);
    // A minute's idle timeout reaps neither; a 500 ms one reaps the older.
    pool.reap(Duration::from_secs(60)).await;
    assert_eq!(pool.idle(), 2);
    pool.reap(Duration::from_millis(500)).await;
    assert_eq!(pool.idle(), 1);
    assert_eq!(pool.take(b).map(|e| (e.id, e.frozen)), Some((2, false)));
}
