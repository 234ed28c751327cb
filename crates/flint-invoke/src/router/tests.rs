use super::*;
use crate::admission::ScalingRate;
use crate::environment::RunState;
use crate::fake::{FakeLauncher, Prepared, config, until};
use base64::Engine;
use bytes::Bytes;
use flint_runtime_api::InvokeOutcome;
use flint_types::model::FunctionConfiguration;
use tokio::sync::Notify;

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

struct Setup {
    router: Arc<Router<FakeLauncher>>,
    launcher: Arc<FakeLauncher>,
    _logs: tempfile::TempDir,
}

fn setup(account_limit: u32, scaling: ScalingRate) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogStore::open(dir.path().to_path_buf(), 1 << 20).unwrap();
    let launcher = FakeLauncher::new();
    let router = Router::new(
        launcher.clone(),
        logs,
        Admission::new(account_limit, scaling),
    );
    Setup {
        router: Arc::new(router),
        launcher,
        _logs: dir,
    }
}

fn request(config: FunctionConfiguration, invoked_arn: &str) -> InvokeRequest {
    InvokeRequest {
        config,
        code_blob: "blob".into(),
        code_path: "/nowhere/code.zip".into(),
        layers: Vec::new(),
        invoked_arn: invoked_arn.into(),
        payload: Bytes::from_static(b"{\"n\":1}"),
        client_context: None,
        tail_logs: true,
        request_id: Some("req-1".into()),
        trace_header: None,
        stream_to: None,
    }
}

fn latest() -> InvokeRequest {
    request(config("f", "$LATEST", "r1"), ARN)
}

