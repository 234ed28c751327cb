use super::*;
use crate::fake::{FakeEnv, FakeLauncher, Prepared, config, until};
use crate::launch::InitFailure;
use std::time::Instant;

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

fn spec(version: &str, revision: &str, requested: u32) -> ProvisionSpec {
    ProvisionSpec {
        config: config("f", version, revision),
        code_blob: "blob".into(),
        code_path: "/nowhere/code.zip".into(),
        layers: Vec::new(),
        arn: format!("{ARN}:{version}"),
        requested,
    }
}

fn key(qualifier: &str) -> SetKey {
    SetKey {
        function: "f".into(),
        qualifier: qualifier.into(),
    }
}

fn env(id: u32) -> FakeEnv {
    FakeEnv::idle(id, Instant::now())
}

/// Runs one reconcile round of `key` to the end, the starts giving `results`.
fn round(sets: &mut Sets<FakeEnv>, key: &SetKey, results: Vec<Result<FakeEnv, StartFailure>>) {
    let round = sets.next_round(key).expect("a round to run");
    assert_eq!(round.missing as usize, results.len());
    for result in results {
        assert!(sets.start_finished(key, round.generation, result).is_none());
    }
    assert_eq!(
        sets.round_finished(key, round.generation),
        AfterRound::Again
    );
}

fn status(sets: &Sets<FakeEnv>, qualifier: &str) -> (&'static str, u32, Option<String>) {
    let s = sets.status("f", qualifier).expect("a set");
    (s.status, s.allocated, s.status_reason)
}

#[test]
fn qualifiers_come_from_qualified_arns_only() {
    assert_eq!(
        arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f:live"),
        Some("live")
    );
    assert_eq!(
        arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f:7"),
        Some("7")
    );
    assert_eq!(
        arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f"),
        None
    );
}

#[test]
fn a_set_starts_what_is_missing_and_is_ready_when_all_are_initialised() {
    let mut sets = Sets::default();
    assert!(sets.provision(&key("live"), spec("3", "r", 2)).is_empty());
    assert_eq!(status(&sets, "live"), ("IN_PROGRESS", 0, None));
    assert!(sets.begin_reconcile(&key("live")));
    // One task per set.
    assert!(!sets.begin_reconcile(&key("live")));
    let first = sets.next_round(&key("live")).unwrap();
    assert_eq!(first.missing, 2);
    // Starts under way count: a second round would start nothing.
    assert!(
        sets.start_finished(&key("live"), first.generation, Ok(env(1)))
            .is_none()
    );
    assert_eq!(status(&sets, "live"), ("IN_PROGRESS", 1, None));
    assert!(
        sets.start_finished(&key("live"), first.generation, Ok(env(2)))
            .is_none()
    );
    assert_eq!(status(&sets, "live"), ("READY", 2, None));
    assert_eq!(
        sets.round_finished(&key("live"), first.generation),
        AfterRound::Again
    );
    // Complete: the task ends, and a later one may start.
    assert!(sets.next_round(&key("live")).is_none());
    assert!(sets.begin_reconcile(&key("live")));
}

#[test]
fn a_failed_init_fails_the_set_until_it_is_provisioned_again() {
    let mut sets = Sets::default();
    sets.provision(&key("3"), spec("3", "r", 2));
    round(
        &mut sets,
        &key("3"),
        vec![Ok(env(1)), Err(StartFailure::Init)],
    );
    assert_eq!(
        status(&sets, "3"),
        ("FAILED", 1, Some("FUNCTION_ERROR_INIT_FAILURE".into()))
    );
    // A failed set is not retried by its task...
    assert!(sets.next_round(&key("3")).is_none());
    // ...but provisioning it again (same version) clears the failure and keeps the ready one.
    assert!(sets.provision(&key("3"), spec("3", "r", 2)).is_empty());
    assert_eq!(status(&sets, "3"), ("IN_PROGRESS", 1, None));
    assert_eq!(sets.next_round(&key("3")).map(|r| r.missing), Some(1));
}

