//! Entry points for fuzzers: arbitrary bytes in, every parser and the state machine exercised,
//! invariants asserted. A `cargo fuzz` target is a one-line wrapper around these; the unit tests
//! below run them on pseudo-random input so they also work on stable without a fuzzer.

use hyper::Method;

use crate::error::{Rejection, RuntimeApiError};
use crate::protocol::{Route, normalize_error_type, parse_error_type, parse_response_mode, route};
use crate::state::{NextStep, Phase, Reply, StateMachine};
use crate::types::Invocation;

/// Feeds `data` to the request parsers: the first byte picks the method, the rest is split at
/// the first `\n` into a path and a header value used for every header parser.
pub fn runtime_request(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = match m % 4 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::PUT,
        _ => Method::DELETE,
    };
    let (path, header) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    if let Ok(path) = std::str::from_utf8(path) {
        match route(&method, path) {
            Route::Response { request_id } | Route::Error { request_id } => {
                assert!(!request_id.is_empty() && !request_id.contains('/'));
            }
            _ => {}
        }
    }
    let _ = parse_response_mode(Some(header));
    let raw = parse_error_type(Some(header));
    assert!(!raw.is_empty());
    let normalized = normalize_error_type(&raw);
    assert!(normalized.starts_with("Runtime.") || normalized.starts_with("Function."));
    let _ = crate::body::decode_error_body(header);
}

/// Interprets `data` as a sequence of runtime and invoker operations on a [`StateMachine`] and
/// checks its invariants after each one.
pub fn state_machine(data: &[u8]) {
    let mut m: StateMachine<Invocation> = StateMachine::new();
    let ids = ["a", "b", "c"];
    let ev = |i: u8| Invocation {
        request_id: ids[usize::from(i) % ids.len()].to_owned(),
        ..Invocation::default()
    };
    for &op in data {
        let id = ids[usize::from(op >> 4) % ids.len()];
        match op % 9 {
            0 => match m.on_next() {
                Ok(a) => {
                    if let NextStep::Deliver(e) = a.step {
                        assert_eq!(
                            m.phase(),
                            &Phase::Running {
                                request_id: e.request_id
                            }
                        );
                    } else {
                        assert_eq!(m.phase(), &Phase::Ready);
                    }
                }
                Err(r) => check_rejection(r),
            },
            1 | 2 => {
                let reply = if op % 9 == 1 {
                    Reply::Response
                } else {
                    Reply::Error
                };
                match m.on_reply_start(id, reply) {
                    Ok(()) => assert!(matches!(m.phase(), Phase::Responding { .. })),
                    Err(r) => check_rejection(r),
                }
            }
            3 => {
                let _ = m.on_reply_done(id);
            }
            4 => match m.on_init_error() {
                Ok(_) => assert_eq!(m.phase(), &Phase::InitError),
                Err(r) => check_rejection(r),
            },
            5 => match m.submit(ev(op >> 4)) {
                Ok(Some(e)) => {
                    assert_eq!(
                        m.phase(),
                        &Phase::Running {
                            request_id: e.request_id.clone()
                        }
                    );
                    // half the time the parked /next turns out to be gone
                    if op & 0x80 != 0 {
                        m.undeliver(e);
                    }
                }
                Ok(None) => assert!(m.pending().is_some()),
                Err(RuntimeApiError::Busy { .. } | RuntimeApiError::InitFailed) => {}
                Err(RuntimeApiError::ShutDown) => assert_eq!(m.phase(), &Phase::ShutDown),
                Err(e) => panic!("unexpected submit error {e}"),
            },
            6 => {
                let _ = m.cancel_pending();
            }
            7 => {
                if op & 0x80 != 0 {
                    let _ = m.shutdown();
                } else {
                    let _ = m.reset();
                }
            }
            _ => check_rejection(m.on_restore("RestoreReady")),
        }
        if m.pending().is_some() {
            assert!(
                matches!(m.phase(), Phase::Started | Phase::ResponseSent),
                "event pending in {:?}",
                m.phase()
            );
        }
    }
}

fn check_rejection(r: Rejection) {
    assert!(matches!(r.status().as_u16(), 400 | 403 | 500), "{r:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn request_parsers_on_random_bytes() {
        let mut rnd = xorshift(0x1234_5678_9abc_def1);
        let alphabet =
            b"/2018-06-01/runtime/invocation/next/response/error/init\nstreaming.RFa\xff\x00=";
        for _ in 0..20_000 {
            let len = (rnd() % 64) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rnd();
                    if r.is_multiple_of(3) {
                        r as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            runtime_request(&data);
        }
    }

    #[test]
    fn state_machine_on_random_operation_sequences() {
        let mut rnd = xorshift(0x0fed_cba9_8765_4321);
        for _ in 0..5_000 {
            let len = (rnd() % 40) as usize;
            let data: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            state_machine(&data);
        }
    }
}
