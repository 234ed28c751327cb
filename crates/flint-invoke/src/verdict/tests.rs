use super::*;
use serde_json::Value;

const ID: &str = "req-1";

fn measured() -> Measured {
    Measured {
        duration: Duration::from_micros(12_345),
        memory_size_mb: 128,
        max_memory_used_mb: 36,
        init_duration: None,
    }
}

fn failure(v: &Verdict) -> &Failure {
    match v {
        Verdict::Failure(f) => f,
        Verdict::Success { .. } => panic!("expected a failure, got {v:?}"),
    }
}

/// The platform body's `errorType` and `errorMessage`.
fn platform_body(v: &Verdict) -> (String, String) {
    let body: Value = serde_json::from_slice(&failure(v).body).expect("a JSON body");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    (
        body["errorType"].as_str().unwrap().to_string(),
        body["errorMessage"].as_str().unwrap().to_string(),
    )
}

/// The REPORT line's fields after `Max Memory Used`.
fn report_tail(v: &Verdict) -> String {
    let line = v.report_line(ID, &measured());
    let prefix = "REPORT RequestId: req-1\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\t";
    assert!(line.starts_with(prefix), "{line}");
    line[prefix.len()..].to_string()
}

fn run(state: RunState) -> Verdict {
    let RunEnd::Ended(ending) = Ending::of_run(state) else {
        panic!("not streamed");
    };
    Verdict::of(ending, ID, Duration::from_secs(3))
}

#[test]
fn a_response_is_the_body_with_its_content_type_and_keeps_the_environment() {
    let v = run(RunState::Finished(InvokeOutcome::Response {
        body: Bytes::from_static(b"{\"ok\":1}"),
        content_type: Some("application/json".into()),
    }));
    assert!(v.keeps_environment());
    assert_eq!(report_tail(&v), "");
    let out = v.into_output("$LATEST".into(), None);
    assert_eq!(
        (
            &out.body[..],
            out.function_error,
            out.content_type.as_deref()
        ),
        (&b"{\"ok\":1}"[..], false, Some("application/json"))
    );
    assert_eq!(out.executed_version, "$LATEST");
}

#[test]
fn a_function_error_is_the_runtimes_body_verbatim_and_keeps_the_environment() {
    let v = run(RunState::Finished(InvokeOutcome::FunctionError {
        error_type: "Unhandled".into(),
        body: Bytes::from_static(b"not even json"),
        content_type: Some("text/plain".into()),
        xray_error_cause: None,
    }));
    let f = failure(&v);
    assert_eq!(
        (f.kind, f.error_type.as_str()),
        (FailureKind::Function, "Unhandled")
    );
    assert!(v.keeps_environment());
    assert_eq!(report_tail(&v), "Status: error\tError Type: Unhandled\t");
    let out = v.into_output("1".into(), Some("tail".into()));
    assert_eq!(&out.body[..], b"not even json");
    assert!(out.function_error);
    assert_eq!(out.content_type, None);
    assert_eq!(out.log_result.as_deref(), Some("tail"));
}

#[test]
fn a_timeout_is_sandbox_timedout_resets_the_environment_and_reports_status_timeout() {
    let v = run(RunState::TimedOut);
    assert_eq!(failure(&v).kind, FailureKind::Timeout);
    assert_eq!(
        platform_body(&v),
        (
            "Sandbox.Timedout".into(),
            "RequestId: req-1 Error: Task timed out after 3.00 seconds".into()
        )
    );
    assert!(!v.keeps_environment());
    // An invocation's timeout names no error type.
    assert_eq!(report_tail(&v), "Status: timeout\t");
}

#[test]
fn an_exit_is_runtime_exiterror_with_how_it_exited() {
    let v = run(RunState::Exited {
        how: "exit status 1".into(),
        oom: false,
    });
    assert_eq!(failure(&v).kind, FailureKind::ExitError);
    assert_eq!(
        platform_body(&v),
        (
            "Runtime.ExitError".into(),
            "RequestId: req-1 Error: Runtime exited with error: exit status 1".into()
        )
    );
    assert!(!v.keeps_environment());
    assert_eq!(
        report_tail(&v),
        "Status: error\tError Type: Runtime.ExitError\t"
    );
}

#[test]
fn an_exit_without_a_reason_says_so() {
    let v = run(RunState::Exited {
        how: String::new(),
        oom: false,
    });
    assert_eq!(
        platform_body(&v).1,
        "RequestId: req-1 Error: Runtime exited without providing a reason"
    );
}

#[test]
fn an_out_of_memory_kill_is_runtime_outofmemory() {
    let v = run(RunState::Exited {
        how: "signal: killed".into(),
        oom: true,
    });
    assert_eq!(failure(&v).kind, FailureKind::OutOfMemory);
    assert_eq!(
        platform_body(&v),
        (
            "Runtime.OutOfMemory".into(),
            "RequestId: req-1 Error: Runtime exited with error: signal: killed".into()
        )
    );
    assert!(!v.keeps_environment());
    assert_eq!(
        report_tail(&v),
        "Status: error\tError Type: Runtime.OutOfMemory\t"
    );
}

#[test]
fn responses_that_break_the_runtime_api_reset_the_environment() {
    let cases = [
        (
            InvokeOutcome::ResponseTooLarge {
                size: 7_000_000,
                limit: 6_291_556,
            },
            "Function.ResponseSizeTooLarge",
        ),
        (
            InvokeOutcome::InvalidResponseMode,
            "Runtime.InvalidResponseModeHeader",
        ),
        (
            InvokeOutcome::TruncatedResponse,
            "Runtime.TruncatedResponse",
        ),
    ];
    for (outcome, error_type) in cases {
        let (_, message) = outcome.platform_error().unwrap();
        let v = run(RunState::Finished(outcome));
        assert_eq!(failure(&v).kind, FailureKind::InvalidResponse);
        assert_eq!(platform_body(&v), (error_type.to_string(), message));
        assert!(!v.keeps_environment());
        assert_eq!(
            report_tail(&v),
            format!("Status: error\tError Type: {error_type}\t")
        );
    }
}