#[test]
fn start_failures_name_their_reason() {
    let reasons = [
        (StartFailure::Init, "FUNCTION_ERROR_INIT_FAILURE"),
        (
            StartFailure::Platform("no cgroups".into()),
            "Provisioned environments could not be started: no cgroups",
        ),
        (
            StartFailure::Aborted("task 7 panicked".into()),
            "task 7 panicked",
        ),
    ];
    for (failure, reason) in reasons {
        assert_eq!(failure.status_reason(), reason);
    }
}

#[test]
fn an_invocation_takes_from_the_set_it_names_else_from_its_versions() {
    let mut sets = Sets::default();
    sets.provision(&key("live"), spec("3", "r", 1));
    sets.provision(&key("3"), spec("3", "r", 1));
    round(&mut sets, &key("live"), vec![Ok(env(1))]);
    round(&mut sets, &key("3"), vec![Ok(env(2))]);
    let c = config("f", "3", "r");
    // Through the alias: the alias's environment.
    let taken = sets.take(&c, &format!("{ARN}:live"));
    let (got, lent) = taken.lent.expect("one is ready");
    assert_eq!(got.id, 1);
    // The alias's is busy now: the next one through it gets the version's.
    let (got2, _) = sets.take(&c, &format!("{ARN}:live")).lent.unwrap();
    assert_eq!(got2.id, 2);
    // Busy environments are still allocated.
    assert_eq!(status(&sets, "live"), ("READY", 1, None));
    // All busy: nothing (the invocation spills over to the on-demand pool).
    assert!(sets.take(&c, ARN).lent.is_none());
    let back = sets.give_back(&lent, got, true);
    assert!(back.destroy.is_none() && !back.refill);
    assert_eq!(
        sets.take(&c, &format!("{ARN}:live"))
            .lent
            .map(|(e, _)| e.id),
        Some(1)
    );
}

#[test]
fn an_alias_set_serves_invocations_of_its_version_too() {
    let mut sets = Sets::default();
    sets.provision(&key("live"), spec("3", "r", 1));
    round(&mut sets, &key("live"), vec![Ok(env(1))]);
    // Through the version, by number: the alias's environment (it runs version 3).
    let (got, lent) = sets
        .take(&config("f", "3", "r"), &format!("{ARN}:3"))
        .lent
        .expect("the alias's environment serves its version");
    assert_eq!(got.id, 1);
    assert_eq!(lent.key, key("live"), "given back to the alias's set");
    // Busy: the next one spills over.
    assert!(
        sets.take(&config("f", "3", "r"), &format!("{ARN}:3"))
            .lent
            .is_none()
    );
    sets.give_back(&lent, got, true);
    // Another version, or $LATEST, is not served by it.
    for (c, arn) in [
        (config("f", "4", "r"), format!("{ARN}:4")),
        (config("f", "$LATEST", "r"), ARN.to_string()),
    ] {
        assert!(sets.take(&c, &arn).lent.is_none());
    }
}

#[test]
fn only_a_set_of_exactly_this_configuration_serves() {
    let mut sets = Sets::default();
    sets.provision(&key("live"), spec("3", "r", 1));
    round(&mut sets, &key("live"), vec![Ok(env(1))]);
    // The alias moved to version 4 meanwhile, or version 3 changed revision.
    for c in [config("f", "4", "r"), config("f", "3", "r2")] {
        assert!(sets.take(&c, &format!("{ARN}:live")).lent.is_none());
    }
    assert!(sets.take(&config("g", "3", "r"), ARN).lent.is_none());
}