/// The invocation's log lines, from `X-Amz-Log-Result`.
fn tail(out: &InvokeOutput) -> Vec<String> {
    let text = base64::engine::general_purpose::STANDARD
        .decode(out.log_result.as_deref().expect("a log tail"))
        .unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn error_type(out: &InvokeOutput) -> String {
    let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
    body["errorType"].as_str().unwrap().to_string()
}

fn in_flight(s: &Setup) -> u32 {
    s.router.admission.lock().in_flight("f")
}

#[tokio::test]
async fn a_warm_environment_serves_the_next_invocation_and_init_is_reported_once() {
    let s = setup(10, ScalingRate::default());
    let first = s.router.invoke(latest()).await.unwrap();
    assert_eq!(&first.body[..], b"{\"n\":1}");
    assert!(!first.function_error);
    assert_eq!(first.executed_version, "$LATEST");
    let lines = tail(&first);
    assert_eq!(
        lines[..4],
        [
            "init of f 1",
            "START RequestId: req-1 Version: $LATEST",
            "output of 1",
            "END RequestId: req-1",
        ]
    );
    assert!(
        lines[4].starts_with("REPORT RequestId: req-1\t"),
        "{}",
        lines[4]
    );
    assert!(
        lines[4].ends_with("Max Memory Used: 42 MB\tInit Duration: 100.00 ms\t"),
        "{}",
        lines[4]
    );
    assert_eq!(s.router.pool.idle(), 1);

    let second = s.router.invoke(latest()).await.unwrap();
    let report = tail(&second).pop().unwrap();
    assert!(report.ends_with("Max Memory Used: 42 MB\t"), "{report}");
    assert_eq!(s.launcher.journal.cold_starts(), [InitType::OnDemand]);
    assert_eq!(s.launcher.journal.invoked(), [1, 1]);
    assert_eq!(in_flight(&s), 0);
}

#[tokio::test]
async fn a_failed_init_is_the_invocations_error_with_the_inits_log() {
    let s = setup(10, ScalingRate::default());
    s.launcher.prepare(Prepared::Fail(ColdStartError::Init(
        InitFailure::TimedOut {
            limit: Duration::from_secs(10),
        },
    )));
    let out = s.router.invoke(latest()).await.unwrap();
    assert!(out.function_error);
    assert_eq!(error_type(&out), "Sandbox.Timedout");
    let lines = tail(&out);
    assert_eq!(
        lines[..3],
        [
            "init of f 1",
            "START RequestId: req-1 Version: $LATEST",
            "END RequestId: req-1",
        ]
    );
    assert!(
        lines[3]
            .ends_with("Max Memory Used: 0 MB\tStatus: timeout\tError Type: Sandbox.Timedout\t"),
        "{}",
        lines[3]
    );
    assert_eq!(s.router.pool.idle(), 0);
    assert_eq!(in_flight(&s), 0);
    // The next invocation tries a new environment.
    assert!(!s.router.invoke(latest()).await.unwrap().function_error);
    assert_eq!(s.launcher.journal.cold_starts().len(), 2);
}

#[tokio::test]
async fn an_environment_that_could_not_start_is_the_callers_error() {
    let s = setup(10, ScalingRate::default());
    s.launcher.prepare(Prepared::Fail(ColdStartError::Platform(
        InvokeError::Unavailable("no cgroups".into()),
    )));
    let err = s.router.invoke(latest()).await.unwrap_err();
    assert!(matches!(err, InvokeError::Unavailable(_)), "{err:?}");
    assert_eq!(in_flight(&s), 0);
}

#[tokio::test]
async fn a_timed_out_environment_is_reset_and_a_function_error_keeps_it() {
    let s = setup(10, ScalingRate::default());
    s.launcher.prepare(Prepared::Env {
        script: vec![RunState::TimedOut],
        hold: None,
    });
    let out = s.router.invoke(latest()).await.unwrap();
    assert_eq!(error_type(&out), "Sandbox.Timedout");
    assert!(tail(&out).pop().unwrap().ends_with("Status: timeout\t"));
    until("destroyed", || s.launcher.journal.destroyed() == [1]).await;
    assert_eq!(s.router.pool.idle(), 0);

    s.launcher.prepare(Prepared::Env {
        script: vec![RunState::Finished(InvokeOutcome::FunctionError {
            error_type: "Unhandled".into(),
            body: Bytes::from_static(b"{\"errorMessage\":\"boom\"}"),
            content_type: None,
            xray_error_cause: None,
        })],
        hold: None,
    });
    let out = s.router.invoke(latest()).await.unwrap();
    assert!(out.function_error);
    assert_eq!(&out.body[..], b"{\"errorMessage\":\"boom\"}");
    assert_eq!(s.router.pool.idle(), 1);
    assert_eq!(s.launcher.journal.invoked(), [1, 2]);
}

#[tokio::test]
async fn a_new_revision_drains_the_old_environments() {
    let s = setup(10, ScalingRate::default());
    s.router.invoke(latest()).await.unwrap();
    let updated = request(config("f", "$LATEST", "r2"), ARN);
    s.router.invoke(updated).await.unwrap();
    until("drained", || s.launcher.journal.destroyed() == [1]).await;
    assert_eq!(s.launcher.journal.invoked(), [1, 2]);
    assert_eq!(s.router.pool.idle(), 1);
}

#[tokio::test]
async fn throttled_invocations_start_nothing_and_release_their_admission() {
    let full = setup(0, ScalingRate::default());
    let err = full.router.invoke(latest()).await.unwrap_err();
    assert!(matches!(
        err,
        InvokeError::Throttled {
            reason: "ConcurrentInvocationLimitExceeded"
        }
    ));
    assert!(full.launcher.journal.cold_starts().is_empty());

    let reserved = setup(10, ScalingRate::default());
    reserved.router.admission.lock().set_reserved("f", Some(0));
    let err = reserved.router.invoke(latest()).await.unwrap_err();
    assert!(matches!(
        err,
        InvokeError::Throttled {
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded"
        }
    ));

    // One new environment per hour: a reset one cannot be replaced at once.
    let slow = setup(
        10,
        ScalingRate {
            environments: 1,
            per: Duration::from_secs(3600),
        },
    );
    slow.launcher.prepare(Prepared::Env {
        script: vec![RunState::TimedOut],
        hold: None,
    });
    slow.router.invoke(latest()).await.unwrap();
    let err = slow.router.invoke(latest()).await.unwrap_err();
    assert!(matches!(err, InvokeError::Throttled { .. }), "{err:?}");
    assert_eq!(slow.launcher.journal.cold_starts().len(), 1);
    assert_eq!(in_flight(&slow), 0);
}

fn provision_spec(version: &str, requested: u32) -> ProvisionSpec {
    ProvisionSpec {
        config: config("f", version, "r1"),
        code_blob: "blob".into(),
        code_path: "/nowhere/code.zip".into(),
        layers: Vec::new(),
        arn: format!("{ARN}:{version}"),
        requested,
    }
}

#[tokio::test]
async fn provisioned_environments_serve_first_and_busy_ones_spill_over_to_on_demand() {
    let s = setup(10, ScalingRate::default());
    let release = Arc::new(Notify::new());
    s.launcher.prepare(Prepared::Env {
        script: Vec::new(),
        hold: Some(release.clone()),
    });
    s.router.provision("3", provision_spec("3", 1));
    // Admission allocates the provisioned concurrency out of the account.
    let view = s.router.concurrency();
    assert_eq!(view.unreserved_capacity, 9);
    assert_eq!(view.functions[0].provisioned, 1);
    let router = s.router.clone();
    until("ready", || {
        router.provisioner.status("f", "3").unwrap().status == "READY"
    })
    .await;
    assert_eq!(s.router.concurrency().functions[0].provisioned_ready, 1);

    let router = s.router.clone();
    let held = tokio::spawn(async move {
        let req = request(config("f", "3", "r1"), &format!("{ARN}:3"));
        router.invoke(req).await
    });
    until("the provisioned one is busy", || {
        s.launcher.journal.invoked() == [1]
    })
    .await;
    // Busy: the next invocation spills over to an on-demand cold start.
    let spilled = s
        .router
        .invoke(request(config("f", "3", "r1"), &format!("{ARN}:3")))
        .await
        .unwrap();
    assert!(!spilled.function_error);
    assert_eq!(
        s.launcher.journal.cold_starts(),
        [InitType::Provisioned, InitType::OnDemand]
    );
    release.notify_one();
    let out = held.await.unwrap().unwrap();
    // A provisioned environment's first REPORT has no Init Duration.
    assert!(
        tail(&out)
            .pop()
            .unwrap()
            .ends_with("Max Memory Used: 42 MB\t")
    );
    // Each went back where it came from.
    assert_eq!(s.router.provisioner.status("f", "3").unwrap().allocated, 1);
    assert_eq!(s.router.pool.idle(), 1);
    assert_eq!(in_flight(&s), 0);

    // Unprovisioned: its environment goes, and so does the allocation.
    s.router.unprovision("f", "3").await;
    assert_eq!(s.launcher.journal.destroyed(), [1]);
    assert_eq!(s.router.concurrency().unreserved_capacity, 10);
}

#[tokio::test]
async fn a_deleted_function_loses_its_environments_settings_and_logs() {
    let s = setup(10, ScalingRate::default());
    s.router.invoke(latest()).await.unwrap();
    s.router.provision("3", provision_spec("3", 1));
    let router = s.router.clone();
    until("ready", || {
        router.provisioner.status("f", "3").unwrap().status == "READY"
    })
    .await;
    s.router.admission.lock().set_reserved("f", Some(5));
    s.router.logs.flush().await;
    assert!(
        !s.router
            .logs
            .read("f", 0, crate::logs::PAGE_BYTES)
            .unwrap()
            .records
            .is_empty()
    );

    s.router.drop_function("f").await;
    let mut destroyed = s.launcher.journal.destroyed();
    destroyed.sort();
    assert_eq!(destroyed, [1, 2]);
    assert!(s.router.provisioner.status("f", "3").is_none());
    let view = s.router.concurrency();
    assert!(view.functions.is_empty(), "{view:?}");
    assert_eq!(view.unreserved_capacity, 10);
    s.router.logs.flush().await;
    assert!(
        s.router
            .logs
            .read("f", 0, crate::logs::PAGE_BYTES)
            .unwrap()
            .records
            .is_empty()
    );
}