#[test]
fn a_mid_stream_error_is_a_function_error_with_lambdas_body_when_it_sent_none() {
    let v = Verdict::of(
        Ending::of_stream_error(StreamError::Function {
            error_type: "Stream.Broke".into(),
            body: Bytes::new(),
        }),
        ID,
        Duration::from_secs(3),
    );
    assert_eq!(failure(&v).kind, FailureKind::Function);
    assert_eq!(
        platform_body(&v),
        (
            "Stream.Broke".into(),
            "The function reported an error mid-stream".into()
        )
    );
    assert!(v.keeps_environment());
    assert_eq!(report_tail(&v), "Status: error\tError Type: Stream.Broke\t");

    let with_body = Verdict::of(
        Ending::of_stream_error(StreamError::Function {
            error_type: "Stream.Broke".into(),
            body: Bytes::from_static(b"{\"mine\":true}"),
        }),
        ID,
        Duration::from_secs(3),
    );
    assert_eq!(&failure(&with_body).body[..], b"{\"mine\":true}");
}

#[test]
fn a_stream_too_large_or_cut_off_resets_the_environment() {
    let cases = [
        (
            StreamError::TooLarge { limit: 20 },
            "Function.ResponseSizeTooLarge",
            "Response payload size exceeded maximum allowed payload size (20 bytes).",
        ),
        (
            StreamError::Truncated,
            "Runtime.TruncatedResponse",
            "The runtime's streamed response was cut off",
        ),
    ];
    for (e, error_type, message) in cases {
        let v = Verdict::of(Ending::of_stream_error(e), ID, Duration::from_secs(3));
        assert_eq!(failure(&v).kind, FailureKind::InvalidResponse);
        assert_eq!(platform_body(&v), (error_type.into(), message.into()));
        assert!(!v.keeps_environment());
    }
}

#[test]
fn a_reported_init_error_is_the_runtimes_body() {
    let v = Verdict::of_init(
        InitFailure::Reported {
            error_type: "Runtime.ImportModuleError".into(),
            body: Bytes::from_static(b"{\"errorType\":\"Runtime.ImportModuleError\"}"),
        },
        ID,
    );
    let f = failure(&v);
    assert_eq!(f.kind, FailureKind::InitError);
    assert_eq!(
        &f.body[..],
        b"{\"errorType\":\"Runtime.ImportModuleError\"}"
    );
    assert!(!v.keeps_environment());
    assert_eq!(
        report_tail(&v),
        "Status: error\tError Type: Runtime.ImportModuleError\t"
    );
    assert!(v.into_output("1".into(), None).function_error);
}

#[test]
fn an_exit_during_init_is_runtime_exiterror() {
    let v = Verdict::of_init(
        InitFailure::Exited {
            how: "exit status 127".into(),
        },
        ID,
    );
    assert_eq!(failure(&v).kind, FailureKind::ExitError);
    assert_eq!(
        platform_body(&v),
        (
            "Runtime.ExitError".into(),
            "RequestId: req-1 Error: Runtime exited with error: exit status 127".into()
        )
    );
}

#[test]
fn an_init_timeout_reports_timeout_with_its_error_type() {
    let v = Verdict::of_init(
        InitFailure::TimedOut {
            limit: Duration::from_secs(10),
        },
        ID,
    );
    assert_eq!(failure(&v).kind, FailureKind::InitTimeout);
    assert_eq!(
        platform_body(&v),
        (
            "Sandbox.Timedout".into(),
            "RequestId: req-1 Error: Task timed out after 10.00 seconds".into()
        )
    );
    assert_eq!(
        report_tail(&v),
        "Status: timeout\tError Type: Sandbox.Timedout\t"
    );
}

#[test]
fn an_invalid_entrypoint_says_why_exec_failed() {
    let missing = Verdict::of_init(
        InitFailure::InvalidEntrypoint(InvalidEntrypoint::NoBootstrap),
        ID,
    );
    assert_eq!(failure(&missing).kind, FailureKind::InvalidEntrypoint);
    assert_eq!(
        platform_body(&missing),
        (
            "Runtime.InvalidEntrypoint".into(),
            "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]".into()
        )
    );
    assert_eq!(
        report_tail(&missing),
        "Status: error\tError Type: Runtime.InvalidEntrypoint\t"
    );
    let denied = Verdict::of_init(
        InitFailure::InvalidEntrypoint(InvalidEntrypoint::CannotExec {
            path: "/var/task/wrap.sh".into(),
            why: "permission denied",
        }),
        ID,
    );
    assert_eq!(
        platform_body(&denied).1,
        "RequestId: req-1 Error: fork/exec /var/task/wrap.sh: permission denied"
    );
}

#[test]
fn the_report_line_carries_the_init_duration_of_a_first_invocation() {
    let v = run(RunState::TimedOut);
    let first = Measured {
        init_duration: Some(Duration::from_micros(110_104)),
        ..measured()
    };
    let line = v.report_line(ID, &first);
    // Billed: the invocation's 13 ms and the init's 111 ms.
    assert!(line.contains("\tBilled Duration: 124 ms\t"), "{line}");
    assert!(
        line.ends_with("Max Memory Used: 36 MB\tInit Duration: 110.10 ms\tStatus: timeout\t"),
        "{line}"
    );
}