#[test]
fn environments_that_died_while_ready_are_drained_and_refilled() {
    let mut sets = Sets::default();
    sets.provision(&key("3"), spec("3", "r", 2));
    let mut dead = env(2);
    dead.exited = true;
    round(&mut sets, &key("3"), vec![Ok(env(1)), Ok(dead)]);
    let taken = sets.take(&config("f", "3", "r"), ARN);
    assert_eq!(taken.lent.map(|(e, _)| e.id), Some(1));
    assert_eq!(taken.dead.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
    assert_eq!(taken.refill, [key("3")]);
}

#[test]
fn a_reset_environment_is_destroyed_and_replaced() {
    let mut sets = Sets::default();
    sets.provision(&key("3"), spec("3", "r", 1));
    round(&mut sets, &key("3"), vec![Ok(env(1))]);
    let (got, lent) = sets.take(&config("f", "3", "r"), ARN).lent.unwrap();
    let back = sets.give_back(&lent, got, false);
    assert_eq!(back.destroy.map(|e| e.id), Some(1));
    assert!(back.refill);
    assert_eq!(sets.next_round(&key("3")).map(|r| r.missing), Some(1));
}

#[test]
fn fewer_requested_gives_back_idle_extras() {
    let mut sets = Sets::default();
    sets.provision(&key("3"), spec("3", "r", 3));
    round(
        &mut sets,
        &key("3"),
        vec![Ok(env(1)), Ok(env(2)), Ok(env(3))],
    );
    let (busy, lent) = sets.take(&config("f", "3", "r"), ARN).lent.unwrap();
    let extras = sets.provision(&key("3"), spec("3", "r", 1));
    // Two idle ones go now; the busy one stays allocated...
    assert_eq!(extras.len(), 2);
    assert_eq!(status(&sets, "3"), ("READY", 1, None));
    // ...and is kept when it comes back (one is wanted).
    assert!(sets.give_back(&lent, busy, true).destroy.is_none());
    assert_eq!(sets.total_requested("f"), 1);
}

#[test]
fn a_changed_version_replaces_the_set_and_discards_the_old_generations() {
    let mut sets = Sets::default();
    sets.provision(&key("live"), spec("3", "r", 2));
    let old = sets.next_round(&key("live")).unwrap();
    assert!(
        sets.start_finished(&key("live"), old.generation, Ok(env(1)))
            .is_none()
    );
    let through_alias = format!("{ARN}:live");
    let (lent_env, lent) = sets
        .take(&config("f", "3", "r"), &through_alias)
        .lent
        .unwrap();
    // The alias now points to version 4.
    assert!(sets.provision(&key("live"), spec("4", "r", 2)).is_empty());
    assert_eq!(status(&sets, "live"), ("IN_PROGRESS", 0, None));
    // The old round's late start and the old lent environment are not wanted.
    let late = sets.start_finished(&key("live"), old.generation, Ok(env(2)));
    assert_eq!(late.map(|e| e.id), Some(2));
    let back = sets.give_back(&lent, lent_env, true);
    assert_eq!(back.destroy.map(|e| e.id), Some(1));
    assert!(!back.refill);
    // The old task hands over to the new generation's.
    assert_eq!(
        sets.round_finished(&key("live"), old.generation),
        AfterRound::Handoff
    );
    assert_eq!(sets.next_round(&key("live")).map(|r| r.missing), Some(2));
}

#[test]
fn removing_sets_returns_their_ready_environments_and_the_new_totals() {
    let mut sets = Sets::default();
    sets.provision(&key("live"), spec("3", "r", 1));
    sets.provision(&key("3"), spec("3", "r", 2));
    round(&mut sets, &key("live"), vec![Ok(env(1))]);
    assert_eq!(sets.total_requested("f"), 3);
    assert_eq!(sets.allocated_per_function().get("f"), Some(&1));
    assert_eq!(sets.remove(&key("live")).len(), 1);
    assert_eq!(sets.total_requested("f"), 2);
    assert!(sets.status("f", "live").is_none());
    // A round of a removed set ends.
    assert!(sets.next_round(&key("live")).is_none());
    assert_eq!(sets.round_finished(&key("live"), 1), AfterRound::Gone);
    round(&mut sets, &key("3"), vec![Ok(env(2)), Ok(env(3))]);
    assert_eq!(sets.remove_function("f").len(), 2);
    assert_eq!(sets.total_requested("f"), 0);
    assert!(sets.allocated_per_function().is_empty());

    sets.provision(&key("3"), spec("3", "r", 1));
    round(&mut sets, &key("3"), vec![Ok(env(4))]);
    assert_eq!(sets.remove_all().len(), 1);
}

fn provisioner() -> (
    Arc<Provisioner<FakeLauncher>>,
    Arc<FakeLauncher>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogStore::open(dir.path().to_path_buf(), 1 << 20).unwrap();
    let launcher = FakeLauncher::new();
    (Provisioner::new(launcher.clone(), logs), launcher, dir)
}

#[tokio::test]
async fn the_reconcile_task_initialises_the_set_with_provisioned_inits_and_logs_them() {
    let (p, launcher, _dir) = provisioner();
    assert_eq!(p.provision("3", spec("3", "r", 2)), 2);
    until("ready", || p.status("f", "3").unwrap().status == "READY").await;
    assert_eq!(
        launcher.journal.cold_starts(),
        [InitType::Provisioned, InitType::Provisioned]
    );
    // The init's output is in the function's log, under the environment's stream.
    p.logs.flush().await;
    let records = p
        .logs
        .read("f", 0, crate::logs::PAGE_BYTES)
        .unwrap()
        .records;
    let mut lines: Vec<(String, String)> =
        records.into_iter().map(|r| (r.stream, r.message)).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            ("stream-1".to_string(), "init of f 1".to_string()),
            ("stream-2".to_string(), "init of f 2".to_string())
        ]
    );
    // Taken: its first REPORT carries no Init Duration (the init was not the invocation's).
    let (mut env, _lent) = p.take(&config("f", "3", "r"), ARN).unwrap();
    assert_eq!(env.take_init_duration(), None);
}

