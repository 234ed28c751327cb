//! Runtime API parsing and state machine; the oracles live next to the code
//! in `flint_runtime_api::fuzzing` so they stay in step with it.

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        flint_runtime_api::fuzzing::runtime_request(rest);
    } else {
        flint_runtime_api::fuzzing::state_machine(rest);
    }
}
