"""The Invoke black-box suite (a package, so that its conftest does not take the
module name `conftest` from tests/blackbox when both run in one pytest session)."""
