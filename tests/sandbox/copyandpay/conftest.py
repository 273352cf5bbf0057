"""The COPYandPAY sandbox server of tests/gateways/copyandpay, shared by these tests."""

from tests.gateways.copyandpay.conftest import _sandbox_server  # noqa: F401