#[tokio::test]
async fn an_init_failure_fails_the_set_and_logs_the_init() {
    let (p, launcher, _dir) = provisioner();
    launcher.prepare(Prepared::Fail(ColdStartError::Init(InitFailure::Exited {
        how: "exit status 1".into(),
    })));
    p.provision("3", spec("3", "r", 1));
    until("failed", || p.status("f", "3").unwrap().status == "FAILED").await;
    let s = p.status("f", "3").unwrap();
    assert_eq!(
        s.status_reason.as_deref(),
        Some("FUNCTION_ERROR_INIT_FAILURE")
    );
    p.logs.flush().await;
    let records = p
        .logs
        .read("f", 0, crate::logs::PAGE_BYTES)
        .unwrap()
        .records;
    assert_eq!(records.len(), 1);
    assert!(records[0].stream.contains("/[3]"), "{}", records[0].stream);
    assert_eq!(records[0].message, "init of f 1");
}

#[tokio::test]
async fn a_runtime_that_cannot_run_is_an_init_failure_and_other_errors_say_what_failed() {
    let (p, launcher, _dir) = provisioner();
    launcher.prepare(Prepared::Fail(ColdStartError::Platform(
        InvokeError::Runtime {
            runtime: "python3.12".into(),
            reason: "no Python".into(),
        },
    )));
    p.provision("3", spec("3", "r", 1));
    until("failed", || p.status("f", "3").unwrap().status == "FAILED").await;
    assert_eq!(
        p.status("f", "3").unwrap().status_reason.as_deref(),
        Some("FUNCTION_ERROR_INIT_FAILURE")
    );

    launcher.prepare(Prepared::Fail(ColdStartError::Platform(
        InvokeError::Unavailable("out of pids".into()),
    )));
    p.provision("live", spec("3", "r", 1));
    until("failed", || {
        p.status("f", "live").unwrap().status == "FAILED"
    })
    .await;
    assert_eq!(
        p.status("f", "live").unwrap().status_reason.as_deref(),
        Some(
            "Provisioned environments could not be started: execution environments are unavailable: out of pids"
        )
    );
}

#[tokio::test]
async fn a_reset_environment_is_replaced_by_a_fresh_one() {
    let (p, launcher, _dir) = provisioner();
    p.provision("3", spec("3", "r", 1));
    until("ready", || p.status("f", "3").unwrap().status == "READY").await;
    let (env, lent) = p.take(&config("f", "3", "r"), ARN).unwrap();
    assert_eq!(env.id, 1);
    p.give_back(lent, env, false);
    until("replaced", || launcher.journal.cold_starts().len() == 2).await;
    until("ready again", || {
        p.status("f", "3").unwrap().status == "READY"
    })
    .await;
    until("destroyed", || launcher.journal.destroyed() == [1]).await;
    let (env, _) = p.take(&config("f", "3", "r"), ARN).unwrap();
    assert_eq!(env.id, 2);
}
