//! Admission plugins the binary hands the API server, as kube-apiserver runs admission
//! webhooks: they see an object about to be created after the built-in plugins (defaulting,
//! ServiceAccount, Priority) and before validation, may change it, or refuse it.
//!
//! EKS runs Fargate's pod mutation this way (the `eks-fargate` mutating webhook); skiff's
//! `eks` crate implements it as a plugin.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::ApiError;

/// What is being created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateRequest<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// Resource (plural).
    pub resource: &'a str,
    /// Namespace of the object (none for cluster-scoped resources).
    pub namespace: Option<&'a str>,
    /// Whether the request is a dry run (plugins must then have no side effects).
    pub dry_run: bool,
}

/// A boxed future, as plugins return.
pub type AdmissionFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 'a>>;

/// One admission plugin.
pub trait AdmissionPlugin: Send + Sync {
    /// The plugin's name (a webhook's name, as refusals quote it).
    fn name(&self) -> &str;
    /// Admits (and may mutate) `obj`, about to be created; an error refuses the request.
    fn admit_create<'a>(
        &'a self,
        request: CreateRequest<'a>,
        obj: &'a mut Value,
    ) -> AdmissionFuture<'a>;
}
