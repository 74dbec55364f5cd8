//! End-to-end tests of the `skiff` binary: the real process (`process`, `bench`), the real kubectl
//! (`kubectl`, `kubectl_workloads`) and kube-rs tests (`api`, `workloads`), all in one test
//! binary.

mod api;
mod bench;
mod eks;
mod kubectl;
mod kubectl_workloads;
mod process;
mod support;
mod workloads;
