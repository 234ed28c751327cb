//! The executor the event queue runs queued events through: each attempt is one
//! [`Dispatcher`] invocation under the event's request id, its answer turned into the
//! queue's [`Attempt`]. Wiring between `flint-events` and the dispatch, not HTTP.

use crate::blocking::on_blocking_pool;
use crate::dispatch::{Call, DispatchError, Dispatcher, HostCannotRun};
use bytes::Bytes;
use flint_control::{ControlError, ControlPlane};
use flint_events::decide::{Outcome, Policy};
use flint_events::{
    Attempt, BoxFuture, Executor, ExecutorError, LastAttempt, LocalFunction, QueuedEvent, Settings,
};
use flint_invoke::{InvokeError, Invoker};
use flint_types::{ApiError, FunctionRef, Qualifier};
use std::sync::Arc;

/// Runs queued events on this server.
pub struct ServerExecutor {
    control: Arc<ControlPlane>,
    dispatcher: Dispatcher,
}

impl ServerExecutor {
    pub fn new(control: Arc<ControlPlane>, invoker: Result<Arc<Invoker>, HostCannotRun>) -> Self {
        Self {
            dispatcher: Dispatcher::new(control.clone(), invoker),
            control,
        }
    }
}

fn event_ref(ev: &QueuedEvent) -> Result<FunctionRef, ApiError> {
    Ok(FunctionRef {
        name: ev.function.clone(),
        qualifier: ev.qualifier.as_deref().map(Qualifier::parse).transpose()?,
    })
}

fn service_error(why: String) -> Attempt {
    tracing::warn!(error = %why, "an asynchronous event could not run; it will be retried");
    Attempt {
        outcome: Outcome::ServiceError,
        last: None,
    }
}

/// The queue's view of one attempt's answer.
fn attempt(result: Result<flint_invoke::InvokeOutput, DispatchError>) -> Attempt {
    match result {
        Ok(out) => Attempt {
            outcome: if out.function_error {
                Outcome::FunctionError
            } else {
                Outcome::Success
            },
            last: Some(LastAttempt {
                status_code: 200,
                executed_version: Some(out.executed_version),
                function_error: out.function_error,
                response: Some(String::from_utf8_lossy(&out.body).into_owned()),
            }),
        },
        Err(DispatchError::Invoke(InvokeError::Throttled { .. })) => Attempt {
            outcome: Outcome::Throttled,
            last: Some(LastAttempt {
                status_code: 429,
                executed_version: None,
                function_error: false,
                response: None,
            }),
        },
        Err(DispatchError::RecursiveLoop(name)) => {
            tracing::warn!(function = %name, "an asynchronous event was stopped in a recursive loop; it goes to its failure destination");
            Attempt {
                outcome: Outcome::Stopped,
                last: Some(LastAttempt {
                    status_code: 400,
                    executed_version: None,
                    function_error: false,
                    response: None,
                }),
            }
        }
        Err(e) => service_error(e.to_string()),
    }
}

impl Executor for ServerExecutor {
    fn settings(&self, ev: &QueuedEvent) -> BoxFuture<Result<Option<Settings>, ExecutorError>> {
        let control = self.control.clone();
        let fref = event_ref(ev);
        let qualifier = ev.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        Box::pin(async move {
            let fref = match fref {
                Ok(f) => f,
                Err(_) => return Ok(None),
            };
            let arn = control.resources().qualified_arn(&fref.name, &qualifier);
            let found = on_blocking_pool(&control, move |c| c.async_settings(&fref)).await?;
            match found {
                Ok(s) => Ok(Some(Settings {
                    policy: Policy {
                        max_retries: s.max_retries,
                        max_event_age_ms: s.max_event_age_secs * 1000,
                    },
                    on_success: s.on_success,
                    on_failure: s.on_failure,
                    dead_letter: s.dead_letter,
                    reserved_zero: s.reserved_concurrency == Some(0),
                    function_arn: arn,
                })),
                Err(ControlError::Api(ApiError::ResourceNotFound(_))) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn invoke(&self, ev: &QueuedEvent) -> BoxFuture<Attempt> {
        let dispatcher = self.dispatcher.clone();
        let fref = event_ref(ev);
        let call = Call {
            payload: Bytes::from(ev.payload.clone()),
            request_id: Some(ev.id.clone()),
            trace_header: ev.trace_header.clone(),
            ..Call::default()
        };
        Box::pin(async move {
            let Ok(fref) = fref else {
                return service_error("unparseable qualifier".into());
            };
            let resolved = match dispatcher.resolve(&fref).await {
                Ok(r) => r,
                Err(e) => return service_error(e.to_string()),
            };
            let result = dispatcher.invoke(resolved, call).await;
            // The attempt's log lines are written before its outcome is
            // recorded, so an event marked done always left its log.
            if let Ok(invoker) = dispatcher.invoker() {
                invoker.logs().flush().await;
            }
            attempt(result)
        })
    }

    fn local_function(&self, arn: &str) -> Option<LocalFunction> {
        if !arn.starts_with("arn:") || arn.split(':').nth(2) != Some("lambda") {
            return None;
        }
        let fref = FunctionRef::parse(arn, 256, self.control.resources()).ok()?;
        Some(LocalFunction {
            name: fref.name,
            qualifier: fref.qualifier.map(|q| q.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flint_invoke::InvokeOutput;

    fn output(function_error: bool) -> InvokeOutput {
        InvokeOutput {
            body: Bytes::from_static(b"{\"ok\":1}"),
            function_error,
            executed_version: "3".into(),
            log_result: None,
            content_type: None,
        }
    }

    #[test]
    fn an_answer_is_a_success_or_a_function_error_with_its_response() {
        let ok = attempt(Ok(output(false)));
        assert_eq!(ok.outcome, Outcome::Success);
        let last = ok.last.expect("a success records its response");
        assert_eq!(last.status_code, 200);
        assert_eq!(last.executed_version.as_deref(), Some("3"));
        assert_eq!(last.response.as_deref(), Some("{\"ok\":1}"));
        assert!(!last.function_error);

        let failed = attempt(Ok(output(true)));
        assert_eq!(failed.outcome, Outcome::FunctionError);
        assert!(failed.last.expect("recorded").function_error);
    }

    #[test]
    fn a_throttle_is_retried_as_a_throttle_and_anything_else_as_a_service_error() {
        let throttled = attempt(Err(DispatchError::Invoke(InvokeError::Throttled {
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
        })));
        assert_eq!(throttled.outcome, Outcome::Throttled);
        assert_eq!(throttled.last.expect("recorded").status_code, 429);

        for e in [
            DispatchError::HostCannotRun(HostCannotRun("no namespaces".into())),
            DispatchError::CodeMissing,
            DispatchError::Invoke(InvokeError::Unavailable("shutting down".into())),
        ] {
            let a = attempt(Err(e));
            assert_eq!(a.outcome, Outcome::ServiceError);
            assert!(a.last.is_none());
        }
    }
}
