//! The spawn helper ("fork server") of flint-sandbox; see `flint_sandbox::helper_main`.
fn main() {
    flint_sandbox::helper_main()
}
