//! End-to-end tests of the `skiff` binary: the real process (`process`), the real kubectl
//! (`kubectl`) and kube-rs API tests (`api`), all in one test binary.

mod api;
mod kubectl;
mod process;
mod support;
